"""Telegram as a rep surface, cards out: the PTB Application for TELEGRAM_API_URL, Bot API calls
with plain-words errors, and `TelegramSurface`, the `ChatSurface` posting cards as HTML messages
with an inline keyboard (rendering lives in `telegram_render`; taps, edits and commands come in
through `telegram_bot`).

Multi-part cards: a card longer than 4096 characters is several messages; the keyboard sits under
the last. The card ref is "chat_id:message_id" of the *last* message as first posted, and is only
a key after that: the ids of every part are kept in SQLite (`telegram_card_parts`), and
`update_card` re-renders the card, edits the parts it still has, deletes parts no longer needed and
posts new parts after the card when a re-render (say a longer regenerated draft) needs more.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import certifi
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from bot import store_telegram as db
from bot.errors import TrademateError
from bot.models import Card, CommandReply, ReplyButton
from bot.ports import Clock, SystemClock
from bot.store import Store
from bot.surfaces import telegram_render as render

log = logging.getLogger(__name__)

SURFACE = "telegram"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def build_application(token: str, api_url: str, *, polling: bool) -> Application:  # type: ignore[type-arg]
    """The PTB Application for TELEGRAM_API_URL; updates are handled concurrently (exactly-once is
    the store's job), and the Updater exists only when we poll."""
    url = api_url.rstrip("/")
    tls = {"verify": _tls_context()}
    builder = (ApplicationBuilder().token(token).base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
               .concurrent_updates(True)
               .request(HTTPXRequest(connection_pool_size=256, httpx_kwargs=tls))
               .get_updates_request(HTTPXRequest(connection_pool_size=1, httpx_kwargs=tls)))
    if not polling:
        builder = builder.updater(None)
    return builder.build()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One certificate store for every client: loading it costs ~0.1 s, and PTB makes two clients."""
    return ssl.create_default_context(cafile=certifi.where())


def chat_key(chat: str | int) -> int | str:
    """TELEGRAM_CHAT_ID as the API wants it: numbers as ints, "@channel" names as they are."""
    text = str(chat).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def is_telegram_chat(destination: str) -> bool:
    """Telegram chats are numbers (groups negative) or @names; Slack channels are C0…/G0…/D0…."""
    text = destination.strip()
    return text.lstrip("-").isdigit() or text.startswith("@")


def split_card_ref(card_ref: str) -> tuple[int | str, int]:
    chat, sep, message_id = card_ref.rpartition(":")
    if not sep or not chat or not message_id.isdigit():
        raise ValueError(f"not a Telegram card reference: {card_ref!r}")
    return chat_key(chat), int(message_id)


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def call(what: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    """One Bot API call, retried once after a 429; failures become a TrademateError an operator reads."""
    for attempt in (1, 2):
        try:
            return await fn()
        except RetryAfter as exc:
            if attempt == 2:
                raise TrademateError(f"Telegram is rate-limiting the bot; could not {what}") from exc
            await asyncio.sleep(min(_seconds(exc.retry_after), 5.0))
        except InvalidToken as exc:
            raise TrademateError(f"Telegram refused TELEGRAM_BOT_TOKEN; could not {what}") from exc
        except Forbidden as exc:
            raise TrademateError(f"Telegram refused to {what}: {exc.message} (is the bot in the chat?)") from exc
        except BadRequest as exc:
            hint = " (check TELEGRAM_CHAT_ID)" if "chat not found" in exc.message.lower() else ""
            raise TrademateError(f"Telegram refused to {what}: {exc.message}{hint}") from exc
        except TelegramError as exc:
            raise TrademateError(f"Could not reach Telegram to {what}: {exc.message}") from exc
    raise AssertionError("unreachable")


def _not_modified(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, BadRequest) and "not modified" in cause.message.lower()


def card_keyboard(draft_id: int) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(label, callback_data=render.card_callback(action, draft_id))
               for action, label in render.KEYBOARD_LABELS]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def reply_keyboard(store: Store, buttons: tuple[ReplyButton, ...], now: datetime) -> InlineKeyboardMarkup | None:
    """Buttons under a command reply or digest; a value too long for callback_data is kept in SQLite."""
    rows = []
    for b in buttons:
        data = render.button_callback(b.action, b.value) or render.stored_button_callback(
            db.save_button(store, b.action, b.value, now))
        rows.append([InlineKeyboardButton(b.label[:64], callback_data=data)])
    return InlineKeyboardMarkup(rows) if rows else None


class TelegramSurface:
    """Cards as Telegram messages in `card.destination` or TELEGRAM_CHAT_ID; see the module doc."""

    name = SURFACE

    def __init__(self, bot: Any, store: Store, chat_id: str, clock: Clock | None = None) -> None:
        self.bot = bot
        self.store = store
        self.chat_id = chat_id
        self.clock = clock or SystemClock()

    async def send_html(self, chat: int | str, text: str, markup: InlineKeyboardMarkup | None = None,
                        reply_to: int | None = None) -> Message:
        """One HTML message (`text` already escaped); link previews off, they would show buyer URLs."""
        params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        message: Message = await call("post the card", lambda: self.bot.send_message(
            chat_id=chat, text=text, parse_mode=ParseMode.HTML, reply_markup=markup,
            link_preview_options=NO_PREVIEW, reply_parameters=params))
        return message

    async def request_approval(self, card: Card) -> str:
        chat = chat_key(card.destination or self.chat_id)
        if chat == "":
            raise TrademateError("TELEGRAM_CHAT_ID is not set; Trademate does not know where to post cards")
        parts = render.render_card(card)
        markup = None if card.decided else card_keyboard(card.draft.id)
        sent = [await self.send_html(chat, part, markup if n == len(parts) - 1 else None)
                for n, part in enumerate(parts)]
        last = sent[-1]
        ref = f"{last.chat.id}:{last.message_id}"
        if len(sent) > 1:
            db.save_card_parts(self.store, ref, str(last.chat.id), [m.message_id for m in sent])
        return ref

    async def update_card(self, card_ref: str, card: Card) -> None:
        chat, last_id = split_card_ref(card_ref)
        ids = db.card_parts(self.store, card_ref) or [last_id]
        parts = render.render_card(card)
        markup = None if card.decided else card_keyboard(card.draft.id)
        new_ids: list[int] = []
        for n, part in enumerate(parts):
            keyboard = markup if n == len(parts) - 1 else None
            if n < len(ids):
                await self._edit(chat, ids[n], part, keyboard)
                new_ids.append(ids[n])
            else:  # the re-render is longer than the card was: continue it below
                new_ids.append((await self.send_html(chat, part, keyboard, reply_to=new_ids[-1])).message_id)
        for surplus in ids[len(parts):]:
            await self._drop(chat, surplus)
        if new_ids != ids:
            db.save_card_parts(self.store, card_ref, str(chat), new_ids)

    async def _edit(self, chat: int | str, message_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
        try:
            await call("update the card", lambda: self.bot.edit_message_text(
                chat_id=chat, message_id=message_id, text=text, parse_mode=ParseMode.HTML,
                reply_markup=markup, link_preview_options=NO_PREVIEW))
        except TrademateError as exc:
            if not _not_modified(exc):  # same text and keyboard: nothing to change is success
                raise

    async def _drop(self, chat: int | str, message_id: int) -> None:
        try:
            await call("remove a card part", lambda: self.bot.delete_message(chat_id=chat, message_id=message_id))
        except TrademateError:  # older than 48 hours: Telegram will not delete it, so blank it
            await self._edit(chat, message_id, "⋯", None)

    def digest_format(self, destination: str | None) -> str:
        return "plain"

    async def post_digest(self, text: str, png: bytes | None, destination: str | None,
                          buttons: tuple[ReplyButton, ...] = ()) -> None:
        """The digest as HTML messages (buttons under the last), then its chart with sendPhoto.
        A failed photo is logged: the text has already arrived and reads fine alone."""
        chat = chat_key(destination or self.chat_id)
        parts = render.render_reply(CommandReply(text))
        markup = reply_keyboard(self.store, buttons, self.clock.now())
        for n, part in enumerate(parts):
            await self.send_html(chat, part, markup if n == len(parts) - 1 else None)
        if png is None:
            return
        try:
            await call("upload the digest chart", lambda: self.bot.send_photo(
                chat_id=chat, photo=png, caption="Funnel and reply times"))
        except TrademateError:
            log.exception("could not send the digest chart to %s", chat)

    async def post(self, text: str) -> None:
        chat = chat_key(self.chat_id)
        for part in render.split_plain(text, lambda s: render.units(render.esc(s)) <= render.MESSAGE_LIMIT):
            await self.send_html(chat, render.esc(part))
