"""The HTTP face of `trademate run`: webhook routes, health and metrics (Starlette).

Each webhook route verifies its platform's signature, translates the payload at the edge,
puts what matters on disk through the `Inbox`, and only then acknowledges; slow work
(drafting, card updates) happens after the response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.channels import twilio as tw
from bot.channels import whatsapp as wa

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes with 413, whether or not they declare a length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(scope, receive, send, self.limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(scope, receive, send, self.limit)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = PlainTextResponse(f"request body larger than {limit} bytes", status_code=413)
    await response(scope, receive, send)


def _form(body: bytes, content_type: str) -> dict[str, str]:
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise tw.InvalidPayload(f"expected application/x-www-form-urlencoded, got {content_type or 'nothing'}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise tw.InvalidPayload(f"malformed form body: {exc}") from exc
    return dict(pairs)


def create_web_app(rt: Runtime) -> Starlette:
    settings, inbox, metrics = rt.settings, rt.inbox, rt.metrics

    async def twilio_form(request: Request, route: str) -> dict[str, str] | Response:
        """The verified form, or the error response to return."""
        if not settings.twilio_enabled:
            metrics.webhook(route, "not_configured")
            return PlainTextResponse("Twilio is not configured on this server", status_code=404)
        try:
            form = _form(await request.body(), request.headers.get("content-type", ""))
        except tw.InvalidPayload as exc:
            metrics.webhook(route, "malformed")
            return PlainTextResponse(str(exc), status_code=400)
        url = settings.trademate_public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        if not tw.verify_signature(settings.twilio_auth_token, url, form,
                                   request.headers.get("x-twilio-signature")):
            metrics.webhook(route, "forbidden")
            return PlainTextResponse("invalid or missing X-Twilio-Signature", status_code=403)
        return form

    async def twilio_messages(request: Request) -> Response:
        form = await twilio_form(request, "twilio_messages")
        if isinstance(form, Response):
            return form
        try:
            incoming = tw.translate_inbound(form)
        except tw.InvalidPayload as exc:
            metrics.webhook("twilio_messages", "malformed")
            return PlainTextResponse(str(exc), status_code=400)
        _, created = inbox.receive(incoming)  # on disk before we answer
        metrics.webhook("twilio_messages", "stored" if created else "duplicate")
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def twilio_status(request: Request) -> Response:
        form = await twilio_form(request, "twilio_status")
        if isinstance(form, Response):
            return form
        try:
            update = tw.translate_status(form)
        except tw.InvalidPayload as exc:
            metrics.webhook("twilio_status", "malformed")
            return PlainTextResponse(str(exc), status_code=400)
        changed = inbox.delivery_status(update.provider_id, update.status, update.error_code,
                                        update.error_message)
        metrics.webhook("twilio_status", "applied" if changed else "ignored")
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def whatsapp_verify(request: Request) -> Response:
        if not settings.whatsapp_enabled:
            return PlainTextResponse("WhatsApp Cloud API is not configured on this server", status_code=404)
        challenge = wa.verify_subscription(request.query_params, settings.whatsapp_verify_token)
        if challenge is None:
            metrics.webhook("whatsapp_webhook", "forbidden")
            return PlainTextResponse("hub.verify_token does not match WHATSAPP_VERIFY_TOKEN", status_code=403)
        return PlainTextResponse(challenge)

    async def whatsapp_events(request: Request) -> Response:
        if not settings.whatsapp_enabled:
            return PlainTextResponse("WhatsApp Cloud API is not configured on this server", status_code=404)
        body = await request.body()
        if not wa.verify_signature(settings.whatsapp_app_secret, body, request.headers.get("x-hub-signature-256")):
            metrics.webhook("whatsapp_webhook", "forbidden")
            return PlainTextResponse("invalid or missing X-Hub-Signature-256", status_code=403)
        try:
            events = wa.translate_webhook(json.loads(body))
        except (ValueError, wa.InvalidPayload) as exc:  # JSONDecodeError is a ValueError
            metrics.webhook("whatsapp_webhook", "malformed")
            return PlainTextResponse(f"malformed WhatsApp webhook: {exc}", status_code=400)
        for incoming in events.messages:
            _, created = inbox.receive(incoming)  # on disk before we answer
            metrics.webhook("whatsapp_webhook", "stored" if created else "duplicate")
        for st in events.statuses:
            inbox.delivery_status(st.provider_id, st.status, st.error_code, st.error_message)
        return PlainTextResponse("ok")

    async def healthz(request: Request) -> Response:
        try:
            rt.store.db.execute("SELECT 1").fetchone()
        except Exception as exc:
            return JSONResponse({"ok": False, "db": str(exc)}, status_code=503)
        return JSONResponse({"ok": True, "surface": rt.services.surface.name,
                             "channel": rt.services.channel.name})

    async def metrics_route(request: Request) -> Response:
        return PlainTextResponse(metrics.render(rt.store), media_type="text/plain; version=0.0.4")

    routes = [
        Route("/twilio/messages", twilio_messages, methods=["POST"]),
        Route("/twilio/status", twilio_status, methods=["POST"]),
        Route("/whatsapp/webhook", whatsapp_verify, methods=["GET"]),
        Route("/whatsapp/webhook", whatsapp_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
    ]
    if rt.slack_endpoint is not None:
        routes.append(Route("/slack/events", _slack(rt.slack_endpoint, rt), methods=["POST"]))

    app = Starlette(routes=routes, lifespan=rt.lifespan)
    app.add_middleware(BodyLimit, limit=settings.trademate_max_body)
    return app


def _slack(endpoint: Callable[[Request], Awaitable[Response]], rt: Runtime) -> Callable[[Request], Awaitable[Response]]:
    """Count Slack requests; bolt answers a bad signature with 401, our contract says 403 for all platforms."""

    async def wrapped(request: Request) -> Response:
        response = await endpoint(request)
        if response.status_code == 401:
            rt.metrics.webhook("slack_events", "forbidden")
            return PlainTextResponse("invalid or missing X-Slack-Signature", status_code=403)
        rt.metrics.webhook("slack_events", str(response.status_code))
        return response

    return wrapped
