"""Socket Mode end to end: `trademate run`'s app with SLACK_APP_TOKEN connects over a real WebSocket
to the fake Slack, which pushes a tap as an `interactive` envelope; the tap is acked and decided once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.app import build_runtime
from bot.models import Action
from bot.web import create_web_app
from tests.fakes import BUSINESS_WHATSAPP, BUYER_WHATSAPP, FakeSlack, FakeTwilio, inbound_form, sign_twilio
from tests.serving import eventually, serve, slack_signed
from tests.test_e2e_spine import CHANNEL, PAYLOADS, PUBLIC, SECRET, _button_value, settings_for

APP_TOKEN = "xapp-1-A0TRADEAPP-1111-socketmodetoken"


@pytest.mark.parametrize("signing_secret", [SECRET, ""], ids=["with-http-too", "socket-only"])
def test_socket_mode_tap_is_acked_and_sends_once(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
                                                 signing_secret: str) -> None:
    fake_slack.app_token = APP_TOKEN
    settings = settings_for(tmp_path, fake_slack, fake_twilio, slack_app_token=APP_TOKEN,
                            slack_signing_secret=signing_secret)
    assert settings.problems(serving=True) == []
    runtime = build_runtime(settings)
    with serve(create_web_app(runtime)) as url:
        # Without a signing secret nothing may reach the app over HTTP (a forged request would verify).
        raw, headers = slack_signed({"type": "block_actions"}, "")
        status = httpx.post(url + "/slack/events", content=raw, headers=headers).status_code
        assert status == (404 if not signing_secret else 403)
        opened = fake_slack.wait_for("apps.connections.open")
        assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
        assert fake_slack.socket_mode is not None
        socket = fake_slack.socket_mode
        socket.wait_connected()

        form = inbound_form("Hola, ¿precio del termo?", from_=BUYER_WHATSAPP, to=BUSINESS_WHATSAPP)
        sig = sign_twilio(PUBLIC + "/twilio/messages", form)
        assert httpx.post(url + "/twilio/messages", data=form, headers={"X-Twilio-Signature": sig}).status_code == 200
        fake_slack.wait_for("chat.postMessage", timeout=30)  # the template drafter loads its language model
        card = fake_slack.args("chat.postMessage")[0]
        payload = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
        payload["actions"][0].update(action_id="tm_send", value=_button_value(card["blocks"], "tm_send"))
        payload["channel"]["id"] = payload["container"]["channel_id"] = CHANNEL

        first = socket.push("interactive", payload)
        assert socket.wait_ack(first) == {"envelope_id": first}
        fake_twilio.wait_for("/Messages.json")
        # Slack redelivers an envelope it thinks was lost; the decision still happens once.
        again = socket.push("interactive", payload, retry_attempt=1)
        socket.wait_ack(again)
        eventually(lambda: runtime.store.outbound_for_draft(1) is not None
                   and runtime.store.outbound_for_draft(1).provider_id is not None, what="send recorded")
    assert len(fake_twilio.sent()) == 1
    assert [d.action for d in runtime.store.decisions(runtime.services.clock.now().replace(year=2000))] == [
        Action.SEND]
    assert socket.connections == 1
    runtime.close()
