"""SM2 signing of the envelope: sign(time + appMark + appWord) with our key, checked with its
public half."""

from __future__ import annotations

import secrets

from gmssl import sm2  # type: ignore[import-untyped]


def generate_key_pair() -> tuple[str, str]:
    """A fresh SM2 key pair as hex: (private 64 chars, public 128 chars, uncompressed x‖y)."""
    private = secrets.token_hex(32)
    public = sm2.CryptSM2(private_key=private, public_key="")._kg(
        int(private, 16), sm2.default_ecc_table["g"]
    )
    return private, str(public)


def signed_text(time: str, app_mark: str, app_word: str) -> bytes:
    return f"{time}{app_mark}{app_word}".encode()


class Signer:
    """Signs envelopes. The signed text changes once a second, so one signature serves a second's
    requests: pure-Python SM2 costs ~10 ms per signature, too much per request at 1,000
    ratings/s."""

    def __init__(self, private_key: str, public_key: str, app_mark: str, app_word: str) -> None:
        self._sm2 = sm2.CryptSM2(private_key=private_key, public_key=public_key, mode=1)
        self.app_mark = app_mark
        self._app_word = app_word
        self._last: tuple[str, str] = ("", "")

    def sign(self, time: str) -> str:
        if self._last[0] != time:
            self._last = (
                time,
                str(self._sm2.sign_with_sm3(signed_text(time, self.app_mark, self._app_word))),
            )
        return self._last[1]


class Verifier:
    """The province's side: checks a signature with the sender's public key (used by the
    simulator)."""

    def __init__(self, public_key: str, app_word: str) -> None:
        self._sm2 = sm2.CryptSM2(private_key="", public_key=public_key, mode=1)
        self._app_word = app_word
        self._good: dict[tuple[str, str, str], bool] = {}

    def verify(self, sign: str, time: str, app_mark: str) -> bool:
        key = (sign, time, app_mark)
        known = self._good.get(key)
        if known is not None:
            return known
        try:
            ok = bool(self._sm2.verify_with_sm3(sign, signed_text(time, app_mark, self._app_word)))
        except (ValueError, TypeError, IndexError):
            ok = False
        if len(self._good) > 10_000:
            self._good.clear()
        self._good[key] = ok
        return ok
