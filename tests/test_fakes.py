"""The fakes answer the real SDK clients the way the platforms do (otherwise e2e tests prove nothing)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest
from telegram.ext import ApplicationBuilder
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.conftest import NetworkGuard
from tests.fakes import (
    BUSINESS_WHATSAPP,
    BUYER_WHATSAPP,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeLLM,
    FakeSlack,
    FakeTelegram,
    FakeTwilio,
    callback_update,
    inbound_form,
    sign_twilio,
    status_form,
    text_update,
)

PAYLOADS = Path(__file__).parent / "payloads"


# Slack ------------------------------------------------------------------------------------------


def slack_client(fake: FakeSlack, token: str = SLACK_TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.url + "/api/")


async def test_slack_post_update_and_upload(fake_slack: FakeSlack) -> None:
    client = slack_client(fake_slack)
    assert (await client.auth_test())["user_id"] == "U0TRADEBOT"

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Draft* ready"}}]
    first = await client.chat_postMessage(channel="C0SALES", text="Draft ready", blocks=blocks)
    second = await client.chat_postMessage(channel="C0SALES", text="Another", thread_ts=first["ts"])
    assert first["ok"] and first["channel"] == "C0SALES"
    assert float(second["ts"]) > float(first["ts"]) and len(first["ts"].split(".")[1]) == 6
    assert fake_slack.messages("C0SALES")[0]["blocks"] == blocks

    updated = await client.chat_update(channel="C0SALES", ts=first["ts"], text="Sent ✅", blocks=[])
    assert updated["message"]["text"] == "Sent ✅"
    assert fake_slack.posted[first["ts"]]["text"] == "Sent ✅"
    assert fake_slack.updates(first["ts"])[0]["blocks"] == []

    upload = await client.files_upload_v2(
        channel="C0SALES", content=b"sku,price\nrice,820\n", filename="quote.csv", initial_comment="Quote"
    )
    assert upload["file"]["name"] == "quote.csv"
    [stored] = fake_slack.uploads()
    assert stored["content"] == b"sku,price\nrice,820\n" and stored["channel_id"] == "C0SALES"

    fake_slack.wait_for(lambda r: r.path.endswith("files.completeUploadExternal"))
    assert fake_slack.calls("chat.postMessage")[0].headers["Authorization"] == f"Bearer {SLACK_TOKEN}"


async def test_slack_views_lookups_and_errors(fake_slack: FakeSlack) -> None:
    client = slack_client(fake_slack)
    view = {
        "type": "modal",
        "callback_id": "edit_draft",
        "title": {"type": "plain_text", "text": "Edit"},
        "blocks": [],
    }
    opened = await client.views_open(trigger_id="123.456.abc", view=view)
    updated = await client.views_update(view_id=opened["view"]["id"], view={**view, "private_metadata": "d1"})
    assert updated["view"]["private_metadata"] == "d1"

    fake_slack.users["U0REP1"] = {"real_name": "Ravi", "profile": {"email": "ravi@trademate.test"}}
    user = (await client.users_info(user="U0REP1"))["user"]
    assert (user["real_name"], user["profile"]["email"], user["tz"]) == (
        "Ravi",
        "ravi@trademate.test",
        "Asia/Kolkata",
    )
    assert (await client.conversations_info(channel="C0SALES"))["channel"]["is_member"]
    assert (await client.chat_postEphemeral(channel="C0SALES", user="U0REP1", text="hi"))["message_ts"]

    with pytest.raises(SlackApiError) as bad_token:
        await slack_client(fake_slack, token="xoxb-wrong").chat_postMessage(channel="C0SALES", text="x")
    assert bad_token.value.response["error"] == "invalid_auth"

    fake_slack.error_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as missing:
        await client.chat_postMessage(channel="C0GONE", text="x")
    assert missing.value.response["error"] == "channel_not_found"

    fake_slack.fail_next("chat.postMessage", 429, headers={"Retry-After": "0"})
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C0SALES", text="x")
    assert limited.value.response.status_code == 429
    assert [r.status for r in fake_slack.calls("chat.postMessage")][-1] == 429
    assert (await client.api_call("reactions.add", json={"name": "white_check_mark"}))["ok"]


# Twilio -----------------------------------------------------------------------------------------


class RewritingHttpClient(TwilioHttpClient):
    """Sends the real Twilio client's requests to the fake (the product has its own equivalent)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, url.replace("https://api.twilio.com", self.base_url, 1), *args, **kwargs)


def twilio_client(fake: FakeTwilio, token: str = TEST_AUTH_TOKEN) -> Client:
    return Client(TEST_ACCOUNT_SID, token, http_client=RewritingHttpClient(fake.url))


