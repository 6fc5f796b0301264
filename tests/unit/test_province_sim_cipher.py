"""The simulated province opens what counties' SM2 libraries produce, and only that.

Ciphertexts are made here with the libraries themselves (gmssl as Python counties use it,
gmalglib's output as BouncyCastle/hutool produce it: 04 || C1 || C3 || C2), never with code of ours.
"""

from __future__ import annotations

import base64
import json

import pytest
from gmalglib.sm2 import SM2
from gmssl import sm2 as gmssl_sm2

from connectors.province_sim.cipher import (
    CipherMode,
    Decryptor,
    Encoding,
    Undecryptable,
    demo_key_pair,
    generate_key_pair,
    key_pair_from_private,
)
from tests.gmssl_support import simulator_key_pair

KEYS = simulator_key_pair()  # gmssl encrypts with it
PUBLIC = bytes.fromhex(KEYS.public_hex)
PLAIN = json.dumps([{"projectNo": "37P1", "satisfaction": "5"}], ensure_ascii=False)


def gmssl(mode: int) -> gmssl_sm2.CryptSM2:
    # gmssl wants the public key without its 04 byte; mode 1 is C1C3C2, mode 0 C1C2C3.
    return gmssl_sm2.CryptSM2(private_key="", public_key=KEYS.public_hex[2:], mode=mode)


def java_style(plain: str) -> bytes:
    """BouncyCastle SM2Engine(Mode.C1C3C2) / hutool output: C1 keeps its 04 byte."""
    return SM2(pk=PUBLIC).encrypt(plain.encode())


def test_gmssl_c1c3c2_hex_without_04_decrypts() -> None:
    cipher = gmssl(mode=1).encrypt(PLAIN.encode()).hex()

    assert Decryptor(KEYS.private_hex).decrypt_text(cipher) == PLAIN


def test_java_style_c1c3c2_hex_with_04_decrypts() -> None:
    cipher = java_style(PLAIN)
    assert cipher[:1] == b"\x04"

    assert Decryptor(KEYS.private_hex).decrypt_text(cipher.hex()) == PLAIN


def test_upper_case_hex_decrypts() -> None:
    cipher = java_style(PLAIN).hex().upper()

    assert Decryptor(KEYS.private_hex).decrypt_text(cipher) == PLAIN


def test_base64_decrypts_when_started_for_base64() -> None:
    cipher = base64.b64encode(java_style(PLAIN)).decode()
    decryptor = Decryptor(KEYS.private_hex, encoding=Encoding.BASE64)

    assert decryptor.decrypt_text(cipher) == PLAIN


def test_hex_is_refused_when_started_for_base64() -> None:
    cipher = java_style(PLAIN).hex() + "!"

    with pytest.raises(Undecryptable):
        Decryptor(KEYS.private_hex, encoding=Encoding.BASE64).decrypt_text(cipher)


def test_c1c2c3_decrypts_when_started_for_c1c2c3() -> None:
    cipher = gmssl(mode=0).encrypt(PLAIN.encode()).hex()
    decryptor = Decryptor(KEYS.private_hex, mode=CipherMode.C1C2C3)

    assert decryptor.decrypt_text(cipher) == PLAIN
    assert decryptor.decrypt_text("04" + cipher) == PLAIN


def test_c1c2c3_is_refused_in_the_default_c1c3c2_mode() -> None:
    cipher = gmssl(mode=0).encrypt(PLAIN.encode()).hex()

    with pytest.raises(Undecryptable):
        Decryptor(KEYS.private_hex).decrypt_text(cipher)


def test_another_keys_ciphertext_is_refused() -> None:
    other = SM2(pk=bytes.fromhex(generate_key_pair().public_hex)).encrypt(PLAIN.encode())

    with pytest.raises(Undecryptable):
        Decryptor(KEYS.private_hex).decrypt_text(other.hex())


def test_damaged_ciphertext_is_refused() -> None:
    cipher = bytearray(java_style(PLAIN))
    cipher[-1] ^= 0x01

    with pytest.raises(Undecryptable):
        Decryptor(KEYS.private_hex).decrypt_text(bytes(cipher).hex())


@pytest.mark.parametrize("text", ["", "zz", "04" + "00" * 40])
def test_text_that_is_no_ciphertext_is_refused(text: str) -> None:
    with pytest.raises(Undecryptable):
        Decryptor(KEYS.private_hex).decrypt_text(text)


def test_the_public_key_derives_from_the_private_key_with_its_04_prefix() -> None:
    derived = key_pair_from_private(KEYS.private_hex)

    assert derived == KEYS
    assert len(derived.public_hex) == 130
    assert derived.public_hex.startswith("04")


def test_the_committed_demo_key_file_is_a_matching_labelled_pair() -> None:
    pair, credentials = demo_key_pair()
    cipher = java_style_for(pair.public_hex, "demo")

    assert Decryptor(pair.private_hex).decrypt_text(cipher) == "demo"
    assert credentials["app_mark"] and credentials["app_word"]


def java_style_for(public_hex: str, plain: str) -> str:
    return SM2(pk=bytes.fromhex(public_hex)).encrypt(plain.encode()).hex()
