"""Work that failed half-way is finished later, once: drafts whose card never reached Slack,
messages acknowledged before a crash, Twilio outages shown on the card."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import build_runtime
from bot.config import Settings
from bot.models import Action, DecisionRequest, IncomingMessage
from bot.phones import phone_info
from tests.fakes import (
    BUSINESS_WHATSAPP,
    BUYER_WHATSAPP,
    SLACK_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeSlack,
    FakeTwilio,
)


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


def _settings(tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio) -> Settings:
    return Settings(_env_file=None, trademate_db=str(tmp_path / "r.db"),  # type: ignore[call-arg]
                    trademate_public_url="https://trademate.test", twilio_account_sid=TEST_ACCOUNT_SID,
                    twilio_auth_token=TEST_AUTH_TOKEN, twilio_from=BUSINESS_WHATSAPP, twilio_api_url=twilio.url,
                    slack_bot_token=SLACK_TOKEN, slack_signing_secret="s", slack_api_url=slack.url + "/api/",
                    slack_channel="C0SALES001")


def test_a_card_slack_refused_is_posted_by_a_later_sweep(tmp_path: Path, fake_slack: FakeSlack,
                                                         fake_twilio: FakeTwilio) -> None:
    clock = Clock()
    rt = build_runtime(_settings(tmp_path, fake_slack, fake_twilio), clock=clock)
    fake_slack.error_next("chat.postMessage", "channel_not_found")

    async def flow() -> None:
        rt.inbox.receive(IncomingMessage("SM1", BUYER_WHATSAPP, "Hello, price of VF-500?", "whatsapp"))
        await rt.inbox.drain()
        assert rt.store.pending_drafts()[0].card_ref is None  # Slack said no; the draft is kept
        assert await rt.inbox.sweep() == 0  # too recent: its card may still be on the way
        clock.at += timedelta(minutes=3)
        assert await rt.inbox.sweep() == 1
        assert await rt.inbox.sweep() == 0  # once

    asyncio.run(flow())
    # Two attempts reached Slack: the refused one and the sweep's; no third.
    assert [m["channel"] for m in fake_slack.messages()] == ["C0SALES001", "C0SALES001"]
    assert rt.store.pending_drafts()[0].card_ref is not None
    rt.close()


def test_a_message_acknowledged_before_a_crash_is_drafted_at_start(tmp_path: Path, fake_slack: FakeSlack,
                                                                   fake_twilio: FakeTwilio) -> None:
    settings = _settings(tmp_path, fake_slack, fake_twilio)
    first = build_runtime(settings)
    # The webhook stored the message and answered 200; the process died before drafting.
    first.store.add_inbound(IncomingMessage("SM9", BUYER_WHATSAPP, "Hi, MOQ?", "whatsapp"),
                            phone_info(BUYER_WHATSAPP), datetime.now(UTC))
    first.close()
    second = build_runtime(settings)
    resumed = asyncio.run(second.inbox.resume())
    assert resumed["drafts"] == 1
    assert len(fake_slack.messages()) == 1
    assert asyncio.run(second.inbox.resume())["drafts"] == 0
    second.close()


def test_twilio_outage_is_retried_then_shown_on_the_card(tmp_path: Path, fake_slack: FakeSlack,
                                                         fake_twilio: FakeTwilio) -> None:
    rt = build_runtime(_settings(tmp_path, fake_slack, fake_twilio))
    fake_twilio.fail_next("Messages.json", 503, times=10, method="POST")

    async def flow() -> None:
        rt.inbox.receive(IncomingMessage("SM1", BUYER_WHATSAPP, "Hello", "whatsapp"))
        await rt.inbox.drain()
        draft = rt.store.pending_drafts()[0]
        rt.services.channel.backoff = 0.01  # type: ignore[attr-defined]
        assert await rt.inbox.decide(DecisionRequest(draft.id, Action.SEND, "U1", "slack")) is None

    asyncio.run(flow())
    assert len(fake_twilio.calls("/Messages.json", method="POST")) == 4  # tried, then gave up
    assert fake_twilio.sent() == []
    last = fake_slack.args("chat.update")[-1]
    assert "did not answer after 4 tries" in str(last["blocks"])
    rt.close()
