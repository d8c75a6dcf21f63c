"""Benchmark: N pending follow-ups as rows in SQLite and one tick, against one APScheduler job per
follow-up in APScheduler's SQLAlchemy job store (the design the issue rules out), in the same run.

    pip install -e '.[bench]'
    python bench/followups.py --n 1000000 --baseline-n 1000000 --due 100

Each side is populated first (not part of start-up), then measured in a fresh subprocess:
- start-up to first fire: from building the runtime / scheduler (after imports) to the first
  follow-up presented (ours) or the first job run (APScheduler). `--due` follow-ups are overdue
  at start, as after downtime.
- one tick: `--due` follow-ups falling due during normal running: ours runs `FollowupRunner.tick`
  (claim, stop rules, draft, card); APScheduler runs one `_process_jobs` pass and the jobs.
- idle tick: a tick with nothing due (what happens every minute most of the time).
- RSS: peak resident set of the measuring process (after imports, and at the end).
Work per fire is not the same: ours drafts (a constant bench drafter, no model) and records a card
for each follow-up; the APScheduler job is an empty function. Ratios are ours / APScheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPREAD_FROM = timedelta(days=2)  # follow-ups not in a measured batch fall due between 2 and 60 days out
SPREAD_SECONDS = 58 * 86400
FIRED: list[float] = []


def rss_mb() -> float:
    """Peak resident set of this process image (VmHWM; ru_maxrss would include the parent's, inherited at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spread(i: int, now: datetime) -> datetime:
    return now + SPREAD_FROM + timedelta(seconds=(i * 7919) % SPREAD_SECONDS)


# -- ours ------------------------------------------------------------------------------------------

def populate_ours(path: str, n: int, due: int, now: datetime) -> dict[str, float]:
    """1 quote_no_reply enrollment per conversation, 3 follow-up rows each: ceil(n/3) conversations.

    Conversations 1..due have step 0 overdue (batch A); due+1..2*due have step 0 due at now+1 day
    (batch B, fired by the steady-state tick); both batches have a buyer message and the rep's quote.
    """
    from bot.store import Store

    Store(path).close()  # schema through the real migrations
    conversations = math.ceil(n / 3)
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # bulk setup only; the product runs with the defaults
    conn.execute("BEGIN")
    stamp = now.isoformat()
    quoted_at = (now - timedelta(days=4)).isoformat()
    conn.executemany(
        "INSERT INTO contacts (id, address, phone, channel, name, country, timezone, created_at) "
        "VALUES (?, ?, ?, 'whatsapp', ?, 'ES', 'Europe/Madrid', ?)",
        ((c, f"whatsapp:+346{c:08d}", f"+346{c:08d}", f"Buyer {c}", stamp) for c in range(1, conversations + 1)))
    conn.executemany(
        "INSERT INTO conversations (id, contact_id, stage, created_at, updated_at, stage_changed_at) "
        "VALUES (?, ?, 'quoted', ?, ?, ?)",
        ((c, c, stamp, stamp, quoted_at) for c in range(1, conversations + 1)))
    asked, answered = (now - timedelta(days=4, hours=1)).isoformat(), (now - timedelta(days=4, minutes=30)).isoformat()
    conn.executemany(
        "INSERT INTO messages (conversation_id, contact_id, direction, body, provider_id, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (row for c in range(1, min(2 * due, conversations) + 1) for row in (
            (c, c, "in", "Hola, ¿precio del termo de 500 ml?", f"SMin{c}", asked),
            (c, c, "out", "El termo de 500 ml cuesta 3.80 USD.", f"SMout{c}", answered),
        )))
    conn.executemany(
        "INSERT INTO enrollments (id, conversation_id, playbook, trigger_key, trigger_type, stage, anchor_at, "
        "created_at, updated_at) VALUES (?, ?, 'quote_no_reply', ?, 'stage_entered', 'quoted', ?, ?, ?)",
        ((c, c, f"stage:quoted@{quoted_at}", quoted_at, stamp, stamp) for c in range(1, conversations + 1)))

    def rows() -> Any:
        made = 0
        for c in range(1, conversations + 1):
            for step in range(3):
                if made == n:
                    return
                made += 1
                if step == 0 and c <= due:
                    when = now - timedelta(minutes=1)
                elif step == 0 and c <= 2 * due:
                    when = now + timedelta(days=1)
                else:
                    when = spread(made, now)
                yield (c, c, step, when.astimezone(UTC).isoformat())

    conn.executemany("INSERT INTO follow_ups (enrollment_id, conversation_id, step, due_at) VALUES (?, ?, ?, ?)",
                     rows())
    # As a previous process leaves it: stage changes were scanned up to a minute ago.
    conn.execute("INSERT INTO followup_marks (name, at) VALUES ('stage_scan', ?)",
                  [(now - timedelta(minutes=1)).isoformat()])
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return {"populate_s": time.perf_counter() - started}


