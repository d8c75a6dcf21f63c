"""One contract, every rep surface: the same scenarios run against Slack and Telegram through the
real app and the fakes, so the two surfaces cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.models import Action
from tests.drivers import (
    LLM_ANSWER,
    SlackDriver,
    TelegramDriver,
    running,
    slack_settings,
    telegram_settings,
)
from tests.fakes import BUYER_WHATSAPP, FakeLLM, FakeSlack, FakeTelegram, FakeTwilio
from tests.serving import eventually

Surface = SlackDriver | TelegramDriver


@pytest.fixture(params=["slack", "telegram"])
def rep(request: pytest.FixtureRequest, tmp_path: Path, fake_twilio: FakeTwilio, fake_llm: FakeLLM,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Surface]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    fake_llm.default = lambda r: LLM_ANSWER
    model = {"trademate_model": "openai:gpt-4o-mini", "trademate_model_timeout": 5}
    if request.param == "slack":
        slack: FakeSlack = request.getfixturevalue("fake_slack")
        settings = slack_settings(tmp_path, fake_twilio, slack, **model)
        with running(settings, lambda url, rt: SlackDriver(url, rt, fake_twilio, slack=slack)) as d:
            yield d  # type: ignore[misc]
    else:
        telegram: FakeTelegram = request.getfixturevalue("fake_telegram")
        settings = telegram_settings(tmp_path, fake_twilio, telegram, **model)
        with running(settings, lambda url, rt: TelegramDriver(url, rt, fake_twilio, telegram=telegram)) as d:
            yield d  # type: ignore[misc]


def test_buyer_message_becomes_a_card_with_four_actions(rep: Surface) -> None:
    assert rep.buyer_writes("Hola, ¿precio del termo de 500 ml?").status_code == 200
    card = rep.card()
    assert rep.actions(card) == ["send", "edit", "regenerate", "discard"]
    eventually(lambda: rep.db("SELECT card_ref IS NOT NULL FROM drafts") == [(1,)], what="card ref stored")


def test_send_makes_one_twilio_message_and_the_card_shows_it(rep: Surface) -> None:
    rep.buyer_writes("Hola")
    assert rep.tap(Action.SEND, rep.card()) == 200
    sent = rep.twilio.wait_for("/Messages.json").form
    assert sent["To"] == BUYER_WHATSAPP and sent["Body"] == LLM_ANSWER["reply"]
    rep.wait_card_saying("Sent by")
    assert len(rep.twilio.sent()) == 1
    assert rep.db("SELECT action FROM decisions") == [("send",)]


def test_discard_sends_nothing(rep: Surface) -> None:
    rep.buyer_writes("Hola")
    rep.tap(Action.DISCARD, rep.card())
    rep.wait_card_saying("iscarded")
    assert rep.twilio.sent() == []
    assert rep.db("SELECT state FROM drafts") == [("discarded",)]


def test_status_callback_shows_delivered_on_the_card(rep: Surface) -> None:
    rep.buyer_writes("Hola")
    rep.tap(Action.SEND, rep.card())
    rep.twilio.wait_for("/Messages.json")
    rep.wait_card_saying("sent")
    eventually(lambda: rep.db("SELECT provider_id IS NOT NULL FROM outbox") == [(1,)], what="provider id")
    assert rep.delivery("delivered").status_code == 200
    rep.wait_card_saying("delivered")
    assert rep.db("SELECT state FROM outbox") == [("delivered",)]


def test_second_tap_is_refused_and_sends_nothing_more(rep: Surface) -> None:
    rep.buyer_writes("Hola")
    card = rep.card()
    rep.tap(Action.SEND, card)
    rep.twilio.wait_for("/Messages.json")
    rep.wait_card_saying("Sent by")
    rep.tap(Action.SEND, card)
    eventually(lambda: rep.refusals() == 1, what="one refusal for the second tap")
    rep.tap(Action.DISCARD, card)
    eventually(lambda: rep.refusals() == 2, what="a refusal for a late discard")
    assert len(rep.twilio.sent()) == 1
    assert rep.db("SELECT state FROM drafts") == [("sent",)]
