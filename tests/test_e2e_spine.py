"""The spine end to end: the real app served by uvicorn, the real slack-bolt, twilio and
langchain-openai clients pointed at the local fakes, real signatures on every webhook.

Assertions are on what the fakes received (the outside world's view) and on the database.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Runtime, build_runtime
from bot.config import Settings
from bot.models import Action, IncomingMessage
from bot.web import create_web_app
from tests.drivers import CHANNEL, LLM_ANSWER, PAYLOADS, PUBLIC, SLACK_SECRET, slack_settings
from tests.fakes import (
    BUSINESS_WHATSAPP,
    BUYER_WHATSAPP,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeLLM,
    FakeSlack,
    FakeTwilio,
    inbound_form,
    sign_twilio,
    status_form,
)
from tests.serving import eventually, serve, slack_command, slack_signed

SECRET = SLACK_SECRET


def settings_for(tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio, **extra: Any) -> Settings:
    """Slack + Twilio settings pointed at the fakes (argument order kept for the tests that import it)."""
    return slack_settings(tmp_path, twilio, slack, **extra)


@dataclass
class App:
    url: str
    runtime: Runtime
    slack: FakeSlack
    twilio: FakeTwilio
    llm: FakeLLM

    def twilio_post(self, path: str, form: dict[str, Any], *, signature: str | None = None) -> httpx.Response:
        sig = signature if signature is not None else sign_twilio(PUBLIC + path, form, TEST_AUTH_TOKEN)
        headers = {"X-Twilio-Signature": sig} if sig else {}
        return httpx.post(self.url + path, data=form, headers=headers, timeout=10)

    def buyer_writes(self, body: str, **kw: Any) -> tuple[httpx.Response, dict[str, Any]]:
        form = inbound_form(body, from_=kw.pop("from_", BUYER_WHATSAPP), to=BUSINESS_WHATSAPP, **kw)
        return self.twilio_post("/twilio/messages", form), form

    def card(self, n: int = 1) -> dict[str, Any]:
        self.slack.wait_for("chat.postMessage", count=n)
        return self.slack.args("chat.postMessage")[n - 1]

    def tap(self, action: Action, card: dict[str, Any], *, user: str = "U0REP00001") -> httpx.Response:
        payload = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
        draft_id = _button_value(card["blocks"], f"tm_{action.value}")
        payload["user"]["id"] = user
        payload["actions"][0].update(action_id=f"tm_{action.value}", value=draft_id)
        payload["channel"]["id"] = CHANNEL
        payload["container"]["channel_id"] = CHANNEL
        raw, headers = slack_signed(payload, SECRET)
        return httpx.post(self.url + "/slack/events", content=raw, headers=headers, timeout=10)

    def db(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.runtime.settings.trademate_db)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


def _button_value(blocks: list[dict[str, Any]], action_id: str) -> str:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button on the card")


def _card_text(args: dict[str, Any]) -> str:
    return json.dumps(args.get("blocks", []), ensure_ascii=False) + args.get("text", "")


def _update_saying(words: str) -> Any:
    """A predicate for the fake Slack: a chat.update whose card contains `words`."""
    return lambda r: r.path.endswith("chat.update") and words in _card_text(r.args)


@pytest.fixture
def app(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio, fake_llm: FakeLLM,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    fake_llm.default = lambda request: LLM_ANSWER
    settings = settings_for(tmp_path, fake_slack, fake_twilio, trademate_model="openai:gpt-4o-mini",
                            trademate_model_timeout=5)
    runtime = build_runtime(settings)
    with serve(create_web_app(runtime)) as url:
        yield App(url, runtime, fake_slack, fake_twilio, fake_llm)
    runtime.close()


def test_buyer_message_becomes_a_card_grounded_in_catalog_and_history(app: App) -> None:
    resp, form = app.buyer_writes("Hola, ¿cuál es el precio del termo de 500 ml para 1000 unidades?",
                                  profile_name="Lucía")
    assert resp.status_code == 200 and "<Response" in resp.text
    card = app.card()
    assert card["channel"] == CHANNEL
    text = _card_text(card)
    assert "termo de 500 ml" in text and LLM_ANSWER["reply"] in text and LLM_ANSWER["back_translation"] in text
    assert "Lucía" in text and "+919876543210" in text  # name and number from the webhook
    prompt = app.llm.last_prompt_text()
    assert "VF-500" in prompt  # the catalog grounds the draft
    assert "termo de 500 ml" in prompt
    assert app.db("SELECT provider_id, direction FROM messages") == [(form["MessageSid"], "in")]


def test_tap_send_makes_exactly_one_twilio_message_then_status_updates_the_card(app: App) -> None:
    app.buyer_writes("Hola, ¿precio del termo de 500 ml?")
    card = app.card()
    assert app.tap(Action.SEND, card).status_code == 200
    sent = app.twilio.wait_for("/Messages.json").form
    assert sent["To"] == BUYER_WHATSAPP and sent["From"] == BUSINESS_WHATSAPP
    assert sent["Body"] == LLM_ANSWER["reply"]
    assert sent["StatusCallback"] == PUBLIC + "/twilio/status"
    app.slack.wait_for(_update_saying("sent"))
    sid = app.db("SELECT provider_id FROM outbox")[0][0]
    assert sid and sid.startswith(("SM", "MM"))

    before = len(app.slack.calls("chat.update"))
    resp = app.twilio_post("/twilio/status", status_form(sid, "delivered"))
    assert resp.status_code == 200
    app.slack.wait_for("chat.update", count=before + 1)
    assert "delivered" in _card_text(app.slack.args("chat.update")[-1])
    assert app.db("SELECT state FROM outbox") == [("delivered",)]
    assert len(app.twilio.sent()) == 1


def test_five_concurrent_taps_send_one_message(app: App) -> None:
    app.buyer_writes("Hola, ¿precio?")
    card = app.card()
    with ThreadPoolExecutor(5) as pool:
        codes = list(pool.map(lambda _: app.tap(Action.SEND, card).status_code, range(5)))
    assert codes == [200] * 5
    app.twilio.wait_for("/Messages.json")
    eventually(lambda: len(app.slack.calls("chat.postEphemeral")) == 4, what="four 'already sent' notes")
    assert len(app.twilio.sent()) == 1
    assert app.db("SELECT COUNT(*) FROM outbox") == [(1,)]
    assert app.db("SELECT COUNT(*) FROM decisions") == [(1,)]


def test_duplicate_webhook_stores_one_message_and_one_card(app: App) -> None:
    form = inbound_form("Hello, do you ship to Chennai?", from_=BUYER_WHATSAPP, to=BUSINESS_WHATSAPP)
    for _ in range(3):
        assert app.twilio_post("/twilio/messages", form).status_code == 200
    app.card()
    eventually(lambda: app.db("SELECT COUNT(*) FROM drafts") == [(1,)], what="one draft")
    assert app.db("SELECT COUNT(*) FROM messages") == [(1,)]
    assert len(app.slack.calls("chat.postMessage")) == 1


def test_forged_or_missing_signature_is_403_and_stores_nothing(app: App) -> None:
    form = inbound_form("fake order", from_=BUYER_WHATSAPP, to=BUSINESS_WHATSAPP)
    assert app.twilio_post("/twilio/messages", form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    assert app.twilio_post("/twilio/messages", form, signature="").status_code == 403
    wrong_host = sign_twilio("https://evil.test/twilio/messages", form, TEST_AUTH_TOKEN)
    assert app.twilio_post("/twilio/messages", form, signature=wrong_host).status_code == 403
    assert app.db("SELECT COUNT(*) FROM messages") == [(0,)]
    assert app.slack.calls("chat.postMessage") == []

    raw, headers = slack_signed({"type": "block_actions"}, "not-the-secret")
    resp = httpx.post(app.url + "/slack/events", content=raw, headers=headers)
    assert resp.status_code == 403


def test_malformed_and_oversized_bodies_get_a_reason(app: App) -> None:
    url = app.url + "/twilio/messages"
    bad = httpx.post(url, content=b"\xff\xfe%%%", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 400 and "malformed" in bad.text
    wrong_type = httpx.post(url, json={"Body": "hi"})
    assert wrong_type.status_code == 400 and "x-www-form-urlencoded" in wrong_type.text
    no_sid = {"From": BUYER_WHATSAPP, "Body": "hi"}
    missing = app.twilio_post("/twilio/messages", no_sid)
    assert missing.status_code == 400 and "MessageSid" in missing.text
    big = httpx.post(url, content=b"Body=" + b"x" * (1_048_577),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536  # no Content-Length: the limit must still hold

    chunked = httpx.post(url, content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413
    assert app.db("SELECT COUNT(*) FROM messages") == [(0,)]


def test_llm_failure_falls_back_to_the_template_draft_with_a_notice(app: App) -> None:
    app.llm.fail_next(status=500, times=5)
    app.buyer_writes("Hi, what's the MOQ for the 1L flask?")
    text = _card_text(app.card())
    assert LLM_ANSWER["reply"] not in text
    assert "template" in text.lower()
    assert app.db("SELECT source FROM drafts") == [("template",)]


def test_twilio_refusal_is_shown_in_plain_words(app: App) -> None:
    app.buyer_writes("Hola")
    card = app.card()
    app.twilio.refuse_next(code=63016)
    app.tap(Action.SEND, card)
    app.slack.wait_for(_update_saying("63016"))
    assert "24-hour" in _card_text(app.slack.args("chat.update")[-1])
    assert app.db("SELECT state, error_code FROM outbox") == [("refused", "63016")]


def test_twilio_server_errors_are_retried(app: App) -> None:
    app.buyer_writes("Hola")
    card = app.card()
    app.twilio.fail_next("Messages.json", 500, times=2, method="POST")
    app.tap(Action.SEND, card)
    app.twilio.wait_for(lambda r: r.path.endswith("Messages.json") and r.status == 201)
    assert len(app.twilio.calls("/Messages.json", method="POST")) == 3
    assert len(app.twilio.sent()) == 1


def test_edit_sends_the_reps_text(app: App) -> None:
    app.buyer_writes("Hola")
    card = app.card()
    draft_id = _button_value(card["blocks"], "tm_edit")
    app.tap(Action.EDIT, card)
    view = app.slack.wait_for("views.open").args
    assert LLM_ANSWER["reply"] in json.dumps(view, ensure_ascii=False)
    submission = json.loads((PAYLOADS / "slack_view_submission.json").read_text())
    submission["view"]["private_metadata"] = draft_id
    state = submission["view"]["state"]["values"]
    block = next(iter(state.values()))
    next(iter(block.values()))["value"] = "Hola, le confirmo el precio mañana."
    raw, headers = slack_signed(submission, SECRET)
    assert httpx.post(app.url + "/slack/events", content=raw, headers=headers).status_code == 200
    assert app.twilio.wait_for("/Messages.json").form["Body"] == "Hola, le confirmo el precio mañana."
    assert app.db("SELECT action FROM decisions") == [("edit",)]


def test_regenerate_and_discard_update_the_card_in_place(app: App) -> None:
    app.buyer_writes("Hola")
    card = app.card()
    app.llm.reply_json({**LLM_ANSWER, "reply": "Hola, ¿qué cantidad necesita?"})
    app.tap(Action.REGENERATE, card)
    app.slack.wait_for(_update_saying("qué cantidad"))
    updated = app.slack.args("chat.update")[-1]
    assert len(app.slack.calls("chat.postMessage")) == 1  # the same card, updated in place
    app.tap(Action.DISCARD, updated)
    app.slack.wait_for(_update_saying("iscarded"))
    assert app.twilio.sent() == []
    assert app.db("SELECT state FROM drafts ORDER BY id") == [("superseded",), ("discarded",)]


def test_crash_between_decision_and_send_is_resumed_once(tmp_path: Path, fake_slack: FakeSlack,
                                                         fake_twilio: FakeTwilio) -> None:
    """Two crashes: one before Twilio was called (resend), one after Twilio accepted (adopt, no resend)."""
    settings = settings_for(tmp_path, fake_slack, fake_twilio)
    first = build_runtime(settings)
    store = first.store

    async def setup() -> list[int]:
        ids = []
        buyers = [(BUYER_WHATSAPP, "Hello"), ("whatsapp:+34612345678", "Price please")]
        for n, (buyer, text) in enumerate(buyers):
            first.inbox.receive(IncomingMessage(f"SMin{n}", buyer, text, "whatsapp"))
            await first.inbox.drain()
        for draft in store.pending_drafts():
            message = store.message(draft.message_id)
            contact = store.contact(message.contact_id)
            out = store.approve(draft.id, Action.SEND, "U1", "slack", contact.address, draft.text,
                                first.services.clock.now())
            assert out is not None
            ids.append(out.id)
        return ids

    pending_id, sending_id = asyncio.run(setup())
    # The second row was handed to Twilio and Twilio accepted it; then the process died.
    store.claim_outbound(sending_id, first.services.clock.now())
    accepted = store.outbound(sending_id)
    from twilio.rest import Client

    from bot.channels.twilio import BaseUrlHttpClient

    Client(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, http_client=BaseUrlHttpClient(fake_twilio.url)).messages.create(
        to=accepted.to, from_=BUSINESS_WHATSAPP, body=accepted.body)
    first.close()
    assert len(fake_twilio.sent()) == 1

    second = build_runtime(settings)
    with serve(create_web_app(second)):
        eventually(lambda: len(second.store.unfinished_outbound()) == 0, what="outbox drained")
    assert len(fake_twilio.sent()) == 2  # the adopted one was not sent again
    bodies = sorted(f["Body"] for f in fake_twilio.sent())
    assert bodies == sorted([second.store.outbound(pending_id).body, accepted.body])
    assert second.store.outbound(sending_id).provider_id is not None
    second.close()


def test_healthz_and_metrics(app: App) -> None:
    app.buyer_writes("Hola")
    app.card()
    assert httpx.get(app.url + "/healthz").json()["ok"] is True
    metrics = httpx.get(app.url + "/metrics").text
    assert 'trademate_webhooks_total{route="twilio_messages",outcome="stored"} 1' in metrics
    assert 'trademate_messages{direction="in"} 1' in metrics


def test_slash_help_answers_the_rep_only(app: App) -> None:
    raw, headers = slack_command("/help", "", SECRET)
    resp = httpx.post(app.url + "/slack/events", content=raw, headers=headers)
    assert resp.status_code == 200 and "/help" in resp.text  # the immediate ack
    note = app.slack.wait_for("chat.postEphemeral").args
    assert note["user"] == "U0REP00001" and "/help" in note["text"]