def enroll_rate(sample: int) -> float:
    """Enrollments per second through the product path (`stop_rules.enroll`: due times + one transaction)."""
    from bot import store_followups as sf
    from bot.app import build_runtime
    from bot.channels.console import ConsoleChannel
    from bot.config import Settings
    from bot.surfaces.console import ConsoleSurface
    from handlers import stop_rules

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "rate.db")
        rt = build_runtime(Settings(_env_file=None, trademate_db=path),  # type: ignore[call-arg]
                           surface=ConsoleSurface(out=lambda _: None), channel=ConsoleChannel(out=lambda _: None))
        now = datetime.now(UTC)
        rt.store.db.conn.executemany(
            "INSERT INTO contacts (id, address, phone, channel, country, timezone, created_at) "
            "VALUES (?, ?, ?, 'whatsapp', 'ES', 'Europe/Madrid', ?)",
            [(c, f"whatsapp:+346{c:08d}", f"+346{c:08d}", now.isoformat()) for c in range(1, sample + 1)])
        rt.store.db.conn.executemany("INSERT INTO conversations (id, contact_id, created_at, updated_at) "
                                     "VALUES (?, ?, ?, ?)",
                                     [(c, c, now.isoformat(), now.isoformat()) for c in range(1, sample + 1)])
        playbook = rt.services.playbooks.get("quote_no_reply")
        assert playbook is not None
        started = time.perf_counter()
        for c in range(1, sample + 1):
            stop_rules.enroll(rt.services, playbook, sf.conversation(rt.store, c), f"bench@{c}", now)
        elapsed = time.perf_counter() - started
        rt.close()
    return sample / elapsed


class FixedClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def measure_ours(path: str, due: int, now_iso: str) -> dict[str, float]:
    from bot.app import build_runtime
    from bot.channels.console import ConsoleChannel
    from bot.config import Settings
    from bot.models import Card, DraftResult
    from handlers.followups import FollowupRunner

    rss_after_imports = rss_mb()

    class BenchSurface:
        name = "bench"

        def __init__(self) -> None:
            self.cards: list[float] = []

        async def request_approval(self, card: Card) -> str:
            self.cards.append(time.perf_counter())
            return f"bench:{card.draft.id}"

        async def update_card(self, card_ref: str, card: Card) -> None:
            return None

        async def post(self, text: str) -> None:
            return None

    class BenchDrafter:
        async def draft(self, request: Any) -> DraftResult:
            return DraftResult("es", "", "follow_up", "Hola, ¿pudo revisar nuestra cotización?",
                               "Hi, did you get a chance to review our quotation?")

    now = datetime.fromisoformat(now_iso)
    clock = FixedClock(datetime.now(UTC))
    surface = BenchSurface()
    t0 = time.perf_counter()
    rt = build_runtime(Settings(_env_file=None, trademate_db=path), clock=clock, surface=surface,  # type: ignore[call-arg]
                       channel=ConsoleChannel(out=lambda _: None), drafter=BenchDrafter())
    runner = rt.followups
    assert isinstance(runner, FollowupRunner)

    async def run() -> dict[str, float]:
        first = await runner.tick()  # start-up tick: the overdue batch A
        t1 = time.perf_counter()
        assert first.fired == due, first
        clock.t = now + timedelta(days=1, minutes=1)
        t2 = time.perf_counter()
        steady = await runner.tick()  # batch B falls due
        t3 = time.perf_counter()
        assert steady.fired == due, steady
        clock.t += timedelta(minutes=1)
        t4 = time.perf_counter()
        idle = await runner.tick()
        t5 = time.perf_counter()
        assert idle.fired == 0
        return {"startup_to_first_fire_s": surface.cards[0] - t0, "startup_tick_s": t1 - t0,
                "tick_s": t3 - t2, "idle_tick_s": t5 - t4}

    result = asyncio.run(run())
    rt.close()
    return {**result, "rss_after_imports_mb": rss_after_imports, "rss_peak_mb": rss_mb()}


