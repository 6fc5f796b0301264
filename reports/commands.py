"""Command line of the reports: generate a month (with a progress bar) and list the archive.

python -m evaluation_service report generate 2026-10
python -m evaluation_service report list
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from evaluation_service.kernel.errors import DomainError
from reports.model import ReportMonth
from reports.service import Reports

STEP_TEXT = {
    "frames": "整理数据",
    "figures": "绘制图表",
    "page": "生成页面",
    "archive": "存档",
}


class ProgressBar:
    """A one-line text progress bar on stderr: `[#######-------]  7/19  ratings`."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.out, self.width = total, out, width
        self.done = 0
        self.started = time.monotonic()

    def __call__(self, step: str) -> None:
        self.done = min(self.done + 1, self.total)
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        label = STEP_TEXT.get(step, f"查询 {step}")
        elapsed = time.monotonic() - self.started
        self.out.write(f"\r[{bar}] {self.done:>2}/{self.total}  {elapsed:5.1f}s  {label:<28}")
        if self.done == self.total:
            self.out.write("\n")
        self.out.flush()


async def generate_command(service: Reports, month_text: str, as_of: datetime | None) -> int:
    try:
        month = ReportMonth.parse(month_text)
        bar = ProgressBar(service.step_count())
        # The edge decides "now"; the pipeline only ever receives it.
        info = await service.generate(month, as_of or datetime.now(UTC), bar)
    except DomainError as exc:
        print(f"{exc.zh} ({exc.en})", file=sys.stderr)
        return 2
    print(
        f"{info.month} version {info.version} archived; sha256 {info.content_hash}; "
        f"page /reports/{info.month}?version={info.version}"
    )
    return 0


async def list_command(service: Reports) -> int:
    for v in await service.list_versions():
        print(f"{v.month}  v{v.version:<3} {v.created_at.isoformat()}  {v.content_hash}")
    return 0
