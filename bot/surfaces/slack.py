"""Slack as a rep surface: cards out through the Web API, taps in through a slack-bolt AsyncApp.

Three parts: pure translators between Slack payloads and `DecisionRequest` (rendering lives in
`slack_blocks`), `SlackSurface` (the `ChatSurface` that posts and updates cards), and
`create_slack_app`, which acknowledges every tap at once and does the work in a bolt lazy
listener, so Slack's 3-second ack never waits for a Twilio send.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped, warning_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response

from bot.errors import ConfigError, TrademateError
from bot.models import Action, ButtonPress, Card, CommandReply, CommandRequest, DecisionRequest, ReplyButton
from bot.surfaces.slack_blocks import (
    ACTION_IDS,
    EDIT_BLOCK,
    EDIT_CALLBACK,
    EDIT_INPUT,
    edit_modal,
    render_card,
)

__all__ = [
    "SlackSurface",
    "build_client",
    "create_slack_app",
    "edit_modal",
    "render_card",
    "starlette_route_handler",
    "translate_action",
    "translate_edit_submission",
]

log = logging.getLogger(__name__)

SURFACE = "slack"
Decide = Callable[[DecisionRequest], Awaitable[str | None]]
GetCard = Callable[[int], Card]
RunCommand = Callable[[CommandRequest], Awaitable[CommandReply]]
PressButton = Callable[[ButtonPress], Awaitable[CommandReply | None]]

_EMPTY_EDIT = "Write the reply to send, or press Cancel."
_ACTIONS: dict[str, Action] = {action_id: action for action, action_id in ACTION_IDS.items()}

# What an operator should do about the Slack errors a misconfigured install meets first.
_SLACK_HINTS: dict[str, str] = {
    "not_in_channel": "invite the Trademate bot to the channel (/invite @Trademate)",
    "channel_not_found": "check SLACK_CHANNEL; use the channel ID (C0…) or invite the bot",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid",
    "not_authed": "SLACK_BOT_TOKEN is missing",
    "account_inactive": "the Slack app was uninstalled or its token revoked",
    "missing_scope": "the Slack app lacks a scope (chat:write is needed)",
    "msg_too_long": "the card was too long for Slack",
    "invalid_blocks": "Slack rejected the card layout",
}


# --- translators: Slack payloads -> DecisionRequest (pure) ---------------------------------------


def _draft_id(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def translate_action(body: Mapping[str, Any]) -> DecisionRequest | None:
    """A `block_actions` payload (a card button tap) as a DecisionRequest; None if it is not ours."""
    if body.get("type") != "block_actions" or not body.get("actions"):
        return None
    tapped = body["actions"][0]
    action = _ACTIONS.get(str(tapped.get("action_id", "")))
    draft_id = _draft_id(tapped.get("value"))
    actor = (body.get("user") or {}).get("id")
    if action is None or draft_id is None or not actor:
        return None
    container = body.get("container") or {}
    extra = {
        "channel": (body.get("channel") or {}).get("id") or container.get("channel_id"),
        "message_ts": container.get("message_ts") or (body.get("message") or {}).get("ts"),
        "trigger_id": body.get("trigger_id"),
    }
    return DecisionRequest(
        draft_id=draft_id,
        action=action,
        actor=str(actor),
        surface=SURFACE,
        extra={k: str(v) for k, v in extra.items() if v},
    )


def translate_edit_submission(body: Mapping[str, Any]) -> DecisionRequest:
    """The edit modal's `view_submission` as an EDIT DecisionRequest (text as typed, unstripped).

    Raises ValueError when the payload is not our modal's (no draft id in private_metadata).
    """
    view = body.get("view") or {}
    draft_id = _draft_id(view.get("private_metadata"))
    if view.get("callback_id") != EDIT_CALLBACK or draft_id is None:
        raise ValueError("not a Trademate edit submission")
    field = ((view.get("state") or {}).get("values") or {}).get(EDIT_BLOCK, {}).get(EDIT_INPUT, {})
    return DecisionRequest(
        draft_id=draft_id,
        action=Action.EDIT,
        actor=str((body.get("user") or {}).get("id", "")),
        surface=SURFACE,
        text=field.get("value") or "",
    )


# --- the surface: cards out -----------------------------------------------------------------------


def build_client(token: str, base_url: str) -> AsyncWebClient:
    """An AsyncWebClient for SLACK_API_URL that retries rate limits, 500/503s and dropped connections."""
    return AsyncWebClient(
        token=token,
        # slack_sdk joins with urljoin: without the trailing slash the last path segment is dropped.
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),  # sleeps Retry-After between tries
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def split_card_ref(card_ref: str) -> tuple[str, str]:
    """Split a card ref: "C0123:1718000000.000100" -> ("C0123", "1718000000.000100")."""
    channel, sep, ts = card_ref.partition(":")
    if not sep or not channel or not ts:
        raise ValueError(f"not a Slack card reference: {card_ref!r}")
    return channel, ts


@asynccontextmanager
async def _slack_errors(what: str) -> AsyncIterator[None]:
    """Turn Slack API and network failures into a TrademateError an operator can act on."""
    try:
        yield
    except SlackApiError as exc:
        code = str(exc.response.get("error", "unknown_error"))
        hint = _SLACK_HINTS.get(code)
        raise TrademateError(f"Slack refused to {what}: {code}" + (f" ({hint})" if hint else "")) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TrademateError(f"Could not reach Slack to {what}: {str(exc) or type(exc).__name__}") from exc


class SlackSurface:
    """Cards as Slack messages in one channel; the card ref is "channel_id:ts"."""

    name = SURFACE

    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    async def request_approval(self, card: Card) -> str:
        text, blocks = render_card(card)
        async with _slack_errors("post the card"):
            resp = await self.client.chat_postMessage(
                channel=card.destination or self.channel, text=text, blocks=blocks, unfurl_links=False,
                unfurl_media=False,  # card.destination: the owning rep's channel (team file)
            )
        # Slack answers with the channel ID even when SLACK_CHANNEL is a name; chat.update needs the ID.
        return f"{resp['channel']}:{resp['ts']}"

    async def update_card(self, card_ref: str, card: Card) -> None:
        channel, ts = split_card_ref(card_ref)
        text, blocks = render_card(card)
        async with _slack_errors("update the card"):
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    async def post(self, text: str) -> None:
        async with _slack_errors("post to Slack"):
            await self.client.chat_postMessage(channel=self.channel, text=text)

    async def post_to(self, destination: str, text: str) -> None:
        """A notice to one rep (a user id opens a DM with the bot) or one channel."""
        async with _slack_errors("post to Slack"):
            await self.client.chat_postMessage(channel=destination, text=text)

    def digest_format(self, destination: str | None) -> str:
        return "slack"

    async def post_digest(self, text: str, png: bytes | None, destination: str | None,
                          buttons: tuple[ReplyButton, ...] = ()) -> None:
        """The digest as a message with its buttons, then its chart (files_upload_v2) in the same channel.
        A failed upload is logged: the text has already arrived and reads fine alone."""
        async with _slack_errors("post the digest"):
            resp = await self.client.chat_postMessage(
                channel=destination or self.channel, text=text[:3000],
                blocks=render_reply(CommandReply(text, buttons)), unfurl_links=False, unfurl_media=False)
        if png is None:
            return
        try:
            await self.client.files_upload_v2(channel=resp["channel"], content=png, filename="digest.png",
                                              title="Funnel and reply times")
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            log.exception("could not upload the digest chart to %s", resp["channel"])


# --- the app: taps in ------------------------------------------------------------------------------


@contextmanager
def _quiet_token_warnings() -> Iterator[None]:
    """Bolt warns that the token "will be ignored" when `authorize` is given; ours returns that very
    token, so the warning would only send an operator hunting for a misconfiguration."""
    noise = {warning_token_skipped(), warning_client_prioritized_and_token_skipped()}
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")

    def keep(record: logging.LogRecord) -> bool:
        return record.getMessage() not in noise

    bolt_log.addFilter(keep)
    try:
        yield
    finally:
        bolt_log.removeFilter(keep)


def _is_retry(request: AsyncBoltRequest) -> bool:
    return bool(request.headers.get("x-slack-retry-num"))


def render_reply(reply: CommandReply) -> list[dict[str, Any]]:
    """Blocks for a command reply: the text as mrkdwn, then its buttons (action_id `tmb:<action>`)."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _chunks(reply.text or " ", 3000)
    ]
    if reply.buttons:
        buttons = [
            {"type": "button", "action_id": f"{BUTTON_PREFIX}{b.action}:{n}",
             "text": {"type": "plain_text", "text": b.label[:75]}, "value": b.value[:2000]}
            for n, b in enumerate(reply.buttons)
        ]
        blocks += [{"type": "actions", "elements": buttons[i:i + 25]} for i in range(0, len(buttons), 25)]
    return blocks[:50]


