"""APScheduler behind a small interface: periodic ticks and each rep's daily jobs.

Jobs carry ids only and read what is due from SQLite when they run, so the schedule can
be rebuilt from the database at every start and a restart neither loses nor repeats work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Scheduler:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def every(self, job_id: str, seconds: float, job: Job) -> None:
        """Run `job` every `seconds`; a run still going when the next is due is not doubled."""
        self._scheduler.add_job(_guarded(job_id, job), IntervalTrigger(seconds=seconds), id=job_id,
                                replace_existing=True, max_instances=1, coalesce=True)

    def daily(self, job_id: str, hour: int, minute: int, timezone: str, job: Job) -> None:
        """Run `job` at hour:minute wall-clock time in `timezone`, every day (DST-aware)."""
        self._scheduler.add_job(_guarded(job_id, job), CronTrigger(hour=hour, minute=minute, timezone=timezone),
                                id=job_id, replace_existing=True, max_instances=1, coalesce=True,
                                misfire_grace_time=3600)

    def run_soon(self, job_id: str) -> None:
        """Run a registered job now instead of at its next time (operators, tests)."""
        self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    def next_fire(self, job_id: str, after: datetime) -> datetime | None:
        """When job `job_id` would next run after `after` (None if there is no such job)."""
        job = self._scheduler.get_job(job_id)
        return job.trigger.get_next_fire_time(None, after) if job else None

    def job(self, job_id: str) -> Job | None:
        """The (guarded) callable a job runs, to run it by hand."""
        job = self._scheduler.get_job(job_id)
        return job.func if job else None

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


def _guarded(job_id: str, job: Job) -> Job:
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next time", job_id)

    return run
