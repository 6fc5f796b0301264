"""Pure parts of browser catalog administration: photo checks, the photo URL, the photo setting,
and the one row rule the CSV loader and the admin share."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from evaluation_service.evaluations.administration import check_photo, photo_url, snapshot
from evaluation_service.evaluations.catalog import ROW_RULES, References
from evaluation_service.kernel.errors import InvalidInput
from evaluation_service.kernel.settings import Settings, SettingsError


def image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 50), (1, 2, 3)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_jpg_and_png_photos_pass_and_are_named_by_their_sha256(fmt: str) -> None:
    data = image(fmt)
    assert check_photo(data, 1_000_000) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "请选择照片文件"),
        (image("GIF"), "照片只能是JPG或PNG格式"),
        (image("PNG")[:60], "无法识别该照片"),
        (b"not an image at all", "无法识别该照片"),
    ],
)
def test_other_files_are_refused_in_chinese(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_photo(data, 1_000_000)
    assert reason in refused.value.zh


def test_a_photo_over_the_limit_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_photo(image("PNG"), 10)
    assert refused.value.zh.startswith("照片过大")


def test_photo_url_is_stable_and_changes_with_the_photo() -> None:
    assert photo_url("PY1001", "ab" * 32) == "/device/staff-photo/PY1001?v=abababababab"
    assert photo_url("PY1001", "") is None


def test_staff_photo_setting_is_read_and_bounded() -> None:
    env = {"TOKEN_SECRET": "x", "STAFF_PHOTO_MAX_BYTES": "500000"}
    assert Settings.from_env(env).staff_photo_max_bytes == 500_000
    with pytest.raises(SettingsError):
        Settings.from_env({**env, "STAFF_PHOTO_MAX_BYTES": "9000000"})


def test_the_audit_snapshot_leaves_secret_hashes_out() -> None:
    text = snapshot({"device_id": "EV-1", "key_hash": "f" * 64, "active": True})
    assert text == '{"active": true, "device_id": "EV-1"}'


def test_one_device_rule_reports_every_problem_with_its_column() -> None:
    problems = ROW_RULES["devices"](
        {"device_id": "bad id", "kind": "window", "window_no": "", "name": ""},
        References(frozenset(), frozenset()),
    )
    assert [column for column, _ in problems] == ["device_id", "window_no"]
