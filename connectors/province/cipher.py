"""SM2 public-key encryption of what we send to the province (its public key; we hold no key).

Library: gmalglib (C), chosen by measurement on this machine (`bench/sm2_cipher.py`): about 1,600
encryptions/s on one core against about 50/s for gmssl (pure Python). gmalglib does not release the
GIL, so the client encrypts a batch off the event loop's thread only to keep the loop responsive.

Ciphertext on the wire: C1‖C3‖C2 (GB/T 32918-4, the default) or C1‖C2‖C3, with C1 as the bare point
x‖y (64 bytes, no leading 04) — the layout gmssl's CryptSM2(mode=1) reads, and what a tester
decrypting with gmssl expects; encoded as lower-case hex (default) or base64.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum

from gmalglib.sm2 import SM2

C1_LENGTH = 64  # the point x‖y, without the 04 marker of an uncompressed point
C3_LENGTH = 32  # SM3 digest
UNCOMPRESSED = b"\x04"


class CipherMode(StrEnum):
    c1c3c2 = "c1c3c2"
    c1c2c3 = "c1c2c3"


class CipherEncoding(StrEnum):
    hex = "hex"
    base64 = "base64"


def public_key_bytes(public_key: str) -> bytes:
    """The uncompressed point (04‖x‖y) of a hex public key given with or without its 04 prefix.
    Raises ValueError with a reason."""
    text = public_key.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError("not hexadecimal") from None
    if len(raw) == C1_LENGTH:
        raw = UNCOMPRESSED + raw
    if len(raw) != C1_LENGTH + 1 or raw[:1] != UNCOMPRESSED:
        raise ValueError(
            f"expected 64 bytes (128 hex digits), or 65 starting with 04; got {len(raw)} bytes"
        )
    if not SM2.is_pk_valid(raw):
        raise ValueError("not a point of the SM2 curve")
    return raw


def _encode(data: bytes, encoding: CipherEncoding) -> str:
    if encoding is CipherEncoding.base64:
        return base64.b64encode(data).decode("ascii")
    return data.hex()


def _decode(text: str, encoding: CipherEncoding) -> bytes:
    if encoding is CipherEncoding.base64:
        return base64.b64decode(text, validate=True)
    return bytes.fromhex(text)


class Sm2Cipher:
    """Encrypts with the province's public key in the configured layout and encoding."""

    def __init__(
        self,
        public_key: str,
        mode: CipherMode = CipherMode.c1c3c2,
        encoding: CipherEncoding = CipherEncoding.hex,
    ) -> None:
        self._sm2 = SM2(pk=public_key_bytes(public_key))
        self.mode = CipherMode(mode)
        self.encoding = CipherEncoding(encoding)

    def encrypt(self, plain: bytes) -> str:
        # gmalglib answers 04‖C1‖C3‖C2.
        sealed = self._sm2.encrypt(plain)[1:]
        if self.mode is CipherMode.c1c2c3:
            c1, c3, c2 = (
                sealed[:C1_LENGTH],
                sealed[C1_LENGTH : C1_LENGTH + C3_LENGTH],
                sealed[C1_LENGTH + C3_LENGTH :],
            )
            sealed = c1 + c2 + c3
        return _encode(sealed, self.encoding)


def decrypt(
    private_key: str,
    text: str,
    mode: CipherMode = CipherMode.c1c3c2,
    encoding: CipherEncoding = CipherEncoding.hex,
) -> bytes:
    """The province's side, for tests and demos: decrypt a ciphertext of `Sm2Cipher`. Raises
    ValueError when it is not one."""
    try:
        sealed = _decode(text, CipherEncoding(encoding))
    except (ValueError, binascii.Error):
        raise ValueError("ciphertext is not of the configured encoding") from None
    if len(sealed) < C1_LENGTH + C3_LENGTH:
        raise ValueError("ciphertext too short")
    if CipherMode(mode) is CipherMode.c1c2c3:
        c1, c2, c3 = sealed[:C1_LENGTH], sealed[C1_LENGTH:-C3_LENGTH], sealed[-C3_LENGTH:]
        sealed = c1 + c3 + c2
    try:
        return SM2(sk=bytes.fromhex(private_key)).decrypt(UNCOMPRESSED + sealed)
    except Exception as exc:  # gmalglib raises its own error types for a bad ciphertext or key
        raise ValueError(f"cannot decrypt: {exc}") from None


def generate_key_pair() -> tuple[str, str]:
    """A fresh SM2 key pair as hex (private 64 digits, public 128 digits without 04). For tests and
    demos only: in production the province issues its public key and we hold no private key."""
    private, public = SM2().generate_keypair()
    return private.hex(), public[1:].hex()
