"""Telegram end to end: the real app served by uvicorn, the real python-telegram-bot Application
against FakeTelegram (webhook posts with the secret header, and getUpdates long polling), the real
twilio client against FakeTwilio. Assertions are on what the fakes received and on the database.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.models import Action, ButtonPress, CommandReply, CommandRequest, ReplyButton
from tests.drivers import (
    LLM_ANSWER,
    PUBLIC,
    TELEGRAM_SECRET,
    TelegramDriver,
    check_callbacks,
    check_part,
    running,
    telegram_settings,
)
from tests.fakes import (
    BUYER_WHATSAPP,
    REP_CHAT_ID,
    SLACK_TOKEN,
    FakeLLM,
    FakeSlack,
    FakeTelegram,
    FakeTwilio,
    callback_update,
    text_update,
)
from tests.serving import eventually


@pytest.fixture
def llm(fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    fake_llm.default = lambda request: LLM_ANSWER
    return fake_llm


@pytest.fixture
def tg(tmp_path: Path, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, llm: FakeLLM) -> Iterator[TelegramDriver]:
    settings = telegram_settings(tmp_path, fake_twilio, fake_telegram, trademate_model="openai:gpt-4o-mini",
                                 trademate_model_timeout=5)
    with running(settings, lambda url, rt: TelegramDriver(url, rt, fake_twilio, telegram=fake_telegram)) as d:
        yield d  # type: ignore[misc]


def test_buyer_message_becomes_a_card_with_a_keyboard(tg: TelegramDriver) -> None:
    assert tg.buyer_writes("Hola, ¿precio del termo de 500 ml?", profile_name="Lucía").status_code == 200
    card = tg.card()
    sent = tg.fake.messages()[-1]
    assert sent["chat_id"] == REP_CHAT_ID and sent["parse_mode"] == "HTML"
    visible = check_part(sent["text"])
    assert "Lucía" in visible and "+919876543210" in visible
    assert LLM_ANSWER["reply"] in visible and LLM_ANSWER["back_translation"] in visible
    data = check_callbacks(card["reply_markup"])
    assert tg.actions(card) == ["send", "edit", "regenerate", "discard"]
    draft_id = tg.db("SELECT id FROM drafts")[0][0]
    assert data == [f"tm:{c}:{draft_id}" for c in "serd"]  # opaque ids, never the draft
    ref = f"{REP_CHAT_ID}:{card['message_id']}"
    eventually(lambda: tg.db("SELECT card_ref FROM drafts") == [(ref,)], what="card ref stored")


def test_tap_send_answers_sends_once_and_edits_the_card(tg: TelegramDriver) -> None:
    tg.buyer_writes("Hola")
    card = tg.card()
    assert tg.tap(Action.SEND, card) == 200
    tg.fake.wait_for("/answerCallbackQuery")
    answer = tg.fake.args("answerCallbackQuery")[-1]
    assert answer["callback_query_id"] and not answer.get("show_alert") and answer["text"] == "Sending…"
    sent = tg.twilio.wait_for("/Messages.json").form
    assert sent["To"] == BUYER_WHATSAPP and sent["Body"] == LLM_ANSWER["reply"]
    text = tg.wait_card_saying("Sent by")
    check_part(text)
    assert f'tg://user?id={REP_CHAT_ID}' in text
    assert "reply_markup" not in tg.fake.sent[(REP_CHAT_ID, card["message_id"])]  # keyboard gone
    assert tg.db("SELECT actor, surface FROM decisions") == [(str(REP_CHAT_ID), "telegram")]

    tg.delivery("delivered")
    tg.wait_card_saying("delivered")
    assert len(tg.twilio.sent()) == 1

    redelivered = callback_update(check_callbacks(card["reply_markup"])[0], card, update_id=800_000_001)
    assert tg.push(redelivered) == 200 and tg.push(redelivered) == 200  # Telegram retrying one update
    tg.fake.wait_for("/answerCallbackQuery", count=2)
    assert tg.refusals() == 1  # one "already sent" for the one new tap, none for the redelivery
    metrics = httpx.get(tg.url + "/metrics").text
    assert 'trademate_webhooks_total{route="telegram_webhook",outcome="duplicate"} 1' in metrics

    tg.push(callback_update("something-old", card))  # a button we never made: answered, ignored
    tg.fake.wait_for("/answerCallbackQuery", count=3)
    answer = tg.fake.args("answerCallbackQuery")[-1]
    assert answer["show_alert"] is True and "no longer supported" in answer["text"]
    assert len(tg.fake.args("answerCallbackQuery")) == 3
    assert len(tg.twilio.sent()) == 1


def test_a_slow_send_still_stops_the_spinner_at_once(tg: TelegramDriver) -> None:
    from bot.surfaces.telegram_bot import TelegramBot

    telegram_bot = next(e.__self__ for e in tg.runtime.edges  # type: ignore[attr-defined]
                        if isinstance(getattr(e, "__self__", None), TelegramBot))
    telegram_bot.answer_within = 0.05
    tg.buyer_writes("Hola")
    card = tg.card()
    tg.twilio.slow_next("/Messages.json", 0.6, method="POST")
    tg.tap(Action.SEND, card)
    tg.fake.wait_for("/answerCallbackQuery")
    assert tg.fake.args("answerCallbackQuery")[-1]["text"] == "Working on it…"
    assert tg.twilio.sent() == []  # answered before Twilio did
    tg.twilio.wait_for("/Messages.json")
    tg.wait_card_saying("✓ sent")
    assert len(tg.fake.args("answerCallbackQuery")) == 1 and len(tg.twilio.sent()) == 1


def test_five_taps_send_one_message(tg: TelegramDriver) -> None:
    tg.buyer_writes("Hola, ¿precio?")
    card = tg.card()
    with ThreadPoolExecutor(5) as pool:
        codes = list(pool.map(lambda _: tg.tap(Action.SEND, card), range(5)))
    assert codes == [200] * 5
    tg.fake.wait_for("/answerCallbackQuery", count=5)
    tg.twilio.wait_for("/Messages.json")
    eventually(lambda: tg.refusals() == 4, what="four 'already sent' alerts")
    alert = next(a for a in tg.fake.args("answerCallbackQuery") if a.get("show_alert"))
    assert "already sent" in alert["text"]
    assert len(tg.twilio.sent()) == 1
    assert tg.db("SELECT COUNT(*) FROM decisions") == [(1,)]


def test_edit_goes_through_a_force_reply_prompt_and_survives_a_restart(
        tmp_path: Path, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, llm: FakeLLM) -> None:
    settings = telegram_settings(tmp_path, fake_twilio, fake_telegram, trademate_model="openai:gpt-4o-mini")

    def make(url: str, rt: Any) -> TelegramDriver:
        return TelegramDriver(url, rt, fake_twilio, telegram=fake_telegram)

    with running(settings, make) as first:
        assert isinstance(first, TelegramDriver)
        first.buyer_writes("Hola")
        card = first.card()
        first.tap(Action.EDIT, card)
        prompt_args = fake_telegram.wait_for(
            lambda r: r.path.endswith("/sendMessage") and "force_reply" in r.args.get("reply_markup", "")).args
        draft_id = first.db("SELECT id FROM drafts")[0][0]
        assert f"Reply to this message with the text to send for card #{draft_id}" in prompt_args["text"]
        fake_telegram.wait_for("/answerCallbackQuery")
        prompt = fake_telegram.last_sent(REP_CHAT_ID)
        assert prompt["text"] == prompt_args["text"]
    assert fake_twilio.sent() == []

    # A new process: the prompt is found in SQLite, not in the memory of the first one.
    with running(settings, make) as second:
        assert isinstance(second, TelegramDriver)
        second._ids = itertools.count(910_000_001)
        second.say("Hola, le confirmo <el> precio & plazo mañana.", reply_to=prompt)
        assert fake_twilio.wait_for("/Messages.json").form["Body"] == "Hola, le confirmo <el> precio & plazo mañana."
        text = second.wait_card_saying("Edited and sent")
        assert "le confirmo &lt;el&gt; precio &amp; plazo" in text
        assert second.db("SELECT action, text FROM decisions") == [
            ("edit", "Hola, le confirmo <el> precio & plazo mañana.")]
        second.say("and again", reply_to=prompt)  # the prompt answered twice: refused, nothing sent
        refusal = fake_telegram.wait_for(lambda r: r.path.endswith("/sendMessage") and "already" in r.args["text"])
        assert refusal.args["chat_id"] == str(REP_CHAT_ID) or int(refusal.args["chat_id"]) == REP_CHAT_ID
        assert len(fake_twilio.sent()) == 1


def test_forged_or_missing_secret_is_403_and_nothing_is_processed(tg: TelegramDriver) -> None:
    tg.buyer_writes("Hola")
    card = tg.card()
    assert tg.tap(Action.SEND, card, secret="wrong-secret") == 403
    assert tg.tap(Action.SEND, card, secret="") == 403
    url = tg.url + "/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    bad = httpx.post(url, content=b"{not json", headers=headers)
    assert bad.status_code == 400 and "malformed" in bad.text
    assert httpx.post(url, json=[1, 2], headers=headers).status_code == 400
    assert httpx.post(url, json={"update_id": 5, "message": {"text": "no chat"}}, headers=headers).status_code == 400
    assert tg.fake.calls("/answerCallbackQuery") == []
    assert tg.twilio.sent() == [] and tg.db("SELECT COUNT(*) FROM decisions") == [(0,)]
    metrics = httpx.get(tg.url + "/metrics").text
    assert 'trademate_webhooks_total{route="telegram_webhook",outcome="forbidden"} 2' in metrics


def test_hostile_buyer_text_is_escaped(tg: TelegramDriver) -> None:
    hostile = "<b>x</b> & _y_ *z* <a href='https://evil.test'>pay here</a>"
    tg.buyer_writes(hostile)
    tg.card()
    text = tg.fake.messages()[-1]["text"]
    visible = check_part(text)
    assert hostile in visible  # shown literally
    assert "&lt;b&gt;x&lt;/b&gt; &amp; _y_ *z* &lt;a href='https://evil.test'&gt;" in text
    assert "evil.test" not in text.replace("&lt;a href='https://evil.test'&gt;", "")


def test_a_5000_character_draft_is_split_between_words(tg: TelegramDriver, llm: FakeLLM) -> None:
    words = [f"{a}{b}&{c}" for a, b, c in itertools.product("bcdfg", "aeiou", ["lo", "ra", "mi", "ne", "su"])]
    reply = " ".join(itertools.islice(itertools.cycle(words), 5000 // 6))[:5000].rsplit(" ", 1)[0]
    assert len(reply) > 4096
    llm.default = lambda request: {**LLM_ANSWER, "reply": reply, "back_translation": "Long reply."}
    tg.buyer_writes("Hola")
    card = tg.card()
    parts = [(a, m) for a, m in tg.sent_messages()]
    assert len(parts) >= 2
    visible = [check_part(a["text"]) for a, _ in parts]
    assert all("reply_markup" not in a for a, _ in parts[:-1])  # only the last part has the keyboard
    assert parts[-1][1]["message_id"] == card["message_id"]
    tokens = set(" ".join(visible).split())
    assert set(reply.split()) <= tokens  # every word arrived whole
    assert reply.split()[0] in visible[0] and reply.split()[-1] in " ".join(visible[1:])

    tg.tap(Action.SEND, card)
    assert tg.twilio.wait_for("/Messages.json").form["Body"] == reply
    text = tg.wait_card_saying("Sent by")
    check_part(text)
    assert tg.fake.args("editMessageText")[-1]["message_id"] == card["message_id"]
    assert len(tg.fake.messages()) == len(parts)  # updated in place: no new messages


def test_start_up_registers_webhook_and_commands_and_help_is_answered(tg: TelegramDriver) -> None:
    webhook = tg.fake.args("setWebhook")[-1]
    assert webhook["url"] == PUBLIC + "/telegram/webhook" and webhook["secret_token"] == TELEGRAM_SECRET
    assert set(webhook["allowed_updates"]) == {"message", "callback_query"}
    commands = tg.fake.args("setMyCommands")[-1]["commands"]
    assert {"command": "help", "description": "List the commands Trademate understands."} in commands
    assert tg.fake.calls("/getUpdates") == []  # webhook mode: no polling

    assert tg.push(text_update("/help")) == 200
    reply = tg.fake.wait_for(lambda r: r.path.endswith("/sendMessage") and "/help" in r.args.get("text", "")).args
    assert reply["parse_mode"] == "HTML" and int(reply["chat_id"]) == REP_CHAT_ID
    assert "<b>Trademate commands</b>" in reply["text"] and "<code>/help</code>" in reply["text"]
    check_part(reply["text"])
    assert tg.push(text_update("/help@some_other_bot")) == 200  # addressed to another bot: ignored
    tg.push(text_update("/start"))  # a rep opening the bot for the first time gets the help
    tg.fake.wait_for(lambda r: r.path.endswith("/sendMessage") and "Trademate commands" in r.args["text"], count=2)
    tg.push(text_update("/nosuchcommand"))
    unknown = tg.fake.wait_for(lambda r: r.path.endswith("/sendMessage") and "Unknown" in r.args.get("text", ""))
    assert "/nosuchcommand" in unknown.args["text"]
    assert len([m for m in tg.fake.messages() if "Trademate commands" in m["text"]]) == 2


def test_long_polling_when_there_is_no_public_url(tmp_path: Path, fake_telegram: FakeTelegram,
                                                  fake_twilio: FakeTwilio, llm: FakeLLM) -> None:
    settings = telegram_settings(tmp_path, fake_twilio, fake_telegram, trademate_public_url="",
                                 trademate_model="openai:gpt-4o-mini")

    def make(url: str, rt: Any) -> TelegramDriver:
        return TelegramDriver(url, rt, fake_twilio, telegram=fake_telegram, public="", polling=True)

    with running(settings, make) as d:
        assert isinstance(d, TelegramDriver)
        assert fake_telegram.args("setWebhook") == [] and fake_telegram.calls("/deleteWebhook")
        d.buyer_writes("Hola")
        card = d.card()
        d.tap(Action.SEND, card)
        fake_telegram.wait_for("/answerCallbackQuery")
        assert fake_twilio.wait_for("/Messages.json").form["Body"] == LLM_ANSWER["reply"]
        d.wait_card_saying("Sent by")
        d.push(text_update("/help"))
        fake_telegram.wait_for(lambda r: r.path.endswith("/sendMessage") and "Trademate commands" in r.args["text"])
        # No webhook route is needed in polling mode, but a forged call is still refused.
        forged = httpx.post(d.url + "/telegram/webhook", json={"update_id": 1})
        assert forged.status_code == 403
    assert len(fake_twilio.sent()) == 1


@pytest.fixture
def echo_buttons() -> Iterator[None]:
    """A command with reply buttons, registered like any handlers module would, removed afterwards."""
    from handlers.commands import BUTTONS, COMMANDS, CommandSpec

    async def pick(svc: Any, req: CommandRequest) -> CommandReply:
        return CommandReply("Pick *one*:", buttons=(ReplyButton("Short", "tg_echo", "42"),
                                                    ReplyButton("Long", "tg_echo", "ü" * 60)))

    async def echo(svc: Any, press: ButtonPress) -> CommandReply:
        return CommandReply(f"echo {press.value} from {press.actor} via {press.surface}")

    COMMANDS["tgpick"] = CommandSpec("tgpick", "/tgpick", "Test buttons.", pick)
    BUTTONS["tg_echo"] = echo
    yield
    COMMANDS.pop("tgpick")
    BUTTONS.pop("tg_echo")


def test_reply_buttons_fit_64_bytes_and_long_values_come_back_whole(echo_buttons: None, tg: TelegramDriver) -> None:
    assert {"command": "tgpick", "description": "Test buttons."} in tg.fake.args("setMyCommands")[-1]["commands"]
    tg.push(text_update("/tgpick"))
    tg.fake.wait_for(lambda r: r.path.endswith("/sendMessage") and "Pick" in r.args.get("text", ""))
    reply = next(m for a, m in tg.sent_messages() if "Pick" in a["text"])
    assert reply["text"] == "Pick <b>one</b>:"
    short, long = check_callbacks(reply["reply_markup"])
    assert short == "tmb:tg_echo:42" and long.startswith("tmb:~:")
    for data, value in ((short, "42"), (long, "ü" * 60)):
        tg.push(callback_update(data, reply))
        tg.fake.wait_for(lambda r, v=value: r.path.endswith("/sendMessage") and f"echo {v}" in r.args["text"])
    assert tg.fake.args("sendMessage")[-1]["text"] == f"echo {'ü' * 60} from {REP_CHAT_ID} via telegram"
    assert len(tg.fake.args("answerCallbackQuery")) == 2


def test_with_slack_too_cards_go_to_slack_and_telegram_still_answers(
        tmp_path: Path, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> None:
    settings = telegram_settings(tmp_path, fake_twilio, fake_telegram, slack_bot_token=SLACK_TOKEN,
                                 slack_signing_secret="s", slack_api_url=fake_slack.url + "/api/",
                                 slack_channel="C0SALES001")
    with running(settings, lambda url, rt: TelegramDriver(url, rt, fake_twilio, telegram=fake_telegram)) as d:
        assert isinstance(d, TelegramDriver)
        assert httpx.get(d.url + "/healthz").json()["surface"] == "slack+telegram"
        d.buyer_writes("Hola")
        fake_slack.wait_for("chat.postMessage", timeout=10)
        d.push(text_update("/help"))
        fake_telegram.wait_for(lambda r: r.path.endswith("/sendMessage") and "Trademate commands" in r.args["text"])
        assert d.cards() == []  # the card went to Slack only
