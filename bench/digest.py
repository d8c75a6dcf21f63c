"""How long one rep's digest takes on a big database, with the digest indexes and without them.

Builds 100k buyers (conversations spread over 10 reps) and 1M messages over 90 days, with a
draft per buyer message, its decision and, for sent drafts, an outbox row; then times `collect`
+ `compose` (every query the digest runs) for one rep and for the manager's team version, and the
chart on its own. The baseline is the same queries after dropping the `m_digest` indexes, in the
same run. Run: `python -m bench.digest [CONTACTS] [MESSAGES]`.
"""

from __future__ import annotations

import bisect
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.digest import compose
from bot.digest_chart import render_chart
from bot.store import Store
from bot.team import Rep, Team, load_team
from handlers.digest import collect

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
REPS = [f"rep{n}" for n in range(10)]
DIGEST_INDEXES = ("digest_conversations_owner_created", "digest_conversations_created",
                  "digest_conversations_owner_inbound", "digest_conversations_inbound",
                  "digest_conversations_owner_stage",
                  "digest_messages_direction_at", "digest_messages_conversation_direction_at",
                  "digest_drafts_conversation_decided", "digest_drafts_decided", "digest_outbox_state_updated")


def build(store: Store, contacts: int, messages: int) -> None:
    rng = random.Random(7)
    conn = store.db.conn
    span = 90 * 24 * 3600

    def ts(seconds_ago: float) -> str:
        return (NOW - timedelta(seconds=seconds_ago)).isoformat()

    conn.execute("PRAGMA cache_size = -1000000")  # building only; timings below use SQLite's default
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO contacts (id, address, phone, channel, name, country, timezone, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'ES', 'Europe/Madrid', ?)",
        ((i, f"whatsapp:+34600{i:06d}", f"+34600{i:06d}", "whatsapp" if i % 4 else "sms", f"Buyer {i}",
          ts(span)) for i in range(1, contacts + 1)))
    # Ids grow with time, as they do in production (rows are appended as things happen).
    created = sorted((rng.uniform(0, span) for _ in range(contacts)), reverse=True)  # seconds ago
    first_seen = {i: created[i - 1] for i in range(1, contacts + 1)}
    stages = ["new", "new", "qualified", "quoted", "sample", "negotiating", "ordered", "won", "lost", "dormant"]
    conn.executemany(
        "INSERT INTO conversations (id, contact_id, stage, owner, created_at, updated_at, stage_changed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((i, i, rng.choice(stages), REPS[i % len(REPS)], ts(first_seen[i]), ts(0),
          ts(rng.uniform(0, first_seen[i]))) for i in range(1, contacts + 1)))
    ascending = [-c for c in created]  # for bisect: buyers who exist at a given time

    msgs, drafts, decisions, outbox = [], [], [], []
    last_in: dict[int, str] = {}
    for mid, ago in enumerate(sorted((rng.uniform(0, span) for _ in range(messages)), reverse=True), 1):
        conv = rng.randint(1, max(1, bisect.bisect_right(ascending, -ago)))
        at = ts(ago)
        direction = "in" if mid % 5 < 3 else "out"
        msgs.append((mid, conv, conv, direction, "Hola, precio?", f"SM{mid:09d}", at))
        if direction == "out":
            continue
        last_in[conv] = max(last_in.get(conv, ""), at)
        fate = rng.random()
        decided = ts(max(ago - rng.uniform(60, 7200), 0))
        state = "pending" if fate < 0.002 else "sent" if fate < 0.8 else "discarded" if fate < 0.9 else "superseded"
        drafts.append((mid, mid, conv, "Hola", "es", "Hello", "Hello", "price_inquiry", "template", state,
                       f"C0SALES001:{1700000000 + mid}.000100", at, None if state == "pending" else decided, at))
        if state != "pending":
            action = {"sent": "send" if fate < 0.6 else "edit", "discarded": "discard",
                      "superseded": "regenerate"}[state]
            decisions.append((mid, action, "U0REP00001", "slack", decided))
        if state == "sent":
            failed = fate < 0.01
            outbox.append((mid, f"draft:{mid}", "whatsapp:+34600000001", "Hola",
                           "failed" if failed else "delivered", "30008" if failed else None, decided, decided))
    conn.executemany("INSERT INTO messages (id, conversation_id, contact_id, direction, body, provider_id, at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", msgs)
    conn.executemany("INSERT INTO drafts (id, message_id, conversation_id, text, language, translation, "
                     "back_translation, intent, source, state, card_ref, created_at, decided_at, message_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", drafts)
    conn.executemany("INSERT INTO decisions (draft_id, action, actor, surface, at) VALUES (?, ?, ?, ?, ?)",
                     decisions)
    conn.executemany("INSERT INTO outbox (draft_id, idem_key, to_address, body, state, error_code, created_at, "
                     "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", outbox)
    conn.executemany("UPDATE conversations SET last_inbound_at = ? WHERE id = ?",
                     ((at, conv) for conv, at in last_in.items()))
    conn.execute("COMMIT")
    conn.execute("PRAGMA cache_size = -2000")


def time_digest(store: Store, team: Team, rep: Rep, runs: int = 5) -> tuple[float, float, str]:
    """Median wall-clock and CPU seconds of collect + compose (CPU time is what a busy host can't inflate)."""
    walls, cpus, text = [], [], ""
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        text = compose(collect(store, team, rep, NOW)).text("slack")
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), text


def main(contacts: int = 100_000, messages: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        team_file = Path(tmp) / "team.yaml"
        team_file.write_text("reps:\n" + "".join(f"  - name: {r}\n    timezone: Europe/Madrid\n" for r in REPS)
                             + "  - name: boss\n    role: manager\n    timezone: Europe/Madrid\n")
        team = load_team(team_file)
        store = Store(str(Path(tmp) / "bench.db"))
        start = time.perf_counter()
        build(store, contacts, messages)
        print(f"built {contacts:,} buyers and {messages:,} messages in {time.perf_counter() - start:.1f} s")
        rep, boss = team.reps[0], team.reps[-1]
        rep_wall, rep_cpu, text = time_digest(store, team, rep)
        team_wall, team_cpu, _ = time_digest(store, team, boss)
        data = collect(store, team, rep, NOW)
        render_chart(data.week, data.month, NOW.date())  # the first call pays matplotlib's import
        start = time.perf_counter()
        png = render_chart(data.week, data.month, NOW.date())
        chart = time.perf_counter() - start
        print(f"one rep's digest:  {rep_wall * 1000:7.1f} ms wall, {rep_cpu * 1000:7.1f} ms CPU ({len(text):,} chars)")
        print(f"team digest:       {team_wall * 1000:7.1f} ms wall, {team_cpu * 1000:7.1f} ms CPU")
        print(f"chart:             {chart * 1000:7.1f} ms wall ({len(png):,} bytes PNG)")
        for name in DIGEST_INDEXES:
            store.db.execute(f"DROP INDEX {name}")
        base_rep_wall, base_rep_cpu, _ = time_digest(store, team, rep, runs=3)
        base_team_wall, base_team_cpu, _ = time_digest(store, team, boss, runs=3)
        print(f"without the digest indexes: rep {base_rep_wall * 1000:.1f} ms wall, {base_rep_cpu * 1000:.1f} ms CPU "
              f"({base_rep_cpu / rep_cpu:.1f}x CPU); team {base_team_wall * 1000:.1f} ms wall, "
              f"{base_team_cpu * 1000:.1f} ms CPU ({base_team_cpu / team_cpu:.1f}x CPU)")
        store.close()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
