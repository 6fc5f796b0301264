"""Two schedulers running the same table at once (as on two nodes): each job is sent once per
period, on SQLite and PostgreSQL — the unique (job, period) row decides who sends."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
from apscheduler.triggers.interval import IntervalTrigger

from evaluation_service.root.schedule import Job, claim_run, running
from tests.forwarding_support import until

Client = httpx.AsyncClient


async def test_two_schedulers_send_each_job_once_per_period(api: Client) -> None:
    sent: Counter[str] = Counter()
    claims: Counter[str] = Counter()
    prefix = uuid.uuid4().hex[:8]

    def job(name: str) -> Job:
        async def send() -> None:
            sent[name] += 1

        return Job(name, IntervalTrigger(hours=1), send, lambda _now: "2026-10")

    async def counted_claim(name: str, period: str) -> bool:
        claims[name] += 1
        return await claim_run(name, period)

    names = [f"{prefix}-report", f"{prefix}-sweep", f"{prefix}-reconcile"]

    async def both_asked() -> bool:
        return all(claims[name] == 2 for name in names)

    async with (
        running([job(name) for name in names], claim=counted_claim),
        running([job(name) for name in names], claim=counted_claim),
    ):
        await until(both_asked, seconds=20, what="each scheduler ran each job at start")

    assert sent == Counter(dict.fromkeys(names, 1))


async def test_a_new_period_is_sent_again(api: Client) -> None:
    name = f"{uuid.uuid4().hex[:8]}-report"
    assert await claim_run(name, "2026-10")
    assert not await claim_run(name, "2026-10")
    assert await claim_run(name, "2026-11")
