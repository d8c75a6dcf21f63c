"""Telegram rendering (pure) and TelegramSurface against FakeTelegram through the real PTB bot:
escaping, splitting, callback data, multi-part card updates, the fan-out and the settings rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.errors import TrademateError
from bot.models import Action, Card, Contact, Decision, Draft, DraftState, Message, Outbound, OutboxState
from bot.store import Store
from bot.surfaces import telegram_render as render
from bot.surfaces.fanout import FanOutSurface
from bot.surfaces.slack import SlackSurface
from bot.surfaces.slack import build_client as slack_client
from bot.surfaces.telegram import TelegramSurface, build_application, is_telegram_chat, split_card_ref
from tests.drivers import telegram_html
from tests.fakes import REP_CHAT_ID, SLACK_TOKEN, TELEGRAM_TOKEN, FakeSlack, FakeTelegram

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
HOSTILE = "<b>x</b> & _y_ *z* </blockquote><a href=\"tg://x\">"


def make_card(text: str = "Hola, ¿qué cantidad necesita?", *, body: str = "Hola", draft_id: int = 7,
              state: DraftState = DraftState.PENDING, decision: Decision | None = None,
              outbound: Outbound | None = None, destination: str | None = None,
              unknown: tuple[str, ...] = ()) -> Card:
    contact = Contact(1, "whatsapp:+34612345678", "+34612345678", "whatsapp", name="Lucía <CEO>", country="ES",
                      timezone="Europe/Madrid")
    message = Message(3, 1, 1, "in", body, NOW, media=("https://api.twilio.com/M1.jpg?a=1&b=2",))
    draft = Draft(draft_id, 3, 1, text, "es", "Hello & welcome", "Hello, what quantity?", "greeting", ("price",),
                  unknown, "llm", "Fallback <notice>", state, NOW)
    return Card(contact, message, draft, "10:30 (Europe/Madrid)", outbound=outbound, decision=decision,
                destination=destination)


# --- pure rendering -------------------------------------------------------------------------------


def test_everything_anyone_wrote_is_escaped() -> None:
    card = make_card(HOSTILE, body=HOSTILE, unknown=("<9>",))
    [text] = render.render_card(card)
    visible = telegram_html(text)  # balanced, only Telegram's tags
    assert visible.count(HOSTILE) == 2
    assert "Lucía <CEO>" in visible and "Fallback <notice>" in visible and "Review numbers: <9>" in visible
    assert 'href="https://api.twilio.com/M1.jpg?a=1&amp;b=2"' in text
    assert "<b>x</b>" not in text


def test_decided_card_shows_who_what_and_the_ticks() -> None:
    decision = Decision(1, 7, Action.EDIT, "501234567", "telegram", NOW, "Hola & adiós")
    outbound = Outbound(1, 7, "draft:7", "whatsapp:+34612345678", "Hola & adiós", OutboxState.DELIVERED, 1)
    [text] = render.render_card(make_card(state=DraftState.SENT, decision=decision, outbound=outbound))
    visible = telegram_html(text)
    assert "Edited and sent by 501234567 at 09:30 UTC · ✓✓ delivered" in visible
    assert "Text sent\nHola & adiós" in visible


def test_callback_data_is_short_and_round_trips() -> None:
    for action in Action:
        data = render.card_callback(action, 2_147_483_647)
        assert len(data.encode()) <= 64 and render.parse_card_callback(data) == (action, 2_147_483_647)
    assert render.parse_card_callback("tm:x:1") is None and render.parse_card_callback("tm:s:abc") is None
    assert render.button_callback("followup_send", "42") == "tmb:followup_send:42"
    assert render.button_callback("followup_send", "ü" * 40) is None  # 80 bytes: must be stored
    assert render.parse_button_callback("tmb:followup_send:a:b") == ("followup_send", "a:b")


def test_split_plain_breaks_between_words_and_cuts_only_overlong_words() -> None:
    text = "alpha beta gamma delta " * 5 + "x" * 25
    chunks = render.split_plain(text, lambda s: len(s) <= 12)
    assert all(len(c) <= 12 for c in chunks)
    assert " ".join(chunks[:-3]).split() == text.split()[:-1]
    assert "".join(chunks[-3:]) == "x" * 25


@pytest.mark.parametrize("unit", ["a&b<c> ", "🇪🇸 ", "palabra "])
def test_pack_keeps_each_part_within_4096_utf16_units(unit: str) -> None:
    draft = (unit * (9000 // len(unit))).strip()
    parts = render.render_card(make_card(draft))
    assert len(parts) >= 2
    visible = "".join(telegram_html(p) for p in parts)  # every part is valid HTML on its own
    assert all(render.units(p) <= render.MESSAGE_LIMIT for p in parts)
    header = telegram_html(render.render_card(make_card("-"))[0]).count(unit.strip())  # the flag 🇪🇸
    assert visible.count(unit.strip()) == draft.count(unit.strip()) + header  # nothing lost or broken


def test_markdown_replies_become_html_and_stray_markers_stay_literal() -> None:
    html = render.markdown_html("*Trademate* uses `a<b>` & _care_ but 2*3 and snake_case stay")
    assert html == "<b>Trademate</b> uses <code>a&lt;b&gt;</code> &amp; <i>care</i> but 2*3 and snake_case stay"
    telegram_html(html)


def test_refs_and_destinations() -> None:
    assert split_card_ref("-1001234:56") == (-1001234, 56)
    with pytest.raises(ValueError):
        split_card_ref("C0123:1718000000.000100")
    assert is_telegram_chat("-1001234") and is_telegram_chat("@sales") and not is_telegram_chat("C0SALES001")


# --- the surface against the fake ---------------------------------------------------------------


@pytest.fixture
async def surface(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramSurface]:
    app = build_application(fake_telegram.token or "", fake_telegram.url, polling=False)
    store = Store()
    async with app.bot:
        yield TelegramSurface(app.bot, store, str(REP_CHAT_ID))
    store.close()


def _texts(fake: FakeTelegram) -> list[str]:
    with fake.lock:
        return [m["text"] for m in fake.sent.values()]


async def test_multi_part_cards_are_updated_part_by_part(surface: TelegramSurface, fake_telegram: FakeTelegram) -> None:
    long_draft = "palabra " * 700  # ~5600 characters: two messages
    ref = await surface.request_approval(make_card(long_draft))
    sends = fake_telegram.args("sendMessage")
    assert len(sends) == 2 and "reply_markup" not in sends[0] and "inline_keyboard" in sends[1]["reply_markup"]
    chat, last = split_card_ref(ref)
    assert (chat, last) == (REP_CHAT_ID, max(m for _, m in fake_telegram.sent))

    # Same card again: Telegram says "message is not modified" for both parts; that is success.
    await surface.update_card(ref, make_card(long_draft))
    assert len(fake_telegram.args("editMessageText")) == 2

    # A regenerated, short draft: one part left, the other message deleted, keyboard kept.
    await surface.update_card(ref, make_card("Corto."))
    assert len(fake_telegram.args("deleteMessage")) == 1
    edited = fake_telegram.args("editMessageText")[-1]
    assert "Corto." in edited["text"] and "inline_keyboard" in edited["reply_markup"]

    # A longer one again: the card grows by a new message below, which now holds the keyboard.
    await surface.update_card(ref, make_card("otra " * 1200))
    assert len(fake_telegram.args("sendMessage")) == 3
    assert "inline_keyboard" in fake_telegram.args("sendMessage")[-1]["reply_markup"]
    assert "reply_markup" not in fake_telegram.args("editMessageText")[-1]

    # Decided: the keyboard disappears from the (new) last part.
    await surface.update_card(ref, make_card("otra " * 1200, state=DraftState.DISCARDED))
    assert "Discarded" in fake_telegram.args("editMessageText")[-1]["text"]
    assert all("reply_markup" not in m for m in fake_telegram.sent.values())


async def test_cards_go_to_their_destination_and_errors_read_plainly(surface: TelegramSurface,
                                                                    fake_telegram: FakeTelegram) -> None:
    ref = await surface.request_approval(make_card(destination="-1009876"))
    assert ref.startswith("-1009876:")
    fake_telegram.fail_next("/sendMessage", 400, {"ok": False, "error_code": 400,
                                                  "description": "Bad Request: chat not found"})
    with pytest.raises(TrademateError, match=r"(?i)chat not found.*TELEGRAM_CHAT_ID"):
        await surface.request_approval(make_card())
    fake_telegram.fail_next("/sendMessage", 429, times=1)
    await surface.post("Digest: 3 buyers waiting & 1 <late> reply")  # 429 once, then it goes through
    assert _texts(fake_telegram)[-1] == "Digest: 3 buyers waiting &amp; 1 &lt;late&gt; reply"


async def test_fan_out_routes_cards_by_destination_and_refs(surface: TelegramSurface, fake_telegram: FakeTelegram,
                                                            fake_slack: FakeSlack) -> None:
    slack = SlackSurface(slack_client(SLACK_TOKEN, fake_slack.url + "/api/"), "C0SALES001")
    both = FanOutSurface(slack, surface)
    slack_ref = await both.request_approval(make_card())
    tg_ref = await both.request_approval(make_card(destination=str(REP_CHAT_ID)))
    assert slack_ref.startswith("C0SALES001:") and tg_ref.startswith(f"{REP_CHAT_ID}:")
    await both.update_card(tg_ref, make_card(destination=str(REP_CHAT_ID), state=DraftState.DISCARDED))
    await both.update_card(slack_ref, make_card(state=DraftState.DISCARDED))
    assert len(fake_telegram.args("editMessageText")) == 1 and len(fake_slack.calls("chat.update")) == 1
    await both.post("hello")
    assert fake_slack.args("chat.postMessage")[-1]["text"] == "hello" and _texts(fake_telegram)[-1] == "hello"


# --- settings -------------------------------------------------------------------------------------


def _settings(**values: Any) -> Settings:
    base = {"twilio_account_sid": "AC1", "twilio_auth_token": "t", "twilio_from": "+1415",
            "trademate_public_url": "https://trademate.test"}
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def test_a_telegram_only_setup_is_valid_and_mistakes_are_named(tmp_path: Path) -> None:
    ok = _settings(telegram_bot_token="1:x", telegram_chat_id="-100123", telegram_webhook_secret="s3cr3t-_")
    assert ok.problems(serving=True) == []
    assert ok.telegram_webhook_url == "https://trademate.test/telegram/webhook"
    missing = _settings(telegram_bot_token="1:x").problems(serving=True)
    assert any("TELEGRAM_CHAT_ID" in p for p in missing) and any("TELEGRAM_WEBHOOK_SECRET" in p for p in missing)
    bad = _settings(telegram_bot_token="1:x", telegram_chat_id="1", telegram_webhook_secret="no spaces!")
    assert any("A-Z, a-z, 0-9" in p for p in bad.problems(serving=True))
    assert any("TELEGRAM_BOT_TOKEN" in p for p in _settings().problems(serving=True))
    assert _settings(trademate_public_url="", telegram_bot_token="1:x").telegram_webhook_url == ""


# --- translators against recorded payloads --------------------------------------------------------


def _update(name: str) -> Any:
    from telegram import Bot, Update

    data = json.loads((PAYLOADS / name).read_text())
    return Update.de_json(data, Bot(TELEGRAM_TOKEN))


def test_translate_tap_and_command_from_recorded_updates() -> None:
    from bot.surfaces.telegram_bot import translate_command, translate_tap

    req = translate_tap(_update("telegram_callback_query.json").callback_query)
    assert req is not None and (req.draft_id, req.action, req.actor, req.surface) == (42, Action.SEND, "501234567",
                                                                                      "telegram")
    assert req.extra == {"chat_id": "-1001987654321", "message_id": "1043"}
    message = _update("telegram_command.json").message
    cmd = translate_command(message, "trademate_test_bot")
    assert cmd is not None and (cmd.name, cmd.args, cmd.actor, cmd.channel) == (
        "bgcheck", "acme-exports.com", "501234567", "-1001987654321")
    assert translate_command(message, "another_bot") is None  # "/bgcheck@trademate_test_bot" is not for it
