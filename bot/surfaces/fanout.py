"""Slack and Telegram at once: each card goes to the surface its destination belongs to.

A card's `destination` that looks like a Telegram chat (a number, or an @name) goes to Telegram;
anything else, and a card with no destination, goes to Slack, the primary surface. Updates follow
the card ref back to the surface that posted it; plain notices go to both.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.models import Card, ReplyButton
from bot.ports import ChatSurface
from bot.surfaces.telegram import is_telegram_chat

log = logging.getLogger(__name__)


class FanOutSurface:
    name = "slack+telegram"

    def __init__(self, slack: ChatSurface, telegram: ChatSurface) -> None:
        self.slack = slack
        self.telegram = telegram

    def _for_destination(self, destination: str | None) -> ChatSurface:
        return self.telegram if destination and is_telegram_chat(destination) else self.slack

    def _for_ref(self, card_ref: str) -> ChatSurface:
        # Slack refs are "C0123:1718000000.000100", Telegram refs "-100123:45".
        return self.telegram if is_telegram_chat(card_ref.partition(":")[0]) else self.slack

    async def request_approval(self, card: Card) -> str:
        return await self._for_destination(card.destination).request_approval(card)

    async def update_card(self, card_ref: str, card: Card) -> None:
        await self._for_ref(card_ref).update_card(card_ref, card)

    def digest_format(self, destination: str | None) -> str:
        return "plain" if self._for_destination(destination) is self.telegram else "slack"

    async def post_digest(self, text: str, png: bytes | None, destination: str | None,
                          buttons: tuple[ReplyButton, ...] = ()) -> None:
        surface: Any = self._for_destination(destination)
        if hasattr(surface, "post_digest"):
            await surface.post_digest(text, png, destination, buttons)
        else:
            await surface.post(text)

    async def post(self, text: str) -> None:
        """To both; one surface failing does not keep the notice from the other (it is logged),
        both failing raises the first error."""
        errors: list[Exception] = []
        for surface in (self.slack, self.telegram):
            try:
                await surface.post(text)
            except Exception as exc:
                log.exception("could not post a notice to %s", surface.name)
                errors.append(exc)
        if len(errors) == 2:
            raise errors[0]
