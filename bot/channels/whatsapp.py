"""WhatsApp Cloud API (Meta Graph), directly, without Twilio: verify and translate webhooks, send text.

There is no official Python SDK for the Cloud API; it is a small JSON-over-HTTPS API, so this
talks to it with httpx. `WHATSAPP_API_URL` (default https://graph.facebook.com/v21.0) replaces the
endpoint for a proxy or the test fake. Contacts reached this way have addresses "wa:+<number>",
which is how replies are routed back to this channel rather than to Twilio.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.errors import ChannelCannotVerify, ChannelRefused, ChannelUnavailable
from bot.models import IncomingMessage, OutboxState, SendReceipt

log = logging.getLogger(__name__)

SCHEME = "wa"
_MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")


class InvalidPayload(ValueError):
    """A webhook body that is not what Meta sends; the message says what is wrong."""


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Check `X-Hub-Signature-256: sha256=<hex HMAC of the raw body with the app secret>`."""
    if not header or not header.startswith("sha256=") or not app_secret:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo for Meta's GET verification, or None when the token does not match."""
    if params.get("hub.mode") != "subscribe" or not verify_token:
        return None
    if not hmac.compare_digest(params.get("hub.verify_token", ""), verify_token):
        return None
    return params.get("hub.challenge", "")


@dataclass(frozen=True)
class StatusUpdate:
    provider_id: str
    status: str
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True)
class WebhookEvents:
    messages: tuple[IncomingMessage, ...]
    statuses: tuple[StatusUpdate, ...]


def _values(payload: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if payload.get("object") != "whatsapp_business_account":
        raise InvalidPayload("object is not whatsapp_business_account")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise InvalidPayload("entry is missing")
    for entry in entries:
        for change in entry.get("changes") or []:
            value = change.get("value")
            if isinstance(value, Mapping):
                yield value


def translate_webhook(payload: Mapping[str, Any]) -> WebhookEvents:
    """Buyer messages and delivery statuses in one webhook body (Meta batches them)."""
    messages: list[IncomingMessage] = []
    statuses: list[StatusUpdate] = []
    try:
        for value in _values(payload):
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name") for c in value.get("contacts") or []}
            for msg in value.get("messages") or []:
                sender, msg_id = msg.get("from"), msg.get("id")
                if not sender or not msg_id:
                    raise InvalidPayload("a message lacks 'from' or 'id'")
                kind = msg.get("type", "text")
                body = (msg.get("text") or {}).get("body", "")
                media: tuple[str, ...] = ()
                if kind in _MEDIA_TYPES:
                    part = msg.get(kind) or {}
                    body = part.get("caption", "")
                    label = part.get("filename") or part.get("mime_type") or kind
                    media = (f"whatsapp {kind} {label} (media id {part.get('id', '?')})",)
                elif kind != "text":
                    body = body or f"[{kind} message]"
                messages.append(IncomingMessage(provider_id=str(msg_id), address=f"{SCHEME}:+{sender}", body=body,
                                                channel="whatsapp", profile_name=names.get(sender), media=media))
            for st in value.get("statuses") or []:
                errors = st.get("errors") or [{}]
                code = errors[0].get("code")
                statuses.append(StatusUpdate(str(st.get("id", "")), str(st.get("status", "")).lower(),
                                             str(code) if code is not None else None,
                                             errors[0].get("title") or errors[0].get("message")))
    except (AttributeError, TypeError) as exc:
        raise InvalidPayload(f"unexpected shape: {exc}") from exc
    return WebhookEvents(tuple(messages), tuple(statuses))


class WhatsAppCloudChannel:
    """`BuyerChannel` over the Cloud API's `/<phone-number-id>/messages`."""

    name = "whatsapp_cloud"

    def __init__(self, token: str, phone_number_id: str, api_url: str, *, attempts: int = 4,
                 backoff: float = 0.5, client: httpx.AsyncClient | None = None) -> None:
        self.url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.attempts = attempts
        self.backoff = backoff
        self.client = client or httpx.AsyncClient(timeout=15.0)

    async def send(self, to: str, body: str, *, idem_key: str) -> SendReceipt:
        number = to.partition(":")[2] if to.startswith(f"{SCHEME}:") else to
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": number.lstrip("+"),
                   "type": "text", "text": {"preview_url": False, "body": body}}
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await self.client.post(self.url, json=payload, headers=self.headers)
            except httpx.TransportError as exc:
                problem = type(exc).__name__
            else:
                if resp.status_code < 400:
                    return SendReceipt(provider_id=_message_id(resp), state=OutboxState.SENT)
                code, message = _error(resp)
                if resp.status_code != 429 and resp.status_code < 500 and code != "130429":
                    raise ChannelRefused(code or str(resp.status_code), message)
                problem = f"HTTP {resp.status_code}"
            if attempt == self.attempts:
                raise ChannelUnavailable(
                    f"WhatsApp did not answer after {attempt} tries ({problem}); the reply is not sent")
            log.info("whatsapp send %s failed (%s), retry %d in %.1fs", idem_key, problem, attempt, delay)
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None:
        raise ChannelCannotVerify(
            "Trademate stopped while handing this reply to WhatsApp, and the Cloud API cannot say whether it "
            "arrived; check the chat on WhatsApp and resend it if it is missing")


def _message_id(resp: httpx.Response) -> str:
    try:
        return str(resp.json()["messages"][0]["id"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ChannelUnavailable(f"WhatsApp answered without a message id: {resp.text[:200]}") from exc


def _error(resp: httpx.Response) -> tuple[str | None, str]:
    try:
        err = resp.json().get("error") or {}
    except ValueError:
        return None, resp.text[:200] or f"HTTP {resp.status_code}"
    details = (err.get("error_data") or {}).get("details")
    code = err.get("code")
    return (str(code) if code is not None else None), str(details or err.get("message") or resp.reason_phrase)
