"""Route each reply to the channel the buyer wrote on, by the scheme of their address.

"whatsapp:+…" and bare numbers came through Twilio; "wa:+…" came through the WhatsApp Cloud API.
"""

from __future__ import annotations

from datetime import datetime

from bot.errors import ChannelRefused
from bot.models import SendReceipt
from bot.phones import split_address
from bot.ports import BuyerChannel


class ChannelRouter:
    name = "router"

    def __init__(self, by_scheme: dict[str, BuyerChannel], default: BuyerChannel | None = None) -> None:
        self.by_scheme = by_scheme
        self.default = default

    def channel_for(self, to: str) -> BuyerChannel:
        scheme = split_address(to)[0] if ":" in to else ""
        channel = self.by_scheme.get(scheme, self.default)
        if channel is None:
            raise ChannelRefused("no_channel", f"no configured channel can reach {to}")
        return channel

    async def send(self, to: str, body: str, *, idem_key: str) -> SendReceipt:
        return await self.channel_for(to).send(to, body, idem_key=idem_key)

    async def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None:
        return await self.channel_for(to).find_sent(to, body, since)
