"""Telegram as a rep surface, taps in: `TelegramBot` owns the python-telegram-bot Application,
fed by the webhook route (`webhook_endpoint`) or by long polling. Its handlers translate updates
into `DecisionRequest`, `CommandRequest` and `ButtonPress` and call the core; `running()` is the
start-up/shut-down the Runtime enters (getMe, setMyCommands, then setWebhook or polling).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import (
    BotCommand,
    CallbackQuery,
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot import store_telegram as db
from bot.errors import TrademateError
from bot.metrics import Metrics
from bot.models import Action, ButtonPress, Card, CommandReply, CommandRequest, DecisionRequest, ReplyButton
from bot.surfaces import telegram_render as render
from bot.surfaces.telegram import NO_PREVIEW, SURFACE, TelegramSurface, call, chat_key, reply_keyboard

log = logging.getLogger(__name__)

ANSWER_WITHIN = 3.0  # seconds a tap waits for its decision (a Twilio send) before "working on it"
ALERT_LIMIT = 200  # answerCallbackQuery text
UPDATES = ["message", "callback_query"]
SEEN_UPDATES = 2000  # webhook update ids remembered to drop Telegram's redeliveries

Decide = Callable[[DecisionRequest], Awaitable[str | None]]
GetCard = Callable[[int], Card]
RunCommand = Callable[[CommandRequest], Awaitable[CommandReply]]
PressButton = Callable[[ButtonPress], Awaitable[CommandReply | None]]

_DONE = {Action.SEND: "Sending…", Action.REGENERATE: "Regenerating…", Action.DISCARD: "Discarded."}


class TelegramBot:
    """The Application and its handlers: card taps, Edit prompts and replies, commands, reply buttons."""

    def __init__(self, app: Application, *, surface: TelegramSurface, decide: Decide,  # type: ignore[type-arg]
                 get_card: GetCard, run: RunCommand | None = None, press: PressButton | None = None,
                 commands: Iterable[tuple[str, str]] = (), webhook_url: str = "", secret: str = "") -> None:
        self.app = app
        self.surface = surface
        self.store = surface.store
        self.decide = decide
        self.get_card = get_card
        self.run = run
        self.press = press
        self.commands = list(commands)
        self.webhook_url = webhook_url
        self.secret = secret
        self.answer_within = ANSWER_WITHIN
        self.prompts: dict[tuple[str, int], int] = {}  # (chat, prompt message) -> draft; SQLite backs it
        self._seen: OrderedDict[int, None] = OrderedDict()  # recent webhook update ids: redeliveries
        app.add_handler(CallbackQueryHandler(self.on_card_tap, pattern=f"^{render.CARD_PREFIX}"))
        app.add_handler(CallbackQueryHandler(self.on_button, pattern=f"^{render.BUTTON_PREFIX}"))
        app.add_handler(CallbackQueryHandler(self.on_unknown_tap))
        app.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        app.add_handler(MessageHandler(filters.REPLY & filters.TEXT, self.on_reply))
        app.add_error_handler(self.on_error)

    @property
    def bot(self) -> Any:
        return self.app.bot

    # --- lifecycle -----------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """getMe, setMyCommands, then setWebhook (public URL) or long polling; the reverse on exit."""
        try:
            await self.app.initialize()
        except (InvalidToken, TelegramError) as exc:
            raise TrademateError(f"Telegram did not accept the bot at start-up: {exc}") from exc
        try:
            await self._register_commands()
            if self.webhook_url:
                await call("set the webhook", lambda: self.bot.set_webhook(
                    url=self.webhook_url, secret_token=self.secret, allowed_updates=UPDATES))
            await self.app.start()
            if self.app.updater is not None:
                await self.app.updater.start_polling(allowed_updates=UPDATES, poll_interval=0.0)
            yield
        finally:
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()

    async def _register_commands(self) -> None:
        valid = [BotCommand(name, (text or name)[:256]) for name, text in self.commands
                 if render.COMMAND_NAME.fullmatch(name)]
        try:
            await call("register the commands", lambda: self.bot.set_my_commands(valid))
        except TrademateError:
            log.exception("setMyCommands failed; commands still work, Telegram just will not suggest them")

    def first_delivery(self, update: Update) -> bool:
        """False for an update id seen lately. Telegram redelivers an update it thinks we missed; the
        store would refuse the second decision anyway, but the rep should not get an "already sent"
        alert for a tap made once."""
        if update.update_id in self._seen:
            return False
        self._seen[update.update_id] = None
        while len(self._seen) > SEEN_UPDATES:
            self._seen.popitem(last=False)
        return True

    async def feed(self, update: Update) -> None:
        """Hand a webhook update to the Application (processed by its own task)."""
        await self.app.update_queue.put(update)

    def parse(self, data: Any) -> Update:
        """A webhook body as an Update; ValueError when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("not a Telegram update (no integer update_id)")
        try:
            update = Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed Telegram update: {exc}") from exc
        if update is None:
            raise ValueError("empty Telegram update")
        return update

    # --- card taps -----------------------------------------------------------------------------

    async def on_card_tap(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        req = translate_tap(query)
        if req is None:
            await self._answer(query, "This button is no longer supported.", alert=True)
        elif req.action is Action.EDIT:
            await self._prompt_edit(query, req.draft_id, req.actor)
        else:
            await self._decide_and_answer(req, query, _DONE.get(req.action, "Done."))

    async def _decide_and_answer(self, req: DecisionRequest, query: CallbackQuery | None, done: str,
                                 reply_to: Message | None = None) -> None:
        """Decide, then answer the tap: a refusal as an alert. A slow decision (a Twilio send with
        retries) gets "working on it" so the spinner stops, and a late refusal comes as a message."""
        task = asyncio.ensure_future(self._safe_decide(req))
        try:
            refusal = await asyncio.wait_for(asyncio.shield(task), self.answer_within if query else None)
        except TimeoutError:
            await self._answer(query, "Working on it…")
            query, refusal = None, await task
        if query is not None:
            await self._answer(query, refusal or done, alert=bool(refusal))
            if refusal and len(refusal) <= ALERT_LIMIT:
                return
        if refusal:
            chat = reply_to.chat.id if reply_to else chat_key(req.extra.get("chat_id") or self.surface.chat_id)
            await self._say(chat, refusal, reply_to.message_id if reply_to else None)

    async def _safe_decide(self, req: DecisionRequest) -> str | None:
        try:
            return await self.decide(req)
        except TrademateError as exc:
            return str(exc)
        except Exception:
            log.exception("%s on draft %s failed", req.action, req.draft_id)
            return "Trademate hit an internal error on that tap (logged); check the card, then retry."

    async def _prompt_edit(self, query: CallbackQuery, draft_id: int, actor: str) -> None:
        try:
            card = self.get_card(draft_id)
        except KeyError:
            await self._answer(query, "This card refers to a draft Trademate no longer has.", alert=True)
            return
        if card.decided:
            await self._answer(query, "This draft is no longer waiting for a decision; nothing to edit.",
                               alert=True)
            return
        chat = query.message.chat.id if query.message else chat_key(self.surface.chat_id)
        reply_to = query.message.message_id if query.message else None
        try:
            prompt = await call("ask for the edited text", lambda: self.bot.send_message(
                chat_id=chat, text=render.edit_prompt(card), parse_mode=ParseMode.HTML,
                reply_markup=ForceReply(input_field_placeholder="Text to send to the buyer"),
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None))
        except TrademateError as exc:
            await self._answer(query, str(exc)[:ALERT_LIMIT], alert=True)
            return
        self.prompts[(str(prompt.chat.id), prompt.message_id)] = draft_id
        db.save_edit_prompt(self.store, str(prompt.chat.id), prompt.message_id, draft_id, actor,
                            self.surface.clock.now())
        await self._answer(query, "Reply to the prompt with the text to send.")

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.reply_to_message is None or message.from_user is None:
            return
        key = (str(message.chat.id), message.reply_to_message.message_id)
        draft_id = self.prompts.get(key) or db.edit_prompt_draft(self.store, *key)
        if draft_id is None:
            return  # a reply to something that is not our prompt: not for us
        req = DecisionRequest(draft_id=draft_id, action=Action.EDIT, actor=str(message.from_user.id),
                              surface=SURFACE, text=message.text or "",
                              extra={"chat_id": key[0], "message_id": str(message.message_id)})
        await self._decide_and_answer(req, None, "", reply_to=message)

    async def on_unknown_tap(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._answer(update.callback_query, "This button is no longer supported.", alert=True)

    # --- commands and reply buttons ------------------------------------------------------------

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.from_user is None or self.run is None:
            return
        req = translate_command(message, self.bot.username)
        if req is None:
            return
        if req.name == "start" and "start" not in {name for name, _ in self.commands}:
            req = dataclasses.replace(req, name="help")  # what Telegram sends when a rep opens the bot
        await self._reply(await self.run(req), message.chat.id, message.message_id)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        parsed = render.parse_button_callback(query.data or "")
        if parsed is not None and parsed[0] == render.STORED_BUTTON:
            parsed = db.stored_button(self.store, parsed[1])
        if parsed is None or self.press is None:
            await self._answer(query, "This button is no longer supported.", alert=True)
            return
        chat = query.message.chat.id if query.message else chat_key(self.surface.chat_id)
        await self._answer(query)
        press = ButtonPress(action=parsed[0], value=parsed[1], actor=str(query.from_user.id), surface=SURFACE,
                            channel=str(chat))
        reply = await self.press(press)
        if reply is not None:
            await self._reply(reply, chat, None)

    async def _reply(self, reply: CommandReply, chat: int | str, reply_to: int | None) -> None:
        parts = render.render_reply(reply)
        markup = self._reply_keyboard(reply.buttons)
        params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        for n, part in enumerate(parts):
            keyboard = markup if n == len(parts) - 1 else None
            await call("answer the command", functools.partial(
                self.bot.send_message, chat_id=chat, text=part, parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW, reply_markup=keyboard, reply_parameters=params))

    def _reply_keyboard(self, buttons: tuple[ReplyButton, ...]) -> InlineKeyboardMarkup | None:
        return reply_keyboard(self.store, buttons, self.surface.clock.now())

    # --- small things --------------------------------------------------------------------------

    async def _answer(self, query: CallbackQuery | None, text: str | None = None, *, alert: bool = False) -> None:
        if query is None:
            return
        if text and len(text) > ALERT_LIMIT:
            text = text[:ALERT_LIMIT - 1] + "…"
        try:
            await query.answer(text=text, show_alert=alert)
        except TelegramError:
            log.warning("could not answer callback query %s", query.id, exc_info=True)

    async def _say(self, chat: int | str, text: str, reply_to: int | None) -> None:
        try:
            await self.surface.send_html(chat, render.esc(text), reply_to=reply_to)
        except TrademateError:
            log.exception("could not tell the rep: %s", text)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram update failed: %s", update, exc_info=context.error)


def translate_tap(query: CallbackQuery) -> DecisionRequest | None:
    """A tap on a card button ("tm:s:42") as a DecisionRequest by the tapping user; None if not ours."""
    parsed = render.parse_card_callback(query.data or "")
    if parsed is None:
        return None
    action, draft_id = parsed
    extra = {"chat_id": str(query.message.chat.id), "message_id": str(query.message.message_id)} \
        if query.message else {}
    return DecisionRequest(draft_id=draft_id, action=action, actor=str(query.from_user.id), surface=SURFACE,
                           extra=extra)


def translate_command(message: Message, bot_username: str | None) -> CommandRequest | None:
    """"/bgcheck@trademate_bot acme.com" -> CommandRequest("bgcheck", "acme.com"); None when the
    command names another bot (groups)."""
    text = message.text or ""
    head, _, args = text.partition(" ")
    name, _, addressee = head.lstrip("/").partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    actor = str(message.from_user.id) if message.from_user else ""
    return CommandRequest(name=name.lower(), args=args.strip(), actor=actor, surface=SURFACE,
                          channel=str(message.chat.id))


def webhook_endpoint(tg: TelegramBot, secret: str, metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    """POST /telegram/webhook: the secret header checked in constant time (403), the body parsed
    before answering (400 when it is not an update), the update processed after the 200."""
    expected = secret.encode()

    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            metrics.webhook("telegram_webhook", "forbidden")
            return PlainTextResponse("invalid or missing X-Telegram-Bot-Api-Secret-Token", status_code=403)
        try:
            update = tg.parse(json.loads(await request.body()))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            metrics.webhook("telegram_webhook", "malformed")
            return PlainTextResponse(f"malformed update: {exc}", status_code=400)
        if not tg.first_delivery(update):
            metrics.webhook("telegram_webhook", "duplicate")
            return Response(status_code=200)
        metrics.webhook("telegram_webhook", "accepted")
        return Response(status_code=200, background=BackgroundTask(tg.feed, update))

    return telegram_webhook
