"""The digest on a seeded database with a fixed clock: what each rep sees, the numbers, the chart,
the empty day, the lists that light up when other features' tables exist, the once-a-day ledger."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import store_digest as q
from bot.digest import SHOW_CARD, compose
from bot.digest_chart import render_chart
from bot.store import Store
from bot.store_lifecycle import set_stage
from bot.team import Team, load_team
from handlers.digest import collect
from tests.digest_seed import DIGEST_AT, seed, write_team


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store()
    yield s
    s.close()


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return load_team(write_team(tmp_path))


def _text(store: Store, team: Team, name: str, links: str = "plain") -> str:
    rep = team.by_name(name)
    assert rep is not None
    return compose(collect(store, team, rep, DIGEST_AT)).text(links)


def _section(text: str, title: str) -> str:
    """The lines of one section of a rendered digest."""
    part = text.split(f"*{title}")[1]
    return part.split("\n\n")[0]


def test_reps_digest_lists_their_own_buyers_with_ages_and_links(store: Store, team: Team) -> None:
    seed(store)
    text = _text(store, team, "Asha")
    assert text.startswith("*Good morning, Asha! Here is your day, Tue 10 Mar.*")
    link = "https://slack.com/app_redirect?channel=C0ASHA0001&message_ts=1700000000.000100"
    assert _section(text, "New inquiries since yesterday") == (
        "* (1)\n• Lucía (+34612345678), first wrote at 10:30 (" + link + ")")  # 05:00 UTC in Kolkata
    assert "Lucía (+34612345678), waiting 22 h" in _section(text, "Cards waiting for a decision")
    assert "closes 10:30 — not answered yet" in _section(text, "WhatsApp windows closing in the next 6 h")
    failed = _section(text, "Failed deliveries")
    assert "Ravi (+919876543210) at 05:30: Twilio refused" in failed and "(30008)" in failed
    assert "Chen (+8613800138000), quoted 5 d ago" in _section(text, "Buyers silent 3+ days after a quote")
    assert "João" not in text  # Wei's buyer
    # Follow-ups and lead scores exist on this install; with none due or hot, they are listed as clear.
    assert "not tracked" not in text
    assert "follow-ups due today" in text.lower() and "hot buyers" in text.lower()


def test_numbers_for_seven_and_thirty_days(store: Store, team: Team) -> None:
    seed(store)
    text = _text(store, team, "Asha")
    assert "Buyer messages in: 2 · 4" in text
    assert "Replies sent: 1 · 2" in text
    assert "Median time to reply: 30 min · 20 min" in text  # Ravi in 30 min; Chen in 10 min, 10 days ago
    assert "Funnel new → quoted → ordered: 2 → 1 → 0 · 4 → 2 → 1" in text  # stages entered in the period
    assert "25% sent as written, 25% edited, 25% regenerated, 25% discarded (of 4)" in text


def test_manager_gets_the_team_version_with_owners(store: Store, team: Team) -> None:
    seed(store)
    text = _text(store, team, "Maria")
    assert "Here is the team's day" in text
    waiting = _section(text, "Cards waiting for a decision")
    assert waiting.index("Lucía") < waiting.index("João")  # oldest first
    assert "João (+5511987654321) [Wei], waiting 5 h" in waiting
    assert "Buyer messages in: 3 · 5" in text


def test_items_without_a_card_link_get_a_button(store: Store, team: Team) -> None:
    ids = seed(store)
    wei = team.by_name("Wei")
    assert wei is not None
    digest = compose(collect(store, team, wei, DIGEST_AT))
    assert [(b.action, b.value) for b in digest.buttons] == [(SHOW_CARD, str(ids.wei_draft))] * 2
    slack = digest.text("slack")
    assert "<https://slack.com" not in slack
    asha = compose(collect(store, team, team.reps[0], DIGEST_AT)).text("slack")
    assert "<https://slack.com/app_redirect?channel=C0ASHA0001&message_ts=1700000000.000100|open card>" in asha


def test_buyer_names_cannot_inject_slack_markup(store: Store, team: Team) -> None:
    seed(store)
    store.db.execute("UPDATE contacts SET name = '<!channel> & co' WHERE name = 'Lucía'")
    text = _text(store, team, "Asha", links="slack")
    assert "&lt;!channel&gt; &amp; co" in text and "<!channel>" not in text


def test_an_empty_day_is_one_friendly_line(store: Store, team: Team) -> None:
    text = _text(store, team, "Asha")
    assert text == ("Good morning, Asha! A quiet day for you: nothing is waiting, and no buyer has written in the "
                    "last 30 days. Nothing to do here.")


def test_a_day_with_numbers_but_nothing_to_do_says_all_clear(store: Store, team: Team) -> None:
    seed(store)
    later = DIGEST_AT + timedelta(days=12)  # everything is old now; pending drafts still wait
    store.db.execute("UPDATE drafts SET state = 'discarded' WHERE state = 'pending'")
    store.db.execute("UPDATE conversations SET stage = 'lost'")
    rep = team.by_name("Asha")
    assert rep is not None
    text = compose(collect(store, team, rep, later)).text("plain")
    clear = next(line for line in text.splitlines() if line.startswith("All clear: "))
    for part in ("no new inquiries since yesterday", "no cards waiting for a decision", "no follow-ups due today",
                 "no WhatsApp windows closing", "no hot buyers"):
        assert part in clear
    assert "Buyer messages in: 0 · 3" in text


def test_lists_from_other_features_light_up_when_their_tables_exist(store: Store, team: Team) -> None:
    seed(store)
    lucia = store.db.execute("SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id "
                             "WHERE k.name = 'Lucía'").fetchone()[0]
    due = (DIGEST_AT + timedelta(hours=6)).isoformat()  # 14:30 in Kolkata, today
    tomorrow = (DIGEST_AT + timedelta(days=1)).isoformat()
    enrolled = store.db.execute(
        "INSERT INTO enrollments (conversation_id, playbook, trigger_key, trigger_type, anchor_at, created_at, "
        "updated_at) VALUES (?, 'after_quote', 'k', 'stage', ?, ?, ?)", [lucia, due, due, due]).lastrowid
    store.db.execute("INSERT INTO follow_ups (enrollment_id, conversation_id, step, due_at, state) VALUES "
                     "(?, ?, 0, ?, 'pending'), (?, ?, 1, ?, 'pending'), (?, ?, 2, ?, 'presented')",
                     [enrolled, lucia, due, enrolled, lucia, tomorrow, enrolled, lucia, due])
    store.db.execute("INSERT INTO lead_scores VALUES (?, 'hot', 'asked for 5000 units', ?)",
                     [lucia, DIGEST_AT.isoformat()])
    assert set_stage(store, lucia, "quoted", by="U0REP00001", reason="quote", now=DIGEST_AT - timedelta(hours=1))
    text = _text(store, team, "Asha")
    assert "Lucía (+34612345678), due 14:30" in _section(text, "Follow-ups due today")
    assert _section(text, "Follow-ups due today").startswith("* (1)")
    assert "Lucía (+34612345678): asked for 5000 units" in _section(text, "Hot buyers")
    assert "Funnel new → quoted → ordered: 2 → 2 → 0" in text  # Lucía and Chen were quoted this week


def test_playbook_shares_appear_when_drafts_carry_a_playbook(store: Store, team: Team) -> None:
    seed(store)
    store.db.execute("UPDATE drafts SET playbook = 'after-quote' WHERE text = 'Yes'")
    text = _text(store, team, "Asha")
    assert "• playbook after-quote: 100% edited (of 1)" in text
    assert "• playbook (none): " in text


def test_digest_ledger_claims_once_per_rep_and_local_day(store: Store) -> None:
    assert q.claim_digest(store, "Asha", "2026-03-10", DIGEST_AT)
    assert not q.claim_digest(store, "Asha", "2026-03-10", DIGEST_AT + timedelta(minutes=5))
    assert q.claim_digest(store, "Wei", "2026-03-10", DIGEST_AT)
    q.release_digest(store, "Asha", "2026-03-10")
    assert q.claim_digest(store, "Asha", "2026-03-10", DIGEST_AT)


def test_queries_use_the_digest_indexes(store: Store) -> None:
    plans = {
        "conversations": "SELECT COUNT(*) FROM conversations c WHERE c.owner = 'A' AND c.created_at >= '2026'",
        "messages": "SELECT COUNT(*) FROM messages m WHERE m.direction = 'in' AND m.at >= '2026'",
        "outbox": "SELECT * FROM outbox o WHERE o.state IN ('failed') AND o.updated_at >= '2026'",
        "drafts": "SELECT d.message_at FROM drafts d WHERE +d.state = 'sent' AND d.decided_at >= '2026'",
    }
    for table, sql in plans.items():
        plan = " ".join(str(r[3]) for r in store.db.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
        assert "USING" in plan and "INDEX digest_" in plan, (table, plan)


def test_chart_is_a_png_of_sensible_size(store: Store, team: Team) -> None:
    seed(store)
    data = collect(store, team, team.reps[0], DIGEST_AT)
    png = render_chart(data.week, data.month, DIGEST_AT.date())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # IHDR
    assert (width, height) == (900, 360)
    assert 5_000 < len(png) < 300_000


def test_a_long_digest_is_split_between_lines_for_slack() -> None:
    from bot.models import CommandReply
    from bot.surfaces.slack import render_reply

    text = "\n".join(f"• Buyer {n} <https://slack.com/app_redirect?channel=C1&message_ts={n}.0|open card>"
                     for n in range(120))
    sections = [b["text"]["text"] for b in render_reply(CommandReply(text))]
    assert len(sections) > 1 and all(len(s) <= 3000 for s in sections)
    assert all(s.startswith("• Buyer") and s.endswith("|open card>") for s in sections)


def test_outcomes_migration_backfills_existing_drafts() -> None:
    """A database from before m_digest_outcomes gets its drafts' copies filled in at start-up."""
    import sqlite3

    import sqlite_utils

    from bot import migrations

    db = sqlite_utils.Database(sqlite3.connect(":memory:", isolation_level=None))
    names = [name for name, _ in migrations.MIGRATIONS]
    for _, fn in migrations.MIGRATIONS[:names.index("m_digest_outcomes")]:
        fn(db)
    db.executescript(
        """
        INSERT INTO contacts VALUES (1, 'whatsapp:+34612345678', '+34612345678', 'whatsapp', 'L', 'ES', NULL, 't');
        INSERT INTO conversations (id, contact_id, created_at, updated_at) VALUES (1, 1, 't', 't');
        INSERT INTO messages (id, conversation_id, contact_id, direction, body, at)
            VALUES (7, 1, 1, 'in', 'Hola', '2026-03-01T10:00:00+00:00');
        INSERT INTO drafts (id, message_id, conversation_id, text, language, translation, back_translation, intent,
            source, state, created_at, decided_at)
            VALUES (3, 7, 1, 'x', 'es', 'x', 'x', 'x', 'template', 'sent', 't', '2026-03-01T10:05:00+00:00');
        INSERT INTO decisions (draft_id, action, actor, surface, policy, at)
            VALUES (3, 'edit', 'U1', 'slack', 'manual', '2026-03-01T10:05:00+00:00');
        """
    )
    migrations.m_digest_outcomes(db)
    row = db.execute("SELECT message_at, decision_action, decision_policy, decided_by FROM drafts").fetchone()
    assert row == ("2026-03-01T10:00:00+00:00", "edit", "manual", "slack:U1")
