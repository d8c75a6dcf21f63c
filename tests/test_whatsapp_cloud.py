"""WhatsApp Cloud API without Twilio: Meta's verification, signed webhooks, replies routed back the
way the buyer came, status updates and plain-words refusals; through the real app and fakes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Runtime, build_runtime
from bot.config import Settings
from bot.models import Action, IncomingMessage
from bot.web import create_web_app
from tests.fakes import (
    BUSINESS_WHATSAPP,
    BUYER_WHATSAPP,
    SLACK_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeSlack,
    FakeTwilio,
    inbound_form,
    sign_twilio,
)
from tests.fakes.whatsapp import (
    WA_APP_SECRET,
    WA_BUYER,
    WA_PHONE_ID,
    WA_TOKEN,
    WA_VERIFY_TOKEN,
    FakeWhatsApp,
    inbound_payload,
    sign_whatsapp,
    status_payload,
)
from tests.serving import eventually, serve, slack_signed

SECRET = "slack-secret"
PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture
def fake_whatsapp() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as fake:
        yield fake
        fake.check()


@dataclass
class App:
    url: str
    runtime: Runtime
    slack: FakeSlack
    wa: FakeWhatsApp

    def webhook(self, body: bytes, signature: str | None = "sign") -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Hub-Signature-256"] = sign_whatsapp(body)
        elif signature:
            headers["X-Hub-Signature-256"] = signature
        return httpx.post(self.url + "/whatsapp/webhook", content=body, headers=headers)

    def tap_send(self) -> None:
        card = self.slack.wait_for("chat.postMessage").args
        draft_id = next(e["value"] for b in card["blocks"] for e in b.get("elements", [])
                        if e.get("action_id") == "tm_send")
        payload = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
        payload["actions"][0].update(action_id="tm_send", value=draft_id)
        raw, headers = slack_signed(payload, SECRET)
        assert httpx.post(self.url + "/slack/events", content=raw, headers=headers).status_code == 200


def _settings(tmp_path: Path, slack: FakeSlack, wa: FakeWhatsApp, **extra: Any) -> Settings:
    return Settings(_env_file=None, trademate_db=str(tmp_path / "wa.db"),  # type: ignore[call-arg]
                    trademate_public_url="https://trademate.test", whatsapp_token=WA_TOKEN,
                    whatsapp_phone_number_id=WA_PHONE_ID, whatsapp_app_secret=WA_APP_SECRET,
                    whatsapp_verify_token=WA_VERIFY_TOKEN, whatsapp_api_url=wa.url, slack_bot_token=SLACK_TOKEN,
                    slack_signing_secret=SECRET, slack_api_url=slack.url + "/api/", slack_channel="C0SALES001",
                    **extra)


@pytest.fixture
def app(tmp_path: Path, fake_slack: FakeSlack, fake_whatsapp: FakeWhatsApp) -> Iterator[App]:
    runtime = build_runtime(_settings(tmp_path, fake_slack, fake_whatsapp))
    with serve(create_web_app(runtime)) as url:
        yield App(url, runtime, fake_slack, fake_whatsapp)
    runtime.close()


def test_meta_verification_handshake(app: App) -> None:
    ok = httpx.get(app.url + "/whatsapp/webhook", params={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                                           "hub.verify_token": WA_VERIFY_TOKEN})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = httpx.get(app.url + "/whatsapp/webhook", params={"hub.mode": "subscribe", "hub.challenge": "1",
                                                            "hub.verify_token": "guess"})
    assert bad.status_code == 403


def test_message_in_reply_out_status_back(app: App) -> None:
    body = inbound_payload("Olá, qual o preço da garrafa térmica VF-500?", name="Ana")
    assert app.webhook(body).status_code == 200
    assert app.webhook(body).status_code == 200  # Meta redelivers: still one message
    app.tap_send()
    sent = app.wa.wait_for("/messages").json
    assert sent["to"] == WA_BUYER and sent["type"] == "text" and sent["text"]["body"]
    assert len(app.slack.calls("chat.postMessage")) == 1
    def wamid() -> str | None:
        row = app.runtime.store.db.execute("SELECT provider_id FROM outbox").fetchone()
        return row[0] if row else None

    eventually(lambda: wamid() is not None, what="provider id recorded")
    assert str(wamid()).startswith("wamid.")
    assert app.webhook(status_payload(str(wamid()), "read")).status_code == 200
    app.slack.wait_for(lambda r: r.path.endswith("chat.update") and "read" in json.dumps(r.args.get("blocks")))
    contact = app.runtime.store.db.execute("SELECT address, country, name FROM contacts").fetchall()
    assert [tuple(c) for c in contact] == [(f"wa:+{WA_BUYER}", "BR", "Ana")]


def test_forged_signature_and_garbage(app: App) -> None:
    body = inbound_payload("fake")
    assert app.webhook(body, signature=None).status_code == 403
    assert app.webhook(body, signature=sign_whatsapp(body, "wrong-secret")).status_code == 403
    garbage = b'{"object": "page"}'
    resp = app.webhook(garbage)
    assert resp.status_code == 400 and "whatsapp_business_account" in resp.text
    assert app.webhook(b"{not json").status_code == 400
    assert app.runtime.store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_window_refusal_in_plain_words(app: App) -> None:
    app.webhook(inbound_payload("Hola"))
    app.wa.refuse_next(131047)
    app.tap_send()
    app.slack.wait_for(lambda r: r.path.endswith("chat.update") and "131047" in json.dumps(r.args.get("blocks")))
    assert "24 hours" in json.dumps(app.slack.args("chat.update")[-1]["blocks"])


def test_media_message_is_shown(app: App) -> None:
    app.webhook(inbound_payload("", image_caption="this model in blue?"))
    card = json.dumps(app.slack.wait_for("chat.postMessage").args["blocks"], ensure_ascii=False)
    assert "this model in blue?" in card and "media id 1479537139650973" in card


def test_twilio_and_cloud_buyers_get_replies_their_own_way(
    tmp_path: Path, fake_slack: FakeSlack, fake_whatsapp: FakeWhatsApp, fake_twilio: FakeTwilio
) -> None:
    settings = _settings(tmp_path, fake_slack, fake_whatsapp, twilio_account_sid=TEST_ACCOUNT_SID,
                         twilio_auth_token=TEST_AUTH_TOKEN, twilio_from=BUSINESS_WHATSAPP,
                         twilio_api_url=fake_twilio.url)
    runtime = build_runtime(settings)
    with serve(create_web_app(runtime)) as url:
        app = App(url, runtime, fake_slack, fake_whatsapp)
        app.webhook(inbound_payload("Hello from the Cloud API"))
        form = inbound_form("Hello via Twilio", from_=BUYER_WHATSAPP, to=BUSINESS_WHATSAPP)
        sig = sign_twilio("https://trademate.test/twilio/messages", form, TEST_AUTH_TOKEN)
        httpx.post(url + "/twilio/messages", data=form, headers={"X-Twilio-Signature": sig})
        eventually(lambda: len(fake_slack.calls("chat.postMessage")) == 2, what="two cards")
        for card in fake_slack.args("chat.postMessage"):
            draft_id = next(e["value"] for b in card["blocks"] for e in b.get("elements", [])
                            if e.get("action_id") == "tm_send")
            payload = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
            payload["actions"][0].update(action_id="tm_send", value=draft_id)
            raw, headers = slack_signed(payload, SECRET)
            httpx.post(url + "/slack/events", content=raw, headers=headers)
        fake_whatsapp.wait_for("/messages")
        fake_twilio.wait_for("/Messages.json")
    assert [m["to"] for m in fake_whatsapp.sent()] == [WA_BUYER]
    assert [m["To"] for m in fake_twilio.sent()] == [BUYER_WHATSAPP]
    runtime.close()


def test_interrupted_cloud_send_is_handed_to_the_rep_not_guessed(tmp_path: Path, fake_slack: FakeSlack,
                                                                 fake_whatsapp: FakeWhatsApp) -> None:
    settings = _settings(tmp_path, fake_slack, fake_whatsapp)
    first = build_runtime(settings)

    async def decided_then_crashed() -> int:
        first.inbox.receive(IncomingMessage("wamid.IN1", f"wa:+{WA_BUYER}", "Olá", "whatsapp"))
        await first.inbox.drain()
        draft = first.store.pending_drafts()[0]
        out = first.store.approve(draft.id, Action.SEND, "U1", "slack", f"wa:+{WA_BUYER}", draft.text,
                                  first.services.clock.now())
        assert out is not None and first.store.claim_outbound(out.id, first.services.clock.now())
        return out.id

    outbox_id = asyncio.run(decided_then_crashed())
    first.close()
    second = build_runtime(settings)
    asyncio.run(second.inbox.resume())
    row = second.store.outbound(outbox_id)
    assert row.state.value == "failed" and "check the chat" in (row.error_message or "")
    assert fake_whatsapp.sent() == []  # not resent blindly
    assert "check the chat" in json.dumps(fake_slack.args("chat.update")[-1]["blocks"])
    second.close()