# -- APScheduler, one job per follow-up ------------------------------------------------------------

def baseline_job(follow_up: int) -> None:
    FIRED.append(time.perf_counter())


def _job_row(scheduler: Any, i: int, when: datetime) -> Any:
    from apscheduler.job import Job
    from apscheduler.triggers.date import DateTrigger

    return Job(scheduler, id=f"followup-{i}", func="bench.followups:baseline_job", args=(i,), kwargs={},
               trigger=DateTrigger(run_date=when, timezone=UTC), executor="default", name=f"followup-{i}",
               misfire_grace_time=None, coalesce=True, max_instances=1, next_run_time=when)


def populate_baseline(path: str, n: int, due: int, now: datetime, sample: int) -> dict[str, float]:
    """`sample` jobs through `SQLAlchemyJobStore.add_job` (timed: the real path, one transaction each);
    the rest are the identical rows (same pickled job state) inserted in bulk, to keep setup short."""
    import pickle

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.util import datetime_to_utc_timestamp

    scheduler = AsyncIOScheduler(timezone=UTC)
    store = SQLAlchemyJobStore(url=f"sqlite:///{path}")
    store.start(scheduler, "default")

    def when(i: int) -> datetime:
        return now - timedelta(minutes=1) if i < due else spread(i, now)

    sample = min(sample, n)
    started = time.perf_counter()
    for i in range(sample):
        store.add_job(_job_row(scheduler, i, when(i)))
    add_job_rate = sample / (time.perf_counter() - started)
    started = time.perf_counter()
    with store.engine.begin() as conn:
        batch: list[dict[str, Any]] = []
        for i in range(sample, n):
            job = _job_row(scheduler, i, when(i))
            batch.append({"id": job.id, "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                          "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol)})
            if len(batch) == 20000:
                conn.execute(store.jobs_t.insert(), batch)
                batch = []
        if batch:
            conn.execute(store.jobs_t.insert(), batch)
    bulk_s = time.perf_counter() - started
    store.shutdown()
    return {"add_job_per_s": add_job_rate, "bulk_s": bulk_s}


async def until(condition: Any, seconds: float = 300) -> None:
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("APScheduler jobs did not all run")
        await asyncio.sleep(0)


def measure_baseline(path: str, due: int) -> dict[str, float]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    import bench.followups as this  # the jobs' textual reference resolves here, not to __main__

    fired = this.FIRED
    rss_after_imports = rss_mb()

    async def run() -> dict[str, float]:
        t0 = time.perf_counter()
        scheduler = AsyncIOScheduler(jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")},
                                     timezone=UTC)
        scheduler.start()  # wakes up at once and runs the overdue batch A
        await until(lambda: len(fired) >= due)
        t1 = time.perf_counter()
        first_fire = fired[0] - t0
        # Batch B: `due` follow-ups scheduled while running; the scheduler is paused so that the pass that
        # runs them is the one timed (resume() wakes it up at once).
        scheduler.pause()
        soon = datetime.now(UTC) + timedelta(seconds=1)
        for i in range(due):
            scheduler.add_job("bench.followups:baseline_job", "date", run_date=soon, args=(-i,), id=f"batch-b-{i}",
                              misfire_grace_time=None)
        await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
        t2 = time.perf_counter()
        scheduler.resume()
        await until(lambda: len(fired) >= 2 * due)
        t3 = time.perf_counter()
        t4 = time.perf_counter()
        scheduler._process_jobs()
        t5 = time.perf_counter()
        scheduler.shutdown(wait=False)
        return {"startup_to_first_fire_s": first_fire, "startup_tick_s": t1 - t0, "tick_s": t3 - t2,
                "idle_tick_s": t5 - t4}

    result = asyncio.run(run())
    return {**result, "rss_after_imports_mb": rss_after_imports, "rss_peak_mb": rss_mb()}