def test_twilio_send_list_and_refuse(fake_twilio: FakeTwilio) -> None:
    client = twilio_client(fake_twilio)
    message = client.messages.create(
        to=BUYER_WHATSAPP, from_=BUSINESS_WHATSAPP, body="Price: USD 820/MT CIF", status_callback="http://x/s"
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.to, message.body) == ("queued", BUYER_WHATSAPP, "Price: USD 820/MT CIF")
    assert message.date_created is not None
    assert fake_twilio.sent() == [fake_twilio.calls("Messages.json")[0].form]
    assert fake_twilio.sent()[0]["StatusCallback"] == "http://x/s"

    fake_twilio.add_inbound("old question", date_sent=datetime.now(UTC) - timedelta(days=3))
    recent = fake_twilio.add_inbound("need price")
    window = client.messages.list(from_=BUYER_WHATSAPP, date_sent_after=datetime.now(UTC) - timedelta(hours=24))
    assert [m.sid for m in window] == [recent["sid"]]
    assert len(client.messages.list(page_size=1)) == 3  # follows next_page_uri through the fake

    fake_twilio.refuse_next(code=63016)
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to=BUYER_WHATSAPP, from_=BUSINESS_WHATSAPP, body="late reply")
    assert (refused.value.code, refused.value.status) == (63016, 400)
    assert "outside the allowed window" in refused.value.msg
    assert len(fake_twilio.sent()) == 1

    fake_twilio.fail_next("Messages.json", 429, method="POST")
    with pytest.raises(TwilioRestException) as limited:
        client.messages.create(to=BUYER_WHATSAPP, from_=BUSINESS_WHATSAPP, body="again")
    assert (limited.value.status, limited.value.code) == (429, 20429)

    with pytest.raises(TwilioRestException) as unauth:
        twilio_client(fake_twilio, token="wrong").messages.create(to=BUYER_WHATSAPP, from_=BUSINESS_WHATSAPP, body="x")
    assert unauth.value.status == 401
    assert client.api.accounts(TEST_ACCOUNT_SID).fetch().status == "active"
    assert client.messages(message.sid).fetch().body == "Price: USD 820/MT CIF"


def test_twilio_webhook_builders_and_payloads() -> None:
    url = "https://trademate.example/twilio/messages"
    form = inbound_form("Need 20 MT", media=[("https://api.twilio.com/m/ME1", "image/jpeg")])
    assert form["MessageSid"].startswith("MM") and form["NumMedia"] == "1" and form["WaId"] == "919876543210"
    assert RequestValidator(TEST_AUTH_TOKEN).validate(url, form, sign_twilio(url, form, TEST_AUTH_TOKEN))
    assert inbound_form(from_="+919876543210", to="+15005550006")["FromCountry"] == "IN"
    failed = status_form("SM" + "0" * 32, "failed", 63016)
    assert (failed["MessageStatus"], failed["ErrorCode"]) == ("failed", "63016")

    for name in (
        "twilio_inbound_whatsapp",
        "twilio_inbound_sms",
        "twilio_status_delivered",
        "twilio_status_failed",
    ):
        payload = json.loads((PAYLOADS / f"{name}.json").read_text())
        assert payload["AccountSid"] == TEST_ACCOUNT_SID and payload["MessageSid"].startswith("SM")


# LLM --------------------------------------------------------------------------------------------


class DraftReply(BaseModel):
    language: str
    intent: str
    reply: str
    needs_review: bool


def chat_model(fake: FakeLLM, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=fake.url + "/v1", api_key="test", max_retries=0, **kwargs)


async def test_llm_structured_output_both_methods(fake_llm: FakeLLM) -> None:
    answer = {"language": "ar", "intent": "price_request", "reply": "USD 820/MT CIF", "needs_review": False}
    fake_llm.reply_json(answer)
    draft = chat_model(fake_llm).with_structured_output(DraftReply).invoke("Buyer: price for basmati?")
    assert draft == DraftReply(**answer)
    request = fake_llm.completions()[-1]
    assert request["response_format"]["type"] == "json_schema"
    assert "basmati" in fake_llm.last_prompt_text()

    fake_llm.reply_json(answer)
    structured = chat_model(fake_llm).with_structured_output(DraftReply, method="function_calling")
    assert await structured.ainvoke("Buyer: price?") == DraftReply(**answer)
    assert fake_llm.completions()[-1]["tool_choice"]["function"]["name"] == "DraftReply"

    unscripted = chat_model(fake_llm).with_structured_output(DraftReply).invoke("anything")
    assert isinstance(unscripted, DraftReply)
    fake_llm.default = lambda request: {**answer, "intent": "complaint"}
    assert chat_model(fake_llm).with_structured_output(DraftReply).invoke("x").intent == "complaint"

    fake_llm.reply_text("Hello there")
    streamed = "".join(str(c.content) for c in chat_model(fake_llm, streaming=True).stream("hi"))
    assert streamed == "Hello there"
    usage = chat_model(fake_llm).invoke("hi").usage_metadata
    assert usage is not None and usage["total_tokens"] > 0


