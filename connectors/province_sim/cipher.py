"""SM2 (GB/T 32918.4) as the province uses it: the key pair, and decrypting what counties send.

The province holds the private key; a county encrypts with the public key the province issued.
Ciphertext arrives as text, hex by default (base64 when the simulator is started so), in the
C1C3C2 order by default (C1C2C3 when started so). C1 is accepted with or without its leading
0x04 byte: Java (BouncyCastle, hutool) keeps it, Python's gmssl drops it. The work is done by
gmalglib, a C implementation (about 2,000 decryptions a second on one core, where the pure
Python gmssl manages about 60).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gmalglib.sm2 import SM2

_POINT = 64  # C1 without its 0x04 byte: x || y
_DIGEST = 32  # C3: SM3 of x2 || M || y2
DEMO_KEYS_FILE = Path(__file__).with_name("demo_keys.json")


class CipherMode(StrEnum):
    C1C3C2 = "c1c3c2"
    C1C2C3 = "c1c2c3"


class Encoding(StrEnum):
    HEX = "hex"
    BASE64 = "base64"


class Undecryptable(ValueError):
    """The text is not a ciphertext this key, mode and encoding can open."""


@dataclass(frozen=True)
class KeyPair:
    private_hex: str
    public_hex: str  # uncompressed point with its 04 prefix, 130 hex digits


def generate_key_pair() -> KeyPair:
    private, public = SM2().generate_keypair()
    return KeyPair(private.hex(), public.hex())


def key_pair_from_private(private_hex: str) -> KeyPair:
    try:
        private = bytes.fromhex(private_hex.strip())
        public = SM2.get_pk(private)
    except ValueError as exc:
        raise ValueError("the SM2 private key must be 64 hex digits of a valid key") from exc
    return KeyPair(private.hex(), public.hex())


def demo_key_pair() -> tuple[KeyPair, dict[str, str]]:
    """The committed demo key pair (never a real key) and the demo app credentials beside it."""
    data = json.loads(DEMO_KEYS_FILE.read_text(encoding="utf-8"))
    pair = key_pair_from_private(data["private_key"])
    if pair.public_hex != data["public_key"].lower():
        raise ValueError(f"{DEMO_KEYS_FILE.name}: the public key does not match the private key")
    return pair, {"app_mark": data["app_mark"], "app_word": data["app_word"]}


class Decryptor:
    """Opens county ciphertext with the province's private key."""

    def __init__(
        self,
        private_hex: str,
        mode: CipherMode = CipherMode.C1C3C2,
        encoding: Encoding = Encoding.HEX,
    ) -> None:
        self.keys = key_pair_from_private(private_hex)
        self._sm2 = SM2(sk=bytes.fromhex(self.keys.private_hex))
        self.mode = CipherMode(mode)
        self.encoding = Encoding(encoding)

    def decrypt_text(self, text: str) -> str:
        data = self._decode(text)
        try:
            return self.decrypt(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Undecryptable("plaintext is not UTF-8") from exc

    def decrypt(self, data: bytes) -> bytes:
        # A leading 04 is either the point-format byte or, once in 256 keys, the first byte of a
        # bare x coordinate: try the reading it suggests first, then the other.
        readings = [data[1:], data] if data[:1] == b"\x04" else [data]
        for point_and_rest in readings:
            standard = self._to_c1c3c2(point_and_rest)
            if standard is None:
                continue
            try:
                return self._sm2.decrypt(standard)
            except ValueError:
                continue
        raise Undecryptable("SM2 decryption failed (wrong key, cipher mode or damaged text)")

    def _to_c1c3c2(self, body: bytes) -> bytes | None:
        """04 || C1 || C3 || C2 as gmalglib wants it, from C1 (no 04) and the rest."""
        if len(body) < _POINT + _DIGEST:
            return None
        c1, rest = body[:_POINT], body[_POINT:]
        if self.mode is CipherMode.C1C2C3:
            c2, c3 = rest[:-_DIGEST], rest[-_DIGEST:]
        else:
            c3, c2 = rest[:_DIGEST], rest[_DIGEST:]
        return b"\x04" + c1 + c3 + c2

    def _decode(self, text: str) -> bytes:
        if not isinstance(text, str) or not text.strip():
            raise Undecryptable("empty ciphertext")
        try:
            if self.encoding is Encoding.HEX:
                return bytes.fromhex(text.strip())
            return base64.b64decode(text.strip(), validate=True)
        except (ValueError, binascii.Error) as exc:
            raise Undecryptable(f"ciphertext is not {self.encoding.value}") from exc
