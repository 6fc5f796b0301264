"""SM2 sealing: what gmalglib writes, gmssl (the other maintained library) reads, and back."""

from __future__ import annotations

import base64

import pytest
from gmssl import sm2 as gmssl_sm2  # type: ignore[import-untyped]

from connectors.province.cipher import (
    CipherEncoding,
    CipherMode,
    Sm2Cipher,
    decrypt,
    generate_key_pair,
    public_key_bytes,
)
from tests.gmssl_support import client_key_pair

PRIVATE, PUBLIC = client_key_pair()  # gmssl decrypts and encrypts with it
PLAIN = '[{"projectNo":"37PY001","satisfaction":"5","writingEvaluation":"办得快"}]'.encode()


def gmssl(private: str = PRIVATE) -> gmssl_sm2.CryptSM2:
    # mode=1 is C1C3C2; gmssl's C1 is the bare point x‖y, without 04.
    return gmssl_sm2.CryptSM2(private_key=private, public_key=PUBLIC, mode=1)


def test_our_ciphertext_decrypts_with_gmssl_as_c1c3c2_without_04() -> None:
    ciphertext = Sm2Cipher(PUBLIC).encrypt(PLAIN)

    assert gmssl().decrypt(bytes.fromhex(ciphertext)) == PLAIN


def test_a_gmssl_ciphertext_decrypts_with_ours() -> None:
    ciphertext = gmssl().encrypt(PLAIN).hex()

    assert decrypt(PRIVATE, ciphertext) == PLAIN


def test_the_ciphertext_is_point_then_digest_then_text_in_lower_case_hex() -> None:
    ciphertext = Sm2Cipher(PUBLIC).encrypt(PLAIN)

    assert ciphertext == ciphertext.lower()
    assert len(bytes.fromhex(ciphertext)) == 64 + 32 + len(PLAIN)
    assert not ciphertext.startswith("04") or decrypt(PRIVATE, ciphertext) == PLAIN


def test_c1c2c3_puts_the_digest_last() -> None:
    ciphertext = Sm2Cipher(PUBLIC, CipherMode.c1c2c3).encrypt(PLAIN)
    raw = bytes.fromhex(ciphertext)
    as_c1c3c2 = raw[:64] + raw[-32:] + raw[64:-32]

    assert decrypt(PRIVATE, ciphertext, CipherMode.c1c2c3) == PLAIN
    assert gmssl().decrypt(as_c1c3c2) == PLAIN


def test_base64_encoding_carries_the_same_bytes() -> None:
    ciphertext = Sm2Cipher(PUBLIC, encoding=CipherEncoding.base64).encrypt(PLAIN)

    assert gmssl().decrypt(base64.b64decode(ciphertext)) == PLAIN
    assert decrypt(PRIVATE, ciphertext, encoding=CipherEncoding.base64) == PLAIN


def test_each_encryption_is_randomised() -> None:
    cipher = Sm2Cipher(PUBLIC)

    assert cipher.encrypt(PLAIN) != cipher.encrypt(PLAIN)


def test_a_public_key_is_accepted_with_or_without_its_04_prefix() -> None:
    assert public_key_bytes(PUBLIC) == public_key_bytes("04" + PUBLIC)
    assert decrypt(PRIVATE, Sm2Cipher("04" + PUBLIC.upper()).encrypt(PLAIN)) == PLAIN


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("xyz", "not hexadecimal"),
        ("ab" * 32, "expected 64 bytes"),
        ("05" + "ab" * 64, "starting with 04"),
        ("00" * 64, "not a point"),
    ],
)
def test_a_malformed_public_key_is_refused_with_its_reason(key: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        public_key_bytes(key)


def test_the_wrong_private_key_cannot_decrypt() -> None:
    other_private, _ = generate_key_pair()

    with pytest.raises(ValueError, match="cannot decrypt"):
        decrypt(other_private, Sm2Cipher(PUBLIC).encrypt(PLAIN))