async def test_llm_failures_and_timeouts(fake_llm: FakeLLM) -> None:
    fake_llm.fail_next(status=500)
    with pytest.raises(openai.InternalServerError):
        await chat_model(fake_llm).ainvoke("hi")

    fake_llm.delay_next(1.0)
    with pytest.raises(openai.APITimeoutError):
        await chat_model(fake_llm, timeout=0.2).ainvoke("hi")
    assert len(fake_llm.completions()) == 2


# Telegram ---------------------------------------------------------------------------------------


def telegram_bot(fake: FakeTelegram) -> Bot:
    return Bot(TELEGRAM_TOKEN, base_url=fake.url + "/bot", base_file_url=fake.url + "/file/bot")


async def test_telegram_send_edit_photo_and_updates(fake_telegram: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Send", callback_data="send:d1")]])
    async with telegram_bot(fake_telegram) as bot:
        assert bot.username == "trademate_test_bot"
        sent = await bot.send_message(chat_id=501234567, text="Draft for Omar", reply_markup=keyboard)
        assert (sent.chat.id, sent.text, sent.reply_markup) == (501234567, "Draft for Omar", keyboard)
        [args] = fake_telegram.messages(501234567)
        assert args["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "send:d1"

        edited = await bot.edit_message_text("Sent ✅", chat_id=501234567, message_id=sent.message_id)
        assert edited.text == "Sent ✅" and edited.reply_markup is None
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("Sent ✅", chat_id=501234567, message_id=sent.message_id)
        await bot.edit_message_reply_markup(chat_id=501234567, message_id=sent.message_id, reply_markup=keyboard)
        assert await bot.answer_callback_query("cbq-1", text="Done")
        assert await bot.set_my_commands([("bgcheck", "Background check")])

        photo = await bot.send_photo(chat_id=501234567, photo=b"\x89PNG fake bytes", caption="Report")
        assert photo.caption == "Report" and photo.photo[-1].width == 1280
        upload = fake_telegram.args("sendPhoto")[0]["photo"]
        assert upload.content == b"\x89PNG fake bytes"
        downloaded = await (await bot.get_file(photo.photo[-1].file_id)).download_as_bytearray()
        assert bytes(downloaded) == b"\x89PNG fake bytes"

        first = fake_telegram.push_update(text_update("/bgcheck acme.ae"))
        updates = await bot.get_updates(timeout=1)
        assert [u.update_id for u in updates] == [first]
        assert updates[0].message is not None and updates[0].message.text == "/bgcheck acme.ae"

        later = threading.Timer(0.1, fake_telegram.push_update, [text_update("hello")])
        later.start()
        polled = await bot.get_updates(offset=first + 1, timeout=5)
        assert [u.message.text for u in polled if u.message] == ["hello"]
        assert fake_telegram.pending_updates()[0]["update_id"] == polled[0].update_id

        fake_telegram.push_update(callback_update("send:d1", fake_telegram.last_sent(501234567)))
        [tap] = await bot.get_updates(offset=polled[0].update_id + 1)
        assert tap.callback_query is not None and tap.callback_query.data == "send:d1"
        assert tap.callback_query.message is not None and tap.callback_query.message.message_id == photo.message_id


async def test_telegram_application_initialize_and_webhook(fake_telegram: FakeTelegram) -> None:
    app = (
        ApplicationBuilder()
        .token(TELEGRAM_TOKEN)
        .base_url(fake_telegram.url + "/bot")
        .base_file_url(fake_telegram.url + "/file/bot")
        .updater(None)
        .build()
    )
    await app.initialize()
    try:
        assert app.bot.id == 7012345678
        assert await app.bot.set_webhook("https://trademate.example/telegram/webhook", secret_token="s3cret")
        assert fake_telegram.webhook["url"].endswith("/telegram/webhook")
        assert await app.bot.delete_webhook()
    finally:
        await app.shutdown()
    assert fake_telegram.requests[0].path.endswith("/getMe")


# Network guard ----------------------------------------------------------------------------------


def test_network_guard_blocks_non_local_hosts(network_guard: NetworkGuard) -> None:
    with network_guard.expect_blocked(), pytest.raises(ConnectionRefusedError, match="network guard"):
        socket.create_connection(("10.255.255.1", 80), timeout=0.5)
    with network_guard.expect_blocked(), pytest.raises(httpx.ConnectError):
        httpx.get("http://example.com/", timeout=0.5)
    sock = socket.socket()
    try:
        with network_guard.expect_blocked(), pytest.raises(ConnectionRefusedError):
            sock.connect(("93.184.215.14", 443))
    finally:
        sock.close()


async def test_network_guard_allows_loopback(fake_slack: FakeSlack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(fake_slack.url.replace("127.0.0.1", "localhost") + "/api/api.test")
    assert response.json() == {"ok": False, "error": "not_authed"}
    await asyncio.wait_for(fake_slack.await_for("api.test"), 1)
