"""The seams between the core and the world: rep-side surfaces, buyer-side channels, the clock.

Handlers depend on these protocols only; adapters in `bot/surfaces/` and `bot/channels/`
implement them, and tests swap in real adapters pointed at local fakes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.models import Card, DraftResult, SendReceipt

if TYPE_CHECKING:  # the request is a plain dataclass; importing it at run time would load langchain
    from bot.drafting import DraftRequest


@runtime_checkable
class ChatSurface(Protocol):
    """Where the rep reads cards and decides (Slack, Telegram, the console)."""

    name: str

    async def request_approval(self, card: Card) -> str:
        """Show a new card; return an opaque reference used later to update it."""
        ...

    async def update_card(self, card_ref: str, card: Card) -> None:
        """Re-render an existing card in place (decision taken, delivery ticks, problems)."""
        ...

    async def post(self, text: str) -> None:
        """Post a plain notice to the rep."""
        ...


@runtime_checkable
class DirectPost(Protocol):
    """Optional for a ChatSurface: post to one rep or channel rather than the default one."""

    async def post_to(self, destination: str, text: str) -> None: ...


@runtime_checkable
class BuyerChannel(Protocol):
    """How messages reach buyers (Twilio WhatsApp/SMS, the console)."""

    name: str

    async def send(self, to: str, body: str, *, idem_key: str) -> SendReceipt:
        """Send one message. Raise `ChannelRefused` for a definitive no, `ChannelUnavailable`
        after retries are exhausted."""
        ...

    async def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None:
        """Find a message already accepted by the provider (used to resume after a crash)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Drafter(Protocol):
    """Writes one draft; `bot.drafting` has the template drafter and the language-model drafter."""

    async def draft(self, request: DraftRequest) -> DraftResult: ...