def _chunks(text: str, size: int) -> list[str]:
    """Pieces of at most `size` characters, cut at a line break when there is one (links stay whole)."""
    out = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > 0 else size
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*out, text]


def translate_command(body: Mapping[str, Any]) -> CommandRequest:
    return CommandRequest(name=str(body.get("command", "")).lstrip("/"), args=str(body.get("text", "")).strip(),
                          actor=str(body.get("user_id", "")), surface="slack", channel=body.get("channel_id"))


def translate_button(body: Mapping[str, Any]) -> ButtonPress | None:
    try:
        action = body["actions"][0]
        user = body["user"]["id"]
    except (KeyError, IndexError, TypeError):
        return None
    action_id = str(action.get("action_id", ""))
    if not action_id.startswith(BUTTON_PREFIX):
        return None
    name = action_id[len(BUTTON_PREFIX):].rsplit(":", 1)[0]
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return ButtonPress(action=name, value=str(action.get("value", "")), actor=user, surface="slack", channel=channel)


def create_slack_app(
    *, signing_secret: str, client: AsyncWebClient, decide: Decide, get_card: GetCard,
    run: RunCommand | None = None, press: PressButton | None = None,
    may_decide: Callable[[DecisionRequest], str | None] | None = None, socket_only: bool = False,
) -> AsyncApp:
    """The bolt app behind POST /slack/events: verifies signatures, acks at once, then decides.

    `decide` returns None when the decision took effect, or a sentence that is shown to the tapping
    rep only (chat.postEphemeral). `get_card` builds the Card for a draft id (KeyError if unknown).
    `may_decide` (optional) says why a rep may not decide, so Edit refuses before opening the editor.
    """
    if not signing_secret and not socket_only:
        # With an empty secret anyone can compute a valid signature. (`socket_only`: requests come over
        # the Socket Mode WebSocket, never over HTTP, so there is nothing to verify.)
        raise ConfigError("SLACK_SIGNING_SECRET is needed to verify Slack requests")
    token = client.token

    async def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip in front of the first 3-second ack.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)

    with _quiet_token_warnings():
        app = AsyncApp(
            name="trademate",
            signing_secret=signing_secret,
            client=client,
            authorize=authorize,
            # False: bolt answers Slack as soon as ack() runs; lazy listeners run after, on the same loop.
            process_before_response=False,
            request_verification_enabled=bool(signing_secret),
        )

    async def tell(user: str, channel: str | None, text: str) -> None:
        """Show a sentence to one rep: ephemeral in the card's channel, else a DM from the bot."""
        try:
            if channel:
                await client.chat_postEphemeral(channel=channel, user=user, text=text)
            else:
                await client.chat_postMessage(channel=user, text=text)
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            log.exception("could not tell %s: %s", user, text)

    async def decide_and_tell(req: DecisionRequest, channel: str | None, *, retry: bool) -> None:
        try:
            refusal = await decide(req)
        except TrademateError as exc:
            refusal = str(exc)
        except Exception:
            log.exception("%s on draft %s failed", req.action, req.draft_id)
            refusal = "Trademate hit an internal error on that tap (logged); check the card, then retry."
        # A Slack retry repeats a tap whose first delivery already answered the rep (decide() is
        # idempotent, so at most the second attempt learns "already sent"): don't say it twice.
        if refusal and not retry:
            await tell(req.actor, channel, refusal)

    def card_channel(draft_id: int) -> str | None:
        try:
            ref = get_card(draft_id).draft.card_ref
        except KeyError:
            return None
        return ref.partition(":")[0] if ref else None

    async def ack_now(ack: AsyncAck) -> None:
        await ack()

    async def on_tap(body: dict[str, Any], request: AsyncBoltRequest) -> None:
        req = translate_action(body)
        if req is not None:
            await decide_and_tell(req, req.extra.get("channel"), retry=_is_retry(request))

    async def open_editor(body: dict[str, Any]) -> None:
        req = translate_action(body)
        if req is None:
            return
        channel = req.extra.get("channel")
        try:
            card = get_card(req.draft_id)
        except KeyError:
            await tell(req.actor, channel, "This card refers to a draft Trademate no longer has.")
            return
        if card.decided:
            await tell(req.actor, channel, "This draft is no longer waiting for a decision; nothing to edit.")
            return
        refused = may_decide(req) if may_decide else None  # no editor for someone who may not send
        if refused:
            await tell(req.actor, channel, refused)
            return
        try:
            # trigger_id expires 3 s after the tap, which is why this runs right after the ack.
            await client.views_open(trigger_id=body["trigger_id"], view=edit_modal(card))
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            log.exception("could not open the editor for draft %s", req.draft_id)
            await tell(req.actor, channel, "Slack would not open the editor; tap Edit again.")

    async def ack_edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        if not (translate_edit_submission(body).text or "").strip():
            # Keeps the modal open with the message under the input.
            await ack(response_action="errors", errors={EDIT_BLOCK: _EMPTY_EDIT})
        else:
            await ack()  # closes the modal

    async def submit_edit(body: dict[str, Any], request: AsyncBoltRequest) -> None:
        req = translate_edit_submission(body)
        if (req.text or "").strip():
            await decide_and_tell(req, card_channel(req.draft_id), retry=_is_retry(request))

    app.action(ACTION_IDS[Action.SEND])(ack=ack_now, lazy=[on_tap])
    app.action(ACTION_IDS[Action.REGENERATE])(ack=ack_now, lazy=[on_tap])
    app.action(ACTION_IDS[Action.DISCARD])(ack=ack_now, lazy=[on_tap])
    app.action(ACTION_IDS[Action.EDIT])(ack=ack_now, lazy=[open_editor])
    app.view(EDIT_CALLBACK)(ack=ack_edit, lazy=[submit_edit])

    async def answer(reply: CommandReply | None, user: str, channel: str | None) -> None:
        if reply is None:
            return
        blocks = render_reply(reply)
        try:
            if reply.ephemeral and channel:
                await client.chat_postEphemeral(channel=channel, user=user, text=reply.text[:3000], blocks=blocks)
            else:
                await client.chat_postMessage(channel=channel or user, text=reply.text[:3000], blocks=blocks)
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            log.exception("could not post the reply to %s", user)

    if run is not None:
        async def ack_command(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack(text=f"Working on /{translate_command(body).name}…")

        async def run_command(body: dict[str, Any]) -> None:
            req = translate_command(body)
            await answer(await run(req), req.actor, req.channel)

        app.command(re.compile(r"^/.+"))(ack=ack_command, lazy=[run_command])

    if press is not None:
        async def on_button(body: dict[str, Any]) -> None:
            btn = translate_button(body)
            if btn is not None:
                await answer(await press(btn), btn.actor, btn.channel)

        app.action(re.compile(f"^{BUTTON_PREFIX}"))(ack=ack_now, lazy=[on_button])
    return app


BUTTON_PREFIX = "tmb:"


def starlette_route_handler(app: AsyncApp) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint for `Route("/slack/events", endpoint, methods=["POST"])`."""
    handler = AsyncSlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    return slack_events
