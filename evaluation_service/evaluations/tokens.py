"""Signed rating tokens (the QR code and SMS link) and hashed device/integration credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from evaluation_service.kernel.errors import Gone, Unauthenticated


@dataclass(frozen=True)
class RatingClaims:
    record_id: int
    expires_at: datetime
    real_name: bool


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.digest(secret, payload.encode(), "sha256")  # one-shot: the C fast path
    return base64.urlsafe_b64encode(digest[:18]).decode()


def _broken() -> Unauthenticated:
    return Unauthenticated(
        "bad_rating_token",
        "评价链接无效或已被篡改，请重新扫描窗口二维码或使用短信中的链接。",
        "the rating token is malformed or its signature does not match",
        "rating_token",
    )


class RatingTokens:
    """`record.expiry.realname.mac`: short enough for a QR code; any changed byte breaks the mac."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def issue(self, record_id: int, expires_at: datetime, real_name: bool) -> str:
        payload = f"{record_id}.{int(expires_at.timestamp())}.{int(real_name)}"
        return f"{payload}.{_mac(self._secret, payload)}"

    def verify(self, token: str, now: datetime) -> RatingClaims:
        parts = token.split(".")
        if len(parts) != 4 or len(token) > 128:
            raise _broken()
        record, expiry, real_name, mac = parts
        payload = f"{record}.{expiry}.{real_name}"
        if not hmac.compare_digest(mac, _mac(self._secret, payload)):
            raise _broken()
        if not (record.isdigit() and expiry.isdigit() and real_name in ("0", "1")):
            raise _broken()
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
        if now > expires_at:
            raise Gone(
                "rating_window_closed",
                "本次服务的评价期限已过，无法再评价。感谢您的关注。",
                "the rating window for this service record has closed",
            )
        return RatingClaims(int(record), expires_at, real_name == "1")


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """Device keys and integration tokens are 256-bit random values, so one SHA-256 suffices."""
    return hashlib.sha256(key.encode()).hexdigest()
