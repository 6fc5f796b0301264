"""Key pairs that gmssl, the outside county's SM2 library in our tests, can read.

gmssl takes a public key with or without its 04 prefix and drops the prefix with
`public_key.lstrip("04")` (gmssl/sm2.py), which strips every leading '0' and '4' character: a key
whose x coordinate begins with the byte 04 reaches it mangled, and every encryption with it fails
with `TypeError: object of type 'NoneType' has no len()` (py-gmssl/py-gmssl#78 reports the symptom;
about 1 key in 256, seen in CI). The tests give gmssl keys without that byte; our own cipher is
tested with any key elsewhere.
"""

from __future__ import annotations

from connectors.province import cipher as client_cipher
from connectors.province_sim import cipher as simulator_cipher


def client_key_pair() -> tuple[str, str]:
    """connectors.province.cipher.generate_key_pair (public: 128 hex digits, no 04 prefix)."""
    while True:
        private, public = client_cipher.generate_key_pair()
        if not public.startswith("04"):
            return private, public


def simulator_key_pair() -> simulator_cipher.KeyPair:
    """connectors.province_sim.cipher.generate_key_pair (public: 04 ‖ x ‖ y)."""
    while True:
        keys = simulator_cipher.generate_key_pair()
        if keys.public_hex[2:4] != "04":
            return keys
