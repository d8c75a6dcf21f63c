"""The one entry point adapters call: buyer messages in, rep decisions, delivery statuses.

`receive` writes the message to disk and returns at once, so a webhook can acknowledge;
the draft is written in a background task. Per-conversation locks keep drafts of one
conversation in arrival order. `drain` waits for all background work (tests, demo, shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from bot import outbox, ownership
from bot.cards import build_card, refresh_card
from bot.models import ButtonPress, Card, CommandReply, CommandRequest, DecisionRequest, IncomingMessage, Message
from bot.phones import phone_info
from bot.services import Services
from handlers import approval, commands, delivery, inbound

log = logging.getLogger(__name__)


class Inbox:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._tasks: set[asyncio.Task[object]] = set()
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def receive(self, incoming: IncomingMessage) -> tuple[Message, bool]:
        """Persist a buyer message (once per provider id) and schedule its draft."""
        svc = self.services
        message, created = svc.store.add_inbound(incoming, phone_info(incoming.address), svc.clock.now())
        if created:
            self._spawn(self._draft(message), f"draft message {message.id}")
        return message, created

    async def _draft(self, message: Message) -> None:
        async with self._locks[message.conversation_id]:
            if self.services.store.needs_draft(message.id):  # a sweep may have drafted it meanwhile
                await inbound.on_buyer_message(self.services, message.id)

    async def decide(self, request: DecisionRequest) -> str | None:
        """Apply a rep's decision; None when it took effect, else a sentence for the rep."""
        return await approval.on_decision(self.services, request)

    def delivery_status(self, provider_id: str, status: str, error_code: str | None = None,
                        error_message: str | None = None) -> bool:
        """Record a provider status now; refresh the card in the background. False if ignored."""
        row = delivery.on_delivery_status(self.services, provider_id, status, error_code, error_message)
        if row is None:
            return False
        self._spawn(refresh_card(self.services, row.draft_id), f"refresh card of draft {row.draft_id}")
        return True

    def refusal(self, request: DecisionRequest) -> str | None:
        """Why this person may not decide on the card (owner or manager only), or None; decides nothing.

        Lets a surface refuse before opening an editor; `decide` checks again."""
        try:
            draft = self.services.store.draft(request.draft_id)
        except KeyError:
            return None  # decide() says the draft is gone
        return ownership.refusal(self.services, request, draft.conversation_id)

    async def command(self, request: CommandRequest) -> CommandReply:
        return await commands.run_command(self.services, request)

    async def press(self, press: ButtonPress) -> CommandReply | None:
        return await commands.press_button(self.services, press)

    def card(self, draft_id: int) -> Card:
        return build_card(self.services, draft_id)

    async def resume(self) -> dict[str, int]:
        """Finish what a previous process left: undrafted messages, unshown cards, unsent replies."""
        return {
            "drafts": await self._redraft(None) + await inbound.show_unshown(self.services),
            "sends": await outbox.resume(self.services),
        }

    async def _redraft(self, older_than: datetime | None) -> int:
        count = 0
        for message in self.services.store.messages_needing_draft():
            if older_than is None or message.at < older_than:
                try:
                    await self._draft(message)
                    count += 1
                except Exception:
                    log.exception("could not draft message %s; retried on the next sweep", message.id)
        return count

    async def sweep(self, stalled_after: timedelta = timedelta(minutes=2)) -> int:
        """Retry drafting and card posting that failed (e.g. Slack was down); runs on a timer."""
        older_than = self.services.clock.now() - stalled_after
        return await self._redraft(older_than) + await inbound.show_unshown(self.services, older_than=older_than)

    def _spawn(self, coro: object, what: str) -> None:
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)

        def _done(t: asyncio.Task[object]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", what, exc_info=t.exception())

        task.add_done_callback(_done)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
