"""The province settings: what is required, what is optional, and messages that name the setting."""

from __future__ import annotations

import pytest

from connectors.model import ProvinceConfigError
from connectors.province.cipher import CipherEncoding, CipherMode, generate_key_pair
from connectors.province.config import DEFAULT_TENANCY_ID, ProvinceConfig

_, PUBLIC = generate_key_pair()

SETTINGS = {
    "PROVINCE_RECORDS_URL": "https://hcp.example/hcp/addEvaluateService",
    "PROVINCE_RATINGS_URL": "https://hcp.example/hcp/addEvaluate",
    "PROVINCE_NORM_URL": "https://hcp.example/hcp/norm",
    "PROVINCE_PUBLIC_KEY": PUBLIC,
    "PROVINCE_APP_MARK": "PINGYIN",
    "PROVINCE_APP_WORD": "secret-word",
    "PROVINCE_DATA_SOURCE": "165",
}


def test_the_required_settings_give_a_config_with_the_provinces_defaults() -> None:
    config = ProvinceConfig.from_settings(SETTINGS)

    assert config.tenancy_id == DEFAULT_TENANCY_ID == "370000000000"
    assert config.cipher_mode is CipherMode.c1c3c2
    assert config.cipher_encoding is CipherEncoding.hex
    assert config.items_per_ciphertext == 1
    assert config.ticket_results_url is None and config.holdings_url is None
    assert "secret-word" not in repr(config)


def test_optional_settings_are_read_when_given() -> None:
    config = ProvinceConfig.from_settings(
        {
            **SETTINGS,
            "PROVINCE_TICKET_RESULTS_URL": "https://hcp.example/hcp/rectifyFeedback",
            "PROVINCE_HOLDINGS_URL": "https://hcp.example/hcp/dailyHoldings",
            "PROVINCE_TENANCY_ID": "370124000000",
            "PROVINCE_CIPHER_MODE": "C1C2C3",
            "PROVINCE_CIPHER_ENCODING": "base64",
            "PROVINCE_ITEMS_PER_CIPHERTEXT": "20",
            "PROVINCE_TIMEOUT_SECONDS": "2.5",
            "PROVINCE_PUBLIC_KEY": "04" + PUBLIC,
        }
    )

    assert config.ticket_results_url == "https://hcp.example/hcp/rectifyFeedback"
    assert config.holdings_url == "https://hcp.example/hcp/dailyHoldings"
    assert config.tenancy_id == "370124000000"
    assert config.cipher_mode is CipherMode.c1c2c3
    assert config.cipher_encoding is CipherEncoding.base64
    assert (config.items_per_ciphertext, config.timeout_seconds) == (20, 2.5)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PROVINCE_RECORDS_URL", "", "PROVINCE_RECORDS_URL must be set"),
        ("PROVINCE_RATINGS_URL", "hcp/addEvaluate", "PROVINCE_RATINGS_URL must be a full"),
        ("PROVINCE_PUBLIC_KEY", "abcd", "PROVINCE_PUBLIC_KEY .* got 2 bytes"),
        ("PROVINCE_PUBLIC_KEY", "zz" * 64, "PROVINCE_PUBLIC_KEY .* not hexadecimal"),
        ("PROVINCE_DATA_SOURCE", "16", "PROVINCE_DATA_SOURCE must be the three-digit"),
        ("PROVINCE_DATA_SOURCE", "16a", "PROVINCE_DATA_SOURCE must be the three-digit"),
        ("PROVINCE_APP_MARK", "", "PROVINCE_APP_MARK must be set"),
        ("PROVINCE_APP_WORD", "", "PROVINCE_APP_WORD must be set"),
        ("PROVINCE_TENANCY_ID", "tenant", "PROVINCE_TENANCY_ID must be digits"),
        ("PROVINCE_CIPHER_MODE", "c2c1c3", "PROVINCE_CIPHER_MODE must be one of"),
        ("PROVINCE_CIPHER_ENCODING", "hex64", "PROVINCE_CIPHER_ENCODING must be one of"),
        ("PROVINCE_ITEMS_PER_CIPHERTEXT", "0", "PROVINCE_ITEMS_PER_CIPHERTEXT must be at least"),
        ("PROVINCE_ITEMS_PER_CIPHERTEXT", "many", "PROVINCE_ITEMS_PER_CIPHERTEXT must be a"),
        ("PROVINCE_TIMEOUT_SECONDS", "0", "PROVINCE_TIMEOUT_SECONDS must be positive"),
        ("PROVINCE_HOLDINGS_URL", "ftp://x", "PROVINCE_HOLDINGS_URL must be a full"),
    ],
)
def test_a_bad_setting_is_refused_with_a_message_naming_it(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ProvinceConfigError, match=message):
        ProvinceConfig.from_settings({**SETTINGS, name: value})


def test_there_is_no_default_data_source_pretending_to_be_real() -> None:
    settings = dict(SETTINGS)
    del settings["PROVINCE_DATA_SOURCE"]

    with pytest.raises(ProvinceConfigError, match="PROVINCE_DATA_SOURCE must be set"):
        ProvinceConfig.from_settings(settings)
