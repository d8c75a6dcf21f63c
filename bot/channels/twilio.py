"""Twilio WhatsApp and SMS: verify and translate webhooks, send replies with retries.

`TWILIO_API_URL` replaces `https://api.twilio.com` for every request through a thin
`TwilioHttpClient` subclass (the SDK's own extension point), so the real client talks to a
proxy or the test fake. The SDK is synchronous; calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.errors import ChannelRefused, ChannelUnavailable
from bot.models import IncomingMessage, OutboxState, SendReceipt
from bot.phones import split_address

log = logging.getLogger(__name__)

TWILIO_PUBLIC_API = "https://api.twilio.com"
MAX_MEDIA = 10  # Twilio sends at most 10 media items per message


class InvalidPayload(ValueError):
    """A webhook body that is not what Twilio sends; the message says which field."""


# -- inbound: pure translation ------------------------------------------------------------


def verify_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def translate_inbound(form: Mapping[str, str]) -> IncomingMessage:
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    sender = form.get("From")
    if not sid:
        raise InvalidPayload("MessageSid is missing")
    if not sender:
        raise InvalidPayload("From is missing")
    try:
        count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError as exc:
        raise InvalidPayload("NumMedia is not a number") from exc
    media = tuple(form[f"MediaUrl{i}"] for i in range(count) if form.get(f"MediaUrl{i}"))
    channel, _ = split_address(sender)
    return IncomingMessage(
        provider_id=sid,
        address=sender,
        body=form.get("Body", ""),
        channel="whatsapp" if channel == "whatsapp" else "sms",
        profile_name=form.get("ProfileName") or None,
        media=media,
    )


@dataclass(frozen=True)
class StatusUpdate:
    provider_id: str
    status: str
    error_code: str | None
    error_message: str | None


def translate_status(form: Mapping[str, str]) -> StatusUpdate:
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid:
        raise InvalidPayload("MessageSid is missing")
    if not status:
        raise InvalidPayload("MessageStatus is missing")
    return StatusUpdate(sid, status.lower(), form.get("ErrorCode") or None, form.get("ErrorMessage") or None)


# -- outbound -----------------------------------------------------------------------------


class BaseUrlHttpClient(TwilioHttpClient):
    """Send every request that targets api.twilio.com to `base_url` instead."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_PUBLIC_API):
            url = self.base_url + url[len(TWILIO_PUBLIC_API):]
        return super().request(method, url, *args, **kwargs)


def build_client(account_sid: str, auth_token: str, api_url: str = TWILIO_PUBLIC_API) -> Client:
    http = None if api_url.rstrip("/") == TWILIO_PUBLIC_API else BaseUrlHttpClient(api_url)
    return Client(account_sid, auth_token, http_client=http or TwilioHttpClient(timeout=15.0))


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, requests.RequestException)


class TwilioChannel:
    """`BuyerChannel` over Twilio's Messages API."""

    name = "twilio"

    def __init__(self, client: Client, sender: str, status_callback: str | None = None, *,
                 attempts: int = 4, backoff: float = 0.5) -> None:
        self.client = client
        self.sender = split_address(sender)[1]
        self.status_callback = status_callback
        self.attempts = attempts
        self.backoff = backoff

    def _from_for(self, to: str) -> str:
        # One Twilio number serves both channels; WhatsApp needs the prefix on both ends.
        return f"whatsapp:{self.sender}" if to.startswith("whatsapp:") else self.sender

    async def send(self, to: str, body: str, *, idem_key: str) -> SendReceipt:
        kwargs: dict[str, Any] = {"to": to, "from_": self._from_for(to), "body": body}
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        message = await self._call(lambda: self.client.messages.create(**kwargs), what=f"send {idem_key}")
        return SendReceipt(provider_id=message.sid, state=_state(message.status))

    async def send_template(self, to: str, content_sid: str, variables: Mapping[str, str], *,
                            idem_key: str) -> SendReceipt:
        """Send an approved WhatsApp template: Twilio's ContentSid + ContentVariables (JSON)."""
        kwargs: dict[str, Any] = {"to": to, "from_": self._from_for(to), "content_sid": content_sid,
                                  "content_variables": json.dumps(dict(variables), ensure_ascii=False)}
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        message = await self._call(lambda: self.client.messages.create(**kwargs), what=f"send {idem_key}")
        return SendReceipt(provider_id=message.sid, state=_state(message.status))

    async def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None:
        def lookup() -> Any:
            return self.client.messages.list(to=to, from_=self._from_for(to), date_sent_after=since, limit=50)

        for message in await self._call(lookup, what=f"look up messages to {to}"):
            if (message.body or "") == body:
                return SendReceipt(provider_id=message.sid, state=_state(message.status))
        return None

    async def _call(self, fn: Any, *, what: str) -> Any:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return await asyncio.to_thread(fn)
            except Exception as exc:
                if isinstance(exc, TwilioRestException) and not _retryable(exc):
                    raise ChannelRefused(str(exc.code or exc.status), exc.msg or "refused") from exc
                if not _retryable(exc):
                    raise
                if attempt == self.attempts:
                    raise ChannelUnavailable(
                        f"Twilio did not answer after {attempt} tries ({_short(exc)}); the reply is not sent"
                    ) from exc
                log.info("twilio %s failed (%s), retry %d in %.1fs", what, _short(exc), attempt, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def _short(exc: Exception) -> str:
    if isinstance(exc, TwilioRestException):
        return f"HTTP {exc.status}"
    return type(exc).__name__


def _state(status: str | None) -> OutboxState:
    try:
        return OutboxState(status or "queued")
    except ValueError:
        return OutboxState.QUEUED  # 'accepted', 'scheduled', 'sending': not yet sent
