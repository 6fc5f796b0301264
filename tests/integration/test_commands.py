"""Commands given wrong input answer with a clear message and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evaluation_service", *args],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PROVINCE_")},
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
            "HAOCHAPING_VAR_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_reconcile_with_a_day_that_is_no_date_says_which_form_it_takes(tmp_path: Path) -> None:
    result = _run(tmp_path, "reconcile", "--day", "2026-13-01")

    assert result.returncode == 2
    assert "应为 YYYY-MM-DD" in result.stderr
    assert "Traceback" not in result.stderr


def test_reconcile_without_the_provinces_settings_names_the_missing_one(tmp_path: Path) -> None:
    result = _run(tmp_path, "reconcile", FORWARDING_ENABLED="false")

    assert result.returncode == 2
    assert "PROVINCE_RECORDS_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_the_provinces_settings_refuses_to_start(tmp_path: Path) -> None:
    result = _run(tmp_path, "serve", "--port", "1")

    assert result.returncode == 2
    assert "省平台对接参数有误" in result.stderr


def test_a_report_month_out_of_range_is_refused_in_chinese(tmp_path: Path) -> None:
    assert _run(tmp_path, "migrate").returncode == 0
    result = _run(tmp_path, "report", "generate", "9999-12")

    assert result.returncode == 2
    assert "YYYY-MM" in result.stderr
    assert "Traceback" not in result.stderr
