"""The autonomy path in process with the console surface and channel (real adapters, no network):
what a playbook step hands `present_draft` (a level and a template), the ceiling, SMS without a window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import Runtime, build_runtime
from bot.channels.console import ConsoleChannel
from bot.config import Settings
from bot.models import IncomingMessage
from bot.surfaces.console import ConsoleSurface, render_card
from handlers import autosend
from handlers.inbound import present_draft, write_draft

ROOT = Path(__file__).resolve().parent.parent


class StepClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


def _runtime(tmp_path: Path, clock: StepClock, out: list[str]) -> tuple[Runtime, ConsoleChannel, ConsoleSurface]:
    team = tmp_path / "team.yaml"
    team.write_text("reps:\n  - name: Asha\nautonomy:\n  default: approve\n  ceiling: auto_if_safe\n")
    settings = Settings(_env_file=None, trademate_db=str(tmp_path / "t.db"), trademate_team=str(team),  # type: ignore[call-arg]
                        trademate_undo_seconds=60, trademate_templates=str(ROOT / "templates.yaml"))
    surface, channel = ConsoleSurface(out=out.append), ConsoleChannel(out=out.append)
    return build_runtime(settings, clock=clock, surface=surface, channel=channel), channel, surface


def test_a_step_template_goes_out_by_itself_outside_the_window_capped_by_the_ceiling(tmp_path: Path) -> None:
    clock, out = StepClock(), []
    rt, channel, surface = _runtime(tmp_path, clock, out)
    svc = rt.services

    async def scenario() -> None:
        message, _ = rt.inbox.receive(IncomingMessage("SM1", "whatsapp:+34612345678", "Hola, ¿tienen termos?",
                                                      "whatsapp", profile_name="Lucía Romero"))
        await rt.inbox.drain()
        first = surface.cards[surface.shown[0]]
        assert first.auto_send_at is None and first.window == "window closes in 24 h"  # team default: approve
        clock.at += timedelta(days=3)  # silence; a playbook step fires
        draft = await write_draft(svc, message, hint="re-engage the buyer")
        await present_draft(svc, draft.id, autonomy="auto", template="reopen_conversation")
        card = surface.cards[surface.shown[-1]]
        assert card.window == "window closed: template only" and card.template_offer == "reopen_conversation"
        assert card.auto_send_at == clock.at + timedelta(seconds=60)
        assert "auto_if_safe" in (card.auto_note or "")  # "auto" asked, the ceiling allows auto_if_safe
        assert "Sends by itself" in render_card(card)
        assert await autosend.fire_due(svc) == 0 and channel.sent == []  # still inside the undo delay
        clock.at += timedelta(seconds=61)
        assert await autosend.fire_due(svc) == 1
        assert await autosend.fire_due(svc) == 0  # fired once, whatever the ticks
        await rt.inbox.drain()

    asyncio.run(scenario())
    assert len(channel.sent) == 1
    assert channel.sent[0][2].startswith("template HX2c3d4e5f60718293a4b5c6d7e8f90a1b {{1}}=Lucía")
    rows = rt.store.db.execute("SELECT actor, surface, policy FROM decisions").fetchall()
    assert [tuple(r) for r in rows] == [("trademate", "auto", "auto_if_safe")]
    outbox = rt.store.db.execute("SELECT idem_key, content_sid FROM outbox").fetchall()
    assert [tuple(r) for r in outbox] == [("template:2", "HX2c3d4e5f60718293a4b5c6d7e8f90a1b")]
    rt.close()


def test_sms_buyers_have_no_window(tmp_path: Path) -> None:
    clock, out = StepClock(), []
    rt, _, surface = _runtime(tmp_path, clock, out)

    async def scenario() -> None:
        rt.inbox.receive(IncomingMessage("SM1", "+14155550123", "Hi, what's your MOQ?", "sms"))
        await rt.inbox.drain()

    asyncio.run(scenario())
    card = surface.cards[surface.shown[0]]
    assert card.window is None and card.template_offer is None and card.stage == "qualified"
    assert "deal:" in render_card(card) and "window" not in render_card(card)
    rt.close()


def test_an_unknown_level_from_a_caller_still_shows_the_card_and_waits(tmp_path: Path) -> None:
    clock, out = StepClock(), []
    rt, channel, surface = _runtime(tmp_path, clock, out)

    async def scenario() -> None:
        message, _ = rt.inbox.receive(IncomingMessage("SM1", "whatsapp:+34612345678", "Hola", "whatsapp"))
        await rt.inbox.drain()
        draft = await write_draft(rt.services, message)
        await present_draft(rt.services, draft.id, autonomy="whenever")
        clock.at += timedelta(hours=1)
        assert await autosend.fire_due(rt.services) == 0

    asyncio.run(scenario())
    assert len(surface.shown) == 2 and surface.cards[surface.shown[-1]].auto_send_at is None
    assert channel.sent == []
    rt.close()


def test_an_automatic_send_is_dropped_when_the_window_closes_during_the_delay(tmp_path: Path) -> None:
    clock, out = StepClock(), []
    rt, channel, surface = _runtime(tmp_path, clock, out)

    async def scenario() -> None:
        message, _ = rt.inbox.receive(IncomingMessage("SM1", "whatsapp:+34612345678", "Hola", "whatsapp"))
        await rt.inbox.drain()
        clock.at += timedelta(hours=23, minutes=59, seconds=30)  # 30 s of window left, 60 s of undo delay
        draft = await write_draft(rt.services, message)
        assert draft.flags == () and draft.unknown_numbers == ()
        await present_draft(rt.services, draft.id, autonomy="auto_if_safe")
        assert surface.cards[surface.shown[-1]].auto_send_at is not None
        clock.at += timedelta(seconds=61)
        assert await autosend.fire_due(rt.services) == 0

    asyncio.run(scenario())
    assert channel.sent == []
    assert [tuple(r) for r in rt.store.db.execute("SELECT state FROM auto_sends")] == [("dropped",)]
    assert "Not sent automatically" in (surface.cards[surface.shown[-1]].auto_note or "")
    rt.close()
