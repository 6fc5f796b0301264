"""The province connector's settings, validated once: every value the client needs and nothing else.

The shell reads the environment (`ProvinceConfig.from_settings(os.environ)` or its own typed
settings) and hands the config inward; nothing here reads the environment itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from connectors.model import ProvinceConfigError
from connectors.province.cipher import CipherEncoding, CipherMode, public_key_bytes

# The province's own tenancy (C-Tenancy-Id), as its users send it.
DEFAULT_TENANCY_ID = "370000000000"

_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_THREE_DIGITS = re.compile(r"^\d{3}$")
_TENANCY = re.compile(r"^\d{6,12}$")


@dataclass(frozen=True)
class ProvinceConfig:
    """What the province issued us (public key, appMark, appWord, dataSource) and where it is.

    Each endpoint is its own full URL. `ticket_results_url` and `holdings_url` are optional: None
    turns the feature off.
    """

    records_url: str
    ratings_url: str
    norm_url: str
    public_key: str
    app_mark: str
    app_word: str = field(repr=False)
    data_source: str
    ticket_results_url: str | None = None
    holdings_url: str | None = None
    tenancy_id: str = DEFAULT_TENANCY_ID
    cipher_mode: CipherMode = CipherMode.c1c3c2
    cipher_encoding: CipherEncoding = CipherEncoding.hex
    items_per_ciphertext: int = 1
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        for name in ("records_url", "ratings_url", "norm_url"):
            _check_url(name, getattr(self, name))
        for name in ("ticket_results_url", "holdings_url"):
            value = getattr(self, name)
            if value is not None:
                _check_url(name, value)
        try:
            public_key_bytes(self.public_key)
        except ValueError as exc:
            raise ProvinceConfigError(
                f"PROVINCE_PUBLIC_KEY must be the province's SM2 public key in hex, 128 digits "
                f"(or 130 starting with 04): {exc}"
            ) from None
        if not self.app_mark.strip():
            raise ProvinceConfigError("PROVINCE_APP_MARK (应用标识) must be set")
        if not self.app_word.strip():
            raise ProvinceConfigError("PROVINCE_APP_WORD (应用密钥) must be set")
        if not _THREE_DIGITS.match(self.data_source):
            raise ProvinceConfigError(
                "PROVINCE_DATA_SOURCE must be the three-digit data-source code the province "
                f"assigned to this system, got {self.data_source!r}"
            )
        if not _TENANCY.match(self.tenancy_id):
            raise ProvinceConfigError(
                f"PROVINCE_TENANCY_ID must be digits (the province's is {DEFAULT_TENANCY_ID}), "
                f"got {self.tenancy_id!r}"
            )
        if self.cipher_mode not in set(CipherMode):
            raise ProvinceConfigError(
                f"PROVINCE_CIPHER_MODE must be c1c3c2 or c1c2c3, got {self.cipher_mode!r}"
            )
        if self.cipher_encoding not in set(CipherEncoding):
            raise ProvinceConfigError(
                f"PROVINCE_CIPHER_ENCODING must be hex or base64, got {self.cipher_encoding!r}"
            )
        if self.items_per_ciphertext < 1:
            raise ProvinceConfigError(
                f"PROVINCE_ITEMS_PER_CIPHERTEXT must be at least 1, got {self.items_per_ciphertext}"
            )
        if not self.timeout_seconds > 0:
            raise ProvinceConfigError(
                f"PROVINCE_TIMEOUT_SECONDS must be positive, got {self.timeout_seconds}"
            )

    @classmethod
    def from_settings(cls, values: Mapping[str, str]) -> ProvinceConfig:
        """Build from PROVINCE_* names (an environment-like mapping); empty optional URLs are off.
        Raises ProvinceConfigError naming the first bad or missing setting."""

        def required(name: str) -> str:
            value = values.get(name, "").strip()
            if not value:
                raise ProvinceConfigError(f"{name} must be set")
            return value

        def optional(name: str) -> str | None:
            return values.get(name, "").strip() or None

        def number(name: str, default: str, kind: type[int] | type[float]) -> int | float:
            raw = values.get(name, "").strip() or default
            try:
                return kind(raw)
            except ValueError:
                raise ProvinceConfigError(f"{name} must be a number, got {raw!r}") from None

        def choice(name: str, default: str, kind: type[CipherMode] | type[CipherEncoding]) -> str:
            raw = (values.get(name, "").strip() or default).lower()
            allowed = [m.value for m in kind]
            if raw not in allowed:
                raise ProvinceConfigError(
                    f"{name} must be one of {', '.join(allowed)}, got {raw!r}"
                )
            return raw

        return cls(
            records_url=required("PROVINCE_RECORDS_URL"),
            ratings_url=required("PROVINCE_RATINGS_URL"),
            norm_url=required("PROVINCE_NORM_URL"),
            ticket_results_url=optional("PROVINCE_TICKET_RESULTS_URL"),
            holdings_url=optional("PROVINCE_HOLDINGS_URL"),
            public_key=required("PROVINCE_PUBLIC_KEY"),
            app_mark=required("PROVINCE_APP_MARK"),
            app_word=required("PROVINCE_APP_WORD"),
            data_source=required("PROVINCE_DATA_SOURCE"),
            tenancy_id=values.get("PROVINCE_TENANCY_ID", "").strip() or DEFAULT_TENANCY_ID,
            cipher_mode=CipherMode(choice("PROVINCE_CIPHER_MODE", "c1c3c2", CipherMode)),
            cipher_encoding=CipherEncoding(
                choice("PROVINCE_CIPHER_ENCODING", "hex", CipherEncoding)
            ),
            items_per_ciphertext=int(number("PROVINCE_ITEMS_PER_CIPHERTEXT", "1", int)),
            timeout_seconds=float(number("PROVINCE_TIMEOUT_SECONDS", "10", float)),
        )


def _check_url(name: str, value: str) -> None:
    if not _URL.match(value):
        raise ProvinceConfigError(
            f"PROVINCE_{name.upper()} must be a full http(s) URL, got {value!r}"
        )