# -- driver ------------------------------------------------------------------------------------------

def _child(kind: str, path: str, due: int, now_iso: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--measure", kind, "--db", path, "--due", str(due),
                          "--now", now_iso], capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="pending follow-ups, ours")
    parser.add_argument("--baseline-n", type=int, default=None, help="pending jobs for APScheduler (default --n)")
    parser.add_argument("--due", type=int, default=100, help="follow-ups falling due in each measured tick")
    parser.add_argument("--add-job-sample", type=int, default=5000, help="jobs added through add_job (timed)")
    parser.add_argument("--dir", default="", help="where the databases go (default: a temporary directory)")
    parser.add_argument("--measure", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        fn = measure_ours if args.measure == "ours" else None
        result = fn(args.db, args.due, args.now) if fn else measure_baseline(args.db, args.due)
        print(json.dumps(result))
        return

    baseline_n = args.baseline_n or args.n
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="trademate-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ours_db, base_db = str(workdir / "ours.db"), str(workdir / "apscheduler.db")
    for p in (ours_db, base_db):
        for suffix in ("", "-wal", "-shm"):
            Path(p + suffix).unlink(missing_ok=True)
    now = datetime.now(UTC)
    print(f"populating: ours {args.n:,} follow-ups, APScheduler {baseline_n:,} jobs, {args.due} due per tick "
          f"({os.cpu_count()} CPUs) in {workdir}", flush=True)
    pop_ours = populate_ours(ours_db, args.n, args.due, now)
    rate_ours = enroll_rate(2000)
    pop_base = populate_baseline(base_db, baseline_n, args.due, now, args.add_job_sample)
    print("measuring (fresh process each) ...", flush=True)
    ours = _child("ours", ours_db, args.due, now.isoformat())
    base = _child("baseline", base_db, args.due, now.isoformat())

    size = {p: sum(Path(p + s).stat().st_size for s in ("", "-wal") if Path(p + s).exists()) / 1e6
            for p in (ours_db, base_db)}
    rows = [
        ("start-up to first fire (s)", ours["startup_to_first_fire_s"], base["startup_to_first_fire_s"]),
        (f"start-up tick, {args.due} overdue (s)", ours["startup_tick_s"], base["startup_tick_s"]),
        (f"one tick, {args.due} due (s)", ours["tick_s"], base["tick_s"]),
        ("idle tick, nothing due (s)", ours["idle_tick_s"], base["idle_tick_s"]),
        ("RSS after imports (MB)", ours["rss_after_imports_mb"], base["rss_after_imports_mb"]),
        ("RSS peak (MB)", ours["rss_peak_mb"], base["rss_peak_mb"]),
        ("database on disk (MB)", size[ours_db], size[base_db]),
        ("schedule one follow-up (ms)", 1000 / rate_ours / 3, 1000 / pop_base["add_job_per_s"]),
    ]
    print(f"\n{'':38}{'ours (' + format(args.n, ',') + ')':>20}{'APScheduler (' + format(baseline_n, ',') + ')':>26}"
          f"{'ours/APS':>10}")
    for label, a, b in rows:
        ratio = a / b if b else float("nan")
        print(f"{label:38}{a:>20.4f}{b:>26.4f}{ratio:>10.3f}")
    print(f"\nsetup: ours bulk rows {pop_ours['populate_s']:.1f}s; APScheduler bulk rows {pop_base['bulk_s']:.1f}s "
          f"(+{args.add_job_sample} via add_job at {pop_base['add_job_per_s']:.0f} jobs/s; all {baseline_n:,} that "
          f"way would take {baseline_n / pop_base['add_job_per_s'] / 60:.1f} min)")
    print(f"ours enrolls {rate_ours:.0f} conversations/s through stop_rules.enroll (3 follow-ups each); "
          "'schedule one follow-up' is per row")


if __name__ == "__main__":
    main()
