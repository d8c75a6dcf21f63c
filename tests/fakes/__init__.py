"""Fake Slack, Twilio, Telegram and OpenAI-compatible servers for tests (see tests/fakes/base.py)."""

from tests.fakes.base import FakeServer, Headers, Recorded, Reply, UploadedFile
from tests.fakes.llm import FakeLLM, example_from_schema
from tests.fakes.slack import SLACK_TOKEN, FakeSlack
from tests.fakes.telegram import REP_CHAT_ID, TELEGRAM_TOKEN, FakeTelegram, callback_update, text_update
from tests.fakes.twilio import (
    BUSINESS_SMS,
    BUSINESS_WHATSAPP,
    BUYER_SMS,
    BUYER_WHATSAPP,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeTwilio,
    inbound_form,
    sign_twilio,
    status_form,
)

__all__ = [
    "BUSINESS_SMS",
    "BUSINESS_WHATSAPP",
    "BUYER_SMS",
    "BUYER_WHATSAPP",
    "REP_CHAT_ID",
    "SLACK_TOKEN",
    "TELEGRAM_TOKEN",
    "TEST_ACCOUNT_SID",
    "TEST_AUTH_TOKEN",
    "FakeLLM",
    "FakeServer",
    "FakeSlack",
    "FakeTelegram",
    "FakeTwilio",
    "Headers",
    "Recorded",
    "Reply",
    "UploadedFile",
    "callback_update",
    "example_from_schema",
    "inbound_form",
    "sign_twilio",
    "status_form",
    "text_update",
]
