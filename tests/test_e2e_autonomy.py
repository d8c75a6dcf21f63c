"""Autonomy, the 24-hour window, templates and stages end to end: the real app under uvicorn, the real
slack-bolt / twilio / langchain-openai clients against the fakes, and an injected clock.

The clock only moves when a test moves it, so "after the undo delay" and "25 hours later" are
exact; the scheduler's auto-send job runs every 0.1 s of real time and reads that clock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_runtime
from bot.models import Action
from bot.web import create_web_app
from tests.fakes import BUYER_WHATSAPP, FakeLLM, FakeSlack, FakeTwilio, status_form
from tests.serving import eventually, serve, slack_command, slack_signed
from tests.test_e2e_spine import CHANNEL, LLM_ANSWER, PAYLOADS, SECRET, App, _card_text, settings_for

ROOT = Path(__file__).resolve().parent.parent
UNDO = 0.5  # seconds of (injected) clock time; the fire job then ticks every 0.1 s of real time
SAFE_ANSWER = {
    "buyer_language": "es",
    "translation": "Hello, do you make flasks?",
    "intent": "greeting",
    "reply": "Hola Lucía, gracias por escribirnos. Sí, fabricamos termos de acero inoxidable.",
    "back_translation": "Hello Lucía, thanks for writing. Yes, we make stainless steel flasks.",
    "flags": [],
}


class StepClock:
    """Now, as the test says: starts at the real time and moves only on `advance`."""

    def __init__(self) -> None:
        self._at = datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._at += timedelta(**delta)


class AutoApp(App):
    clock: StepClock

    def press(self, card: dict[str, Any], action: str, *, user: str = "U0REP00001") -> httpx.Response:
        """Tap a `tmb:<action>:n` button on a card (Cancel, Send template instead, Change stage)."""
        element = _element(card["blocks"], f"tmb:{action}:")
        payload = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
        payload["user"]["id"] = user
        payload["actions"][0].update(action_id=element["action_id"], value=element["value"], block_id="tm_more")
        raw, headers = slack_signed(payload, SECRET)
        return httpx.post(self.url + "/slack/events", content=raw, headers=headers, timeout=10)

    def card(self, n: int = 1) -> dict[str, Any]:
        # The first draft in a process pays for loading the language models: allow for a busy machine.
        self.slack.wait_for("chat.postMessage", timeout=30, count=n)
        return self.slack.args("chat.postMessage")[n - 1]  # type: ignore[no-any-return]

    def latest_card(self) -> dict[str, Any]:
        updates = self.slack.args("chat.update")
        return updates[-1] if updates else self.card()

    def wait_update(self, words: str) -> dict[str, Any]:
        found = self.slack.wait_for(lambda r: r.path.endswith("chat.update") and words in _card_text(r.args))
        return found.args  # type: ignore[no-any-return]


def _element(blocks: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    for block in blocks:
        for element in block.get("elements", []):
            if str(element.get("action_id", "")).startswith(prefix):
                return element  # type: ignore[no-any-return]
    raise AssertionError(f"no {prefix}… button on the card")


def _has_button(card: dict[str, Any], prefix: str) -> bool:
    try:
        _element(card["blocks"], prefix)
    except AssertionError:
        return False
    return True


def _quiet(seconds: float = 0.4) -> None:
    """Let several scheduler ticks pass (for asserting that nothing happens)."""
    time.sleep(seconds)


AppFactory = Callable[..., AutoApp]


@pytest.fixture
def make_app(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio, fake_llm: FakeLLM,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[AppFactory]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    stack: list[Any] = []

    def build(autonomy: str = "auto_if_safe", answer: dict[str, Any] | None = None,
              clock: StepClock | None = None) -> AutoApp:
        fake_llm.default = lambda request: answer or SAFE_ANSWER
        team = tmp_path / "team.yaml"
        team.write_text(f"reps:\n  - name: Asha\n    slack_user: U0REP00001\n    slack_channel: {CHANNEL}\n"
                        f"autonomy:\n  default: {autonomy}\n")
        settings = settings_for(tmp_path, fake_slack, fake_twilio, trademate_model="openai:gpt-4o-mini",
                                trademate_model_timeout=5, trademate_team=str(team),
                                trademate_undo_seconds=UNDO, trademate_templates=str(ROOT / "templates.yaml"))
        clock = clock or StepClock()
        runtime = build_runtime(settings, clock=clock)
        server = serve(create_web_app(runtime))
        url = server.__enter__()
        stack.append((server, runtime))
        app = AutoApp(url, runtime, fake_slack, fake_twilio, fake_llm)
        app.clock = clock
        return app

    yield build
    for server, runtime in reversed(stack):
        server.__exit__(None, None, None)
        runtime.close()


def test_auto_if_safe_draft_sends_itself_after_the_undo_delay(make_app: AppFactory) -> None:
    app = make_app("auto_if_safe")
    app.buyer_writes("Hola, ¿fabrican termos?", profile_name="Lucía Romero")
    card = app.card()
    assert "Sends by itself" in _card_text(card) and _has_button(card, "tmb:auto_cancel:")
    assert "window closes in 24 h" in _card_text(card) and "stage" in _card_text(card)
    _quiet()
    assert app.twilio.sent() == []  # the undo delay has not passed on the injected clock

    app.clock.advance(seconds=UNDO + 0.5)
    sent = app.twilio.wait_for("/Messages.json").form
    assert sent["Body"] == SAFE_ANSWER["reply"] and sent["To"] == BUYER_WHATSAPP
    app.wait_update("Sent automatically")
    _quiet(0.3)
    assert len(app.twilio.sent()) == 1
    assert app.db("SELECT action, actor, surface, policy FROM decisions") == [
        ("send", "trademate", "auto", "auto_if_safe")]
    assert app.db("SELECT state FROM auto_sends") == [("fired",)]


def test_a_draft_with_a_price_never_sends_itself(make_app: AppFactory) -> None:
    app = make_app("auto_if_safe", answer=LLM_ANSWER)  # "3.80 USD": flagged price
    app.buyer_writes("Hola, ¿precio del termo de 500 ml?")
    card = app.card()
    assert not _has_button(card, "tmb:auto_cancel:") and "Sends by itself" not in _card_text(card)
    app.clock.advance(hours=1)
    _quiet()
    assert app.twilio.sent() == []
    assert app.db("SELECT COUNT(*) FROM auto_sends") == [(0,)]
    assert app.db("SELECT COUNT(*) FROM decisions") == [(0,)]


def test_approve_level_never_sends_by_itself(make_app: AppFactory) -> None:
    app = make_app("approve")
    app.buyer_writes("Hola, ¿fabrican termos?")
    assert not _has_button(app.card(), "tmb:auto_cancel:")
    app.clock.advance(hours=1)
    _quiet()
    assert app.twilio.sent() == []


def test_cancel_within_the_delay_stops_it_exactly_once(make_app: AppFactory) -> None:
    app = make_app("auto_if_safe")
    app.buyer_writes("Hola, ¿fabrican termos?")
    card = app.card()
    with ThreadPoolExecutor(3) as pool:  # three impatient taps
        assert list(pool.map(lambda _: app.press(card, "auto_cancel").status_code, range(3))) == [200] * 3
    updated = app.wait_update("cancelled by U0REP00001")
    assert not _has_button(updated, "tmb:auto_cancel:") and _has_button(updated, "tm_send")
    eventually(lambda: len(app.slack.calls("chat.postEphemeral")) == 2, what="two 'nothing to cancel' notes")
    app.clock.advance(minutes=10)
    _quiet()
    assert app.twilio.sent() == []  # zero Twilio sends
    assert app.db("SELECT state, closed_by FROM auto_sends") == [("cancelled", "U0REP00001")]
    assert app.db("SELECT state FROM drafts") == [("pending",)]  # still the rep's to decide

    app.tap(Action.SEND, updated)
    app.twilio.wait_for("/Messages.json")
    assert app.db("SELECT actor, policy FROM decisions") == [("U0REP00001", "manual")]


def test_cancel_after_it_fired_says_too_late(make_app: AppFactory) -> None:
    app = make_app("auto_if_safe")
    app.buyer_writes("Hola, ¿fabrican termos?")
    card = app.card()
    app.clock.advance(seconds=UNDO + 1)
    app.twilio.wait_for("/Messages.json")
    app.press(card, "auto_cancel")
    note = app.slack.wait_for("chat.postEphemeral").args
    assert "Too late" in note["text"]
    assert len(app.twilio.sent()) == 1


def test_pending_auto_send_survives_a_restart(make_app: AppFactory, tmp_path: Path) -> None:
    first = make_app("auto_if_safe")
    first.buyer_writes("Hola, ¿fabrican termos?")
    first.card()
    first.runtime.scheduler.shutdown()  # the process "dies" before the delay is over
    assert first.db("SELECT state FROM auto_sends") == [("pending",)]
    second = make_app("auto_if_safe", clock=first.clock)  # same database file, new process, same "now"
    assert second.runtime.settings.trademate_db == first.runtime.settings.trademate_db
    _quiet(0.3)
    assert second.twilio.sent() == []
    second.clock.advance(seconds=UNDO + 1)
    second.twilio.wait_for("/Messages.json")
    _quiet(0.3)
    assert len(second.twilio.sent()) == 1


def test_63016_offers_the_template_and_one_tap_sends_exactly_one(make_app: AppFactory) -> None:
    app = make_app("approve", answer=LLM_ANSWER)  # a price inquiry: the quote follow-up template fits
    app.buyer_writes("Hola, ¿precio del termo de 500 ml?", profile_name="Lucía Romero")
    card = app.card()
    app.twilio.refuse_next(code=63016)
    app.tap(Action.SEND, card)
    refused = app.wait_update("Send template instead")
    assert "63016" in _card_text(refused) and "quote_follow_up" in _card_text(refused)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: app.press(refused, "template_send"), range(3)))
    form = app.twilio.wait_for(lambda r: r.path.endswith("Messages.json") and r.status == 201).form
    assert form["ContentSid"] == "HX0a1b2c3d4e5f60718293a4b5c6d7e8f9" and "Body" not in form
    assert json.loads(form["ContentVariables"]) == {"1": "Lucía", "2": "Vacuum Flask 500 ml"}
    assert form["StatusCallback"].endswith("/twilio/status")
    eventually(lambda: app.db("SELECT state FROM outbox ORDER BY id") == [("refused",), ("queued",)],
               what="template row queued")
    _quiet(0.3)
    assert len(app.twilio.sent()) == 1  # the free-form try was refused; exactly one template went out
    assert app.db("SELECT idem_key, content_sid IS NOT NULL FROM outbox ORDER BY id") == [
        (f"draft:{1}", 0), (f"template:{1}", 1)]


def test_63016_in_a_status_callback_offers_the_template_too(make_app: AppFactory) -> None:
    app = make_app("approve", answer=LLM_ANSWER)
    app.buyer_writes("Hola, ¿precio del termo de 500 ml?", profile_name="Lucía Romero")
    app.tap(Action.SEND, app.card())
    app.twilio.wait_for("/Messages.json")
    eventually(lambda: app.db("SELECT provider_id FROM outbox")[0][0] is not None, what="provider id recorded")
    sid = app.db("SELECT provider_id FROM outbox")[0][0]
    assert app.twilio_post("/twilio/status", status_form(sid, "failed", 63016)).status_code == 200
    failed = app.wait_update("Send template instead")
    app.press(failed, "template_send")
    app.twilio.wait_for(lambda r: r.path.endswith("Messages.json") and "ContentSid" in r.form)
    _quiet(0.3)
    assert [("ContentSid" in f) for f in app.twilio.sent()] == [False, True]


def test_buyer_outside_the_window_gets_the_template_offer(make_app: AppFactory) -> None:
    app = make_app("approve")
    app.buyer_writes("Hola, ¿pueden enviarme una muestra?")
    card = app.card()
    assert "window closes in 24 h" in _card_text(card)
    app.clock.advance(hours=25)
    app.tap(Action.SEND, card)  # the rep comes back the next day
    offered = app.wait_update("window closed: template only")
    assert _has_button(offered, "tmb:template_send:")
    note = app.slack.wait_for("chat.postEphemeral").args
    assert "24-hour" in note["text"] and "Send template instead" in note["text"]
    assert app.twilio.calls("/Messages.json", method="POST") == []  # no refused attempt either
    app.press(offered, "template_send")
    form = app.twilio.wait_for("/Messages.json").form
    assert form["ContentSid"].startswith("HX")
    app.wait_update("Sent by")
    assert app.db("SELECT state FROM drafts") == [("sent",)]


def test_stages_follow_intent_and_the_quote_sent_and_the_rep_corrects_them(make_app: AppFactory) -> None:
    app = make_app("approve", answer=LLM_ANSWER)
    app.buyer_writes("Hola, ¿precio del termo de 500 ml?", profile_name="Lucía Romero")
    card = app.card()
    assert "stage: *qualified*" in _card_text(card)  # a price question
    app.tap(Action.SEND, card)  # the reply quotes 3.80 USD
    app.wait_update("stage: *quoted*")
    assert app.db("SELECT from_stage, to_stage, by, reason FROM stage_changes ORDER BY id") == [
        ("new", "qualified", "trademate", "buyer intent price_inquiry"),
        ("qualified", "quoted", "trademate", "rep sent a quote"),
    ]

    app.press(app.latest_card(), "stage_menu")
    menu = app.slack.wait_for("chat.postEphemeral").args
    assert "is *quoted*" in menu["text"] and "tmb:stage_set" in json.dumps(menu["blocks"])

    app.press(menu, "stage_set")  # the first choice in the menu: back to "new", the rep may go anywhere
    app.wait_update("stage: *new*")

    raw, headers = slack_command("/stage", "lucía negotiating", SECRET)
    assert httpx.post(app.url + "/slack/events", content=raw, headers=headers).status_code == 200
    eventually(lambda: any("now *negotiating*" in c.args.get("text", "")
                           for c in app.slack.calls("chat.postEphemeral")), what="stage reply")
    app.wait_update("stage: *negotiating*")
    assert app.db("SELECT stage FROM conversations") == [("negotiating",)]
    assert app.db("SELECT by, reason FROM stage_changes ORDER BY id DESC LIMIT 1") == [
        ("U0REP00001", "rep correction")]


def test_no_automatic_send_when_the_card_could_not_be_shown(make_app: AppFactory) -> None:
    app = make_app("auto_if_safe")
    app.slack.fail_next("chat.postMessage", 200, {"ok": False, "error": "channel_not_found"}, times=1)
    app.buyer_writes("Hola, ¿fabrican termos?")
    eventually(lambda: app.db("SELECT state FROM auto_sends") == [("dropped",)], what="auto-send dropped")
    app.clock.advance(minutes=10)
    _quiet()
    assert app.twilio.sent() == []


def test_the_fake_twilio_checks_template_parameters(fake_twilio: FakeTwilio) -> None:
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    from bot.channels.twilio import BaseUrlHttpClient
    from tests.fakes import BUSINESS_WHATSAPP, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

    client = Client(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, http_client=BaseUrlHttpClient(fake_twilio.url))
    for kwargs, code in (({"content_sid": "HXnope"}, 21655),
                         ({"content_sid": "HX" + "0" * 32, "content_variables": "[1]"}, 21656)):
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(to=BUYER_WHATSAPP, from_=BUSINESS_WHATSAPP, **kwargs)
        assert info.value.code == code
    ok = client.messages.create(to=BUYER_WHATSAPP, from_=BUSINESS_WHATSAPP, content_sid="HX" + "0" * 32,
                                content_variables='{"1": "Lucía"}')
    assert ok.sid.startswith("SM")
