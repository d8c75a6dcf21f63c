"""Follow-ups through the real runtime with the console surface and channel and an injected clock.

Stages are set with plain SQL (test setup: stage detection is another module's job).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import store_followups as sf
from bot.app import Runtime, build_runtime
from bot.business_time import zone
from bot.channels.console import ConsoleChannel
from bot.config import Settings
from bot.models import Action, ButtonPress, CommandRequest, DecisionRequest, IncomingMessage, Message
from bot.playbooks import Playbook, PlaybookSchema
from bot.surfaces.console import ConsoleSurface
from handlers.commands import press_button, run_command
from handlers.followups import _autonomy_and_note
from handlers.inbound import write_draft

MADRID = "whatsapp:+34612345678"
RIYADH = "whatsapp:+966501234567"
_sids = itertools.count(1)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.t

    def set(self, moment: datetime) -> None:
        self.t = moment.astimezone(UTC)


def at(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone(tz))  # type: ignore[misc]


@dataclass
class Bot:
    rt: Runtime
    clock: Clock
    out: list[str] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.rt.store

    @property
    def surface(self) -> ConsoleSurface:
        surface = self.rt.services.surface
        assert isinstance(surface, ConsoleSurface)
        return surface

    @property
    def channel(self) -> ConsoleChannel:
        channel = self.rt.services.channel
        assert isinstance(channel, ConsoleChannel)
        return channel

    async def buyer(self, body: str, address: str = MADRID, name: str | None = "Lucía") -> Message:
        message, _ = self.rt.inbox.receive(IncomingMessage(f"SM{next(_sids):032d}", address, body, "whatsapp",
                                                           profile_name=name))
        await self.rt.inbox.drain()
        return message

    async def rep_sends(self, draft_id: int) -> str | None:
        return await self.rt.inbox.decide(DecisionRequest(draft_id, Action.SEND, "U1", "console"))

    def stage(self, conversation_id: int, stage: str) -> None:
        self.store.db.execute("UPDATE conversations SET stage = ?, stage_changed_at = ? WHERE id = ?",
                              [stage, self.clock.now().isoformat(), conversation_id])

    async def tick(self) -> Any:
        assert self.rt.followups is not None
        return await self.rt.followups.tick()

    def q(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.store.db.execute(sql, params or []).fetchall()]

    def rows(self, playbook: str | None = None) -> list[tuple[int, str]]:
        sql = "SELECT f.step, f.state FROM follow_ups f JOIN enrollments e ON e.id = f.enrollment_id"
        params: list[Any] = []
        if playbook:
            sql += " WHERE e.playbook = ?"
            params.append(playbook)
        return [(r[0], r[1]) for r in self.store.db.execute(sql + " ORDER BY f.id", params).fetchall()]

    def followup_cards(self) -> list[Any]:
        cards = [self.surface.cards[ref] for ref in self.surface.shown]
        return [c for c in cards if c.draft.notice and "Follow-up" in c.draft.notice]

    def notices(self) -> list[str]:
        return [line for line in self.out if line.startswith("\n» ")]

    async def command(self, name: str, args: str = "") -> str:
        reply = await run_command(self.rt.services, CommandRequest(name, args, "U1", "console"))
        return reply.text

    async def press(self, action: str, value: str) -> str:
        reply = await press_button(self.rt.services, ButtonPress(action, value, "U1", "console"))
        assert reply is not None
        return reply.text


def make_bot(db: str, clock: Clock) -> Bot:
    bot = Bot(rt=None, clock=clock)  # type: ignore[arg-type]
    settings = Settings(_env_file=None, trademate_db=db)  # type: ignore[call-arg]
    bot.rt = build_runtime(settings, clock=clock, surface=ConsoleSurface(out=bot.out.append),
                           channel=ConsoleChannel(out=bot.out.append))
    return bot


@pytest.fixture
def bot() -> Iterator[Bot]:
    b = make_bot(":memory:", Clock(at("Europe/Madrid", 2026, 3, 2, 10, 0)))  # Monday 10:00 in Madrid
    yield b
    b.rt.close()


async def quoted(bot: Bot) -> int:
    """A buyer asks, the rep answers, then the conversation is marked quoted at 10:30 Madrid on Monday."""
    message = await bot.buyer("Hola, ¿precio del termo de 500 ml para 1000 unidades?")
    assert await bot.rep_sends(bot.store.pending_drafts()[0].id) is None
    bot.clock.set(at("Europe/Madrid", 2026, 3, 2, 10, 30))
    bot.stage(message.conversation_id, "quoted")
    return message.conversation_id


async def test_quote_without_reply_fires_each_step_once_on_the_buyers_business_days(bot: Bot) -> None:
    await quoted(bot)
    report = await bot.tick()
    assert report.enrolled == 1 and report.fired == 0
    due = [d[0] for d in bot.q(
        "SELECT f.due_at FROM follow_ups f JOIN enrollments e ON e.id = f.enrollment_id "
        "WHERE e.playbook = 'quote_no_reply' ORDER BY step")]
    madrid = [datetime.fromisoformat(d).astimezone(zone("Europe/Madrid")).replace(tzinfo=None) for d in due]
    assert madrid == [datetime(2026, 3, 5, 10, 30), datetime(2026, 3, 11, 10, 30), datetime(2026, 3, 20, 10, 30)]

    bot.clock.set(at("Europe/Madrid", 2026, 3, 5, 10, 29))
    report = await bot.tick()
    assert report.fired == 0 and report.stopped == 1  # the rep had answered the inquiry: no nudge
    assert bot.rows("inquiry_unanswered") == [(0, "cancelled")]
    bot.clock.set(at("Europe/Madrid", 2026, 3, 5, 10, 31))
    report = await bot.tick()
    assert report.fired == 1
    cards = bot.followup_cards()
    assert len(cards) == 1 and "Follow-up 1/3: Quote sent, no reply." in cards[0].draft.notice
    assert cards[0].draft.state.value == "pending" and bot.channel.sent[1:] == []  # approval: nothing sent
    # The draft is attributed to its playbook (the digest's per-playbook shares) and the buyer is scored.
    assert bot.q(f"SELECT playbook FROM drafts WHERE id = {cards[0].draft.id}") == [("quote_no_reply",)]
    assert bot.q(f"SELECT label FROM lead_scores WHERE conversation_id = {cards[0].draft.conversation_id}")
    assert (await bot.tick()).fired == 0 and len(bot.followup_cards()) == 1

    # Regenerate keeps it that follow-up: the new draft is linked, attributed and noted the same way.
    first = cards[0].draft
    assert await bot.rt.inbox.decide(DecisionRequest(first.id, Action.REGENERATE, "U1", "console")) is None
    (again,) = bot.store.pending_drafts(first.conversation_id)
    assert again.id != first.id and "Follow-up 1/3: Quote sent, no reply." in (again.notice or "")
    assert bot.q(f"SELECT playbook FROM drafts WHERE id = {again.id}") == [("quote_no_reply",)]
    assert bot.q("SELECT draft_id FROM follow_ups WHERE state = 'presented'") == [(again.id,)]
    assert bot.rows("quote_no_reply") == [(0, "presented"), (1, "pending"), (2, "pending")]

    bot.clock.set(at("Europe/Madrid", 2026, 3, 25, 12, 0))
    assert (await bot.tick()).fired == 2
    assert bot.rows("quote_no_reply") == [(0, "presented"), (1, "presented"), (2, "presented")]
    assert bot.q("SELECT state FROM enrollments WHERE playbook = 'quote_no_reply'") == [("done",)]


async def test_a_buyer_reply_cancels_the_rest(bot: Bot) -> None:
    conversation = await quoted(bot)
    await bot.tick()
    bot.clock.set(at("Europe/Madrid", 2026, 3, 5, 11, 0))
    await bot.tick()
    await bot.buyer("Gracias, lo estamos revisando con el equipo")
    assert bot.rows("quote_no_reply") == [(0, "presented"), (1, "cancelled"), (2, "cancelled")]
    assert bot.q("SELECT state, stop_reason FROM enrollments WHERE conversation_id = ? AND "
                                "playbook = 'quote_no_reply'", [conversation]) == [
        ("stopped", "the buyer replied")]
    bot.clock.set(at("Europe/Madrid", 2026, 4, 30, 12, 0))
    assert (await bot.tick()).fired == 0
    assert len(bot.followup_cards()) == 1


async def test_a_stage_change_stops_the_enrollment(bot: Bot) -> None:
    conversation = await quoted(bot)
    await bot.tick()
    bot.stage(conversation, "negotiating")
    bot.clock.set(at("Europe/Madrid", 2026, 3, 30, 12, 0))
    report = await bot.tick()
    assert report.fired == 0 and bot.followup_cards() == []
    assert bot.q("SELECT stop_reason FROM enrollments WHERE playbook = 'quote_no_reply'") == [
        ("the stage changed to negotiating",)]
    assert bot.rows("quote_no_reply") == [(0, "cancelled"), (1, "cancelled"), (2, "cancelled")]


async def test_pause_holds_follow_ups_and_resume_asks_for_approval_when_outside_the_window(bot: Bot) -> None:
    await quoted(bot)
    await bot.tick()
    assert "paused" in await bot.command("pause", "Lucía")
    assert "already paused" in await bot.command("pause", "+34 612 345 678")
    bot.clock.set(at("Europe/Madrid", 2026, 3, 5, 11, 0))
    assert (await bot.tick()).fired == 0
    assert bot.rows("quote_no_reply")[0] == (0, "pending")
    bot.clock.set(at("Europe/Madrid", 2026, 3, 5, 20, 0))  # evening in Madrid: the window is closed
    assert "running again" in await bot.command("resume", "lucía")
    assert (await bot.tick()).fired == 1
    (card,) = bot.followup_cards()
    assert "Was due at Thu 05 Mar 10:30 Europe/Madrid; waiting for your approval." in card.draft.notice


async def test_commands_explain_bad_input(bot: Bot) -> None:
    await bot.buyer("Hello", address="whatsapp:+14155550123", name="Lucas")
    await bot.buyer("Hola", name="Lucía")
    assert "matches several buyers" in await bot.command("pause", "luc")
    assert "No buyer matches" in await bot.command("pause", "nobody")
    assert "Name the buyer" in await bot.command("resume", "")
    assert "Playbooks:" in await bot.command("enroll", "Lucía no_such_playbook")
    assert "were not paused" in await bot.command("resume", "Lucas")


async def test_enroll_followups_list_and_its_buttons(bot: Bot) -> None:
    await bot.buyer("Hola", name="Lucía")
    await bot.rep_sends(bot.store.pending_drafts()[0].id)
    assert "enrolled in *Sample sent* (2 step(s))" in await bot.command("enroll", "Lucía sample_sent")
    assert "already enrolled" in await bot.command("enroll", "Lucía sample_sent")
    assert "enrolled in *Quote sent, no reply*" in await bot.command("enroll", "Lucía quote_no_reply")
    bot.clock.set(at("Europe/Madrid", 2026, 3, 9, 8, 0))  # the next Monday: quote step 1 is due Thursday
    reply = await run_command(bot.rt.services, CommandRequest("followups", "", "U1", "console"))
    assert "*Later this week*" in reply.text and "Quote sent, no reply, step 1" in reply.text
    assert "*Due today*" in reply.text and "Sample sent, step 1" in reply.text  # Mon 2 + 5 business days
    ids = {b.action: b.value for b in reply.buttons}
    assert set(ids) == {"followup_send", "followup_snooze", "followup_skip"}
    sample_first = reply.buttons[0].value
    assert "snoozed to Tue 10 Mar" in await bot.press("followup_snooze", sample_first)
    assert "skipped" in await bot.press("followup_skip", sample_first)
    assert "already skipped" in await bot.press("followup_skip", sample_first)
    quote_first = next(b.value for b in reply.buttons[3:] if b.action == "followup_send")
    assert "ready for your approval" in await bot.press("followup_send", quote_first)
    (card,) = bot.followup_cards()
    assert "at your request" in card.draft.notice
    assert "already presented" in await bot.press("followup_send", quote_first)
    assert "no longer exists" in await bot.press("followup_send", "99999")


async def test_an_unanswered_inquiry_nudges_the_rep_after_two_working_hours(bot: Bot) -> None:
    bot.clock.set(at("UTC", 2026, 3, 6, 16, 30))  # Friday 16:30 for the rep (the team default zone is UTC)
    await bot.buyer("Hola, ¿hacen envíos a Valencia?")
    bot.clock.set(at("UTC", 2026, 3, 6, 17, 30))
    await bot.buyer("¿Y cuál es el pedido mínimo?")  # a second message does not restart the clock
    bot.clock.set(at("UTC", 2026, 3, 9, 9, 29))
    assert (await bot.tick()).fired == 0
    bot.clock.set(at("UTC", 2026, 3, 9, 9, 30))  # two working hours: Friday 16:30-18:00, Monday 09:00-09:30
    assert (await bot.tick()).fired == 1
    (nudge,) = [n for n in bot.notices() if "waiting for an answer" in n]
    assert "Lucía" in nudge and "since Fri 06 Mar 16:30" in nudge
    assert bot.rows("inquiry_unanswered") == [(0, "presented")]


async def test_the_rep_answering_cancels_the_nudge(bot: Bot) -> None:
    await bot.buyer("Hola")
    await bot.rep_sends(bot.store.pending_drafts()[0].id)
    bot.clock.set(at("Europe/Madrid", 2026, 3, 3, 10, 0))
    report = await bot.tick()
    assert report.fired == 0 and report.stopped == 1
    assert bot.rows("inquiry_unanswered") == [(0, "cancelled")]


async def test_a_dormant_customer_is_enrolled_once_after_90_days(bot: Bot) -> None:
    message = await bot.buyer("We received the goods, thanks", address=RIYADH, name="Omar")
    await bot.rep_sends(bot.store.pending_drafts()[0].id)
    bot.stage(message.conversation_id, "won")
    assert bot.rt.followups is not None
    bot.clock.set(bot.clock.now() + timedelta(days=89))
    assert await bot.rt.followups.scan_silence() == 0
    bot.clock.set(at("Asia/Riyadh", 2026, 6, 5, 12, 0))  # 95 days later, a Friday: Riyadh's weekend
    assert await bot.rt.followups.scan_silence() == 1
    assert await bot.rt.followups.scan_silence() == 0
    assert (await bot.tick()).fired == 0  # due Sunday 10:00 Riyadh, the next opening of its window
    bot.clock.set(at("Asia/Riyadh", 2026, 6, 7, 10, 1))
    assert (await bot.tick()).fired == 1
    (card,) = bot.followup_cards()
    assert "Dormant customer" in card.draft.notice


async def test_two_ticks_at_once_fire_each_follow_up_once(bot: Bot) -> None:
    for n in range(4):
        message = await bot.buyer(f"Hola {n}", address=f"whatsapp:+3461234560{n}", name=f"B{n}")
        await bot.rep_sends(bot.store.pending_drafts(message.conversation_id)[0].id)
        bot.stage(message.conversation_id, "quoted")
    await bot.tick()
    bot.clock.set(at("Europe/Madrid", 2026, 3, 5, 11, 0))
    reports = await asyncio.gather(bot.tick(), bot.tick(), bot.tick())
    assert sum(r.fired for r in reports) == 4
    assert len(bot.followup_cards()) == 4
    assert bot.q("SELECT COUNT(*) FROM follow_ups WHERE state = 'presented'") == [(4,)]


def test_restart_loses_nothing_and_fires_nothing_twice(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    clock = Clock(at("Europe/Madrid", 2026, 3, 2, 10, 0))
    first = make_bot(db, clock)

    async def before_crash() -> None:
        for n in range(4):
            message = await first.buyer(f"Hola {n}", address=f"whatsapp:+3461234560{n}", name=f"B{n}")
            await first.rep_sends(first.store.pending_drafts(message.conversation_id)[0].id)
            first.stage(message.conversation_id, "quoted")
        await first.tick()  # enrolls four quote playbooks, due Thursday 10:00 Madrid
        ids = [r[0] for r in first.q("SELECT f.id FROM follow_ups f JOIN enrollments e ON e.id = f.enrollment_id "
                                     "WHERE e.playbook = 'quote_no_reply' AND f.step = 0 ORDER BY f.id")]
        assert len(ids) == 4
        clock.set(at("Europe/Madrid", 2026, 3, 5, 10, 5))
        # Crash 1: a row claimed and nothing else. Crash 2: claimed and its draft written, not yet linked.
        assert sf.claim(first.store, ids[0], clock.now())
        assert sf.claim(first.store, ids[1], clock.now())
        row = sf.follow_up(first.store, ids[1])
        last = sf.last_message_id(first.store, row.conversation_id)
        assert last is not None
        await write_draft(first.rt.services, first.store.message(last), hint="check in", follow_up=True)

    asyncio.run(before_crash())
    drafts_before = first.q("SELECT COUNT(*) FROM drafts")[0][0]
    first.rt.close()

    clock.set(at("Europe/Madrid", 2026, 3, 9, 12, 0))  # back on Monday noon: everything is overdue
    second = make_bot(db, clock)

    async def after_restart() -> None:
        report = await second.tick()
        assert report.resumed == 2 and report.fired == 4 and not report.errors
        assert (await second.tick()).fired == 0

    asyncio.run(after_restart())
    drafts = second.q("SELECT COUNT(*) FROM drafts")[0][0]
    assert drafts == drafts_before + 3  # the half-done draft was adopted, not written again
    assert len(second.followup_cards()) == 4
    assert second.q("SELECT COUNT(DISTINCT draft_id) FROM follow_ups WHERE state = 'presented'") == [(4,)]
    # Due Thursday, fired Monday noon inside the window but more than a day late: the rep approves.
    assert all("Was due at Thu 05 Mar 10:00" in c.draft.notice for c in second.followup_cards())
    assert second.q("SELECT f.step, f.state, COUNT(*) FROM follow_ups f JOIN enrollments e ON "
                    "e.id = f.enrollment_id WHERE e.playbook = 'quote_no_reply' AND f.step > 0 "
                    "GROUP BY f.step, f.state") == [(1, "pending", 4), (2, "pending", 4)]  # not lost
    second.rt.close()


@pytest.mark.parametrize("phrase", ["STOP", "Unsubscribe please", "Baja", "désabonner", "Abmelden bitte",
                                    "отписаться", "退订", "إلغاء الاشتراك", "darme de baja por favor", "stop!!"])
async def test_an_opt_out_in_any_language_stops_everything_and_is_enforced_at_send(bot: Bot, phrase: str) -> None:
    conversation = await quoted(bot)
    await bot.tick()
    message = await bot.buyer(phrase)
    assert bot.q("SELECT phrase FROM opt_outs") != []
    (notice,) = [n for n in bot.notices() if "opted out" in n]
    assert "Lucía" in notice and "will not message them again" in notice
    assert {state for _, state in bot.rows("quote_no_reply")} == {"cancelled"}
    # The card for the opt-out message still reaches the rep; sending from it is refused at the outbox.
    draft = bot.store.pending_drafts(conversation)[-1]
    assert draft.message_id == message.id
    sent_before = len(bot.channel.sent)
    assert await bot.rep_sends(draft.id) is None
    assert len(bot.channel.sent) == sent_before
    card = bot.surface.cards[f"card-{draft.id}"]
    assert card.problem is not None and "opted out" in card.problem
    assert bot.q("SELECT state FROM outbox WHERE draft_id = ?", [draft.id]) == [("refused",)]
    assert "opted out" in await bot.command("enroll", "Lucía quote_no_reply")
    bot.stage(conversation, "sample")  # a later stage change enrolls nothing either
    bot.clock.set(at("Europe/Madrid", 2026, 5, 1, 12, 0))
    report = await bot.tick()
    assert report.enrolled == 0 and report.fired == 0


@pytest.mark.parametrize("text", ["stop by our booth at Canton Fair", "the baja price is fine", "STOP the 2nd shipment",
                                  "Can I unsubscribe my colleague and add me instead of him to the list?"])
async def test_ordinary_messages_with_those_words_do_not_opt_out(bot: Bot, text: str) -> None:
    await bot.buyer(text)
    assert bot.q("SELECT COUNT(*) FROM opt_outs") == [(0,)]


def test_the_rule_for_late_follow_ups() -> None:
    spec = PlaybookSchema.model_validate({"title": "T", "trigger": {"type": "manual"}, "steps": [
        {"wait": {"hours": 1}, "prompt": "p", "autonomy": "auto_if_safe"}]})
    playbook = Playbook("t", Path("t.yaml"), spec)
    step, window = spec.steps[0], playbook.window("Europe/Madrid", "ES")
    due = at("Europe/Madrid", 2026, 3, 2, 10, 0)

    def rule(now: datetime, asked: bool = False) -> tuple[str, str]:
        return _autonomy_and_note(playbook, 0, step, due, now, window, asked)

    assert rule(due + timedelta(minutes=3)) == ("auto_if_safe", "Follow-up 1/1: T.")
    assert rule(due + timedelta(hours=5))[0] == "auto_if_safe"  # late, window open, under a day: as written
    late_evening = rule(at("Europe/Madrid", 2026, 3, 2, 19, 0))  # window closed
    assert late_evening == ("approve", "Follow-up 1/1: T. Was due at Mon 02 Mar 10:00 Europe/Madrid; "
                                       "waiting for your approval.")
    assert rule(due + timedelta(days=1, hours=1))[0] == "approve"  # window open, but more than a day late
    assert rule(due, asked=True)[0] == "approve"


def test_stage_changes_made_while_down_are_enrolled_after_restart_without_rescanning(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    clock = Clock(at("Europe/Madrid", 2026, 3, 2, 10, 0))
    first = make_bot(db, clock)

    async def before() -> int:
        message = await first.buyer("Hola")
        await first.rep_sends(first.store.pending_drafts()[0].id)
        await first.tick()  # the scan mark is now Monday 10:00
        return message.conversation_id

    conversation = asyncio.run(before())
    first.rt.close()
    clock.set(at("Europe/Madrid", 2026, 3, 2, 15, 0))
    second = make_bot(db, clock)
    assert sf.mark(second.store, "stage_scan") == at("Europe/Madrid", 2026, 3, 2, 10, 0)
    clock.set(at("Europe/Madrid", 2026, 3, 2, 12, 0))
    second.stage(conversation, "sample")  # written while no tick ran (say, by a process being stopped)
    clock.set(at("Europe/Madrid", 2026, 3, 2, 15, 0))
    report = asyncio.run(second.tick())
    assert report.enrolled == 1 and second.rows("sample_sent") == [(0, "pending"), (1, "pending")]
    assert asyncio.run(second.tick()).enrolled == 0
    second.rt.close()
