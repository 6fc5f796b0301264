"""Domain errors shared by every package; the web edge turns each kind into one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """An expected refusal, with a message for the person reading it and one for developers."""

    status = 400

    def __init__(self, code: str, zh: str, en: str, field: str | None = None) -> None:
        super().__init__(en)
        self.code = code
        self.zh = zh
        self.en = en
        self.field = field

    def to_dict(self) -> dict[str, str]:
        body = {"error": self.code, "message": self.zh, "message_en": self.en}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(DomainError):
    status = 422


class Unauthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Gone(DomainError):
    status = 410


class TooManyAttempts(DomainError):
    """Too many failed attempts from one source in a period (guessing a PIN or a 办件编号)."""

    status = 429
