"""A buyer channel in the terminal: what would go to WhatsApp is printed as the buyer sees it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import datetime

from bot.models import OutboxState, SendReceipt


class ConsoleChannel:
    name = "console"

    def __init__(self, out: Callable[[str], None] = print) -> None:
        self.out = out
        self.sent: list[tuple[str, str, str]] = []  # (provider id, to, body)
        self._ids = itertools.count(1)

    async def send(self, to: str, body: str, *, idem_key: str) -> SendReceipt:
        provider_id = f"console-{next(self._ids)}"
        self.sent.append((provider_id, to, body))
        self.out(f"\n  📱 {to} receives:\n" + "\n".join(f"     │ {line}" for line in body.splitlines()))
        return SendReceipt(provider_id=provider_id, state=OutboxState.SENT)

    async def send_template(self, to: str, content_sid: str, variables: Mapping[str, str], *,
                            idem_key: str) -> SendReceipt:
        provider_id = f"console-{next(self._ids)}"
        shown = ", ".join(f"{{{{{k}}}}}={v}" for k, v in variables.items())
        self.sent.append((provider_id, to, f"template {content_sid} {shown}"))
        self.out(f"\n  📱 {to} receives the approved template {content_sid} ({shown})")
        return SendReceipt(provider_id=provider_id, state=OutboxState.SENT)

    async def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None:
        for provider_id, sent_to, sent_body in self.sent:
            if sent_to == to and sent_body == body:
                return SendReceipt(provider_id=provider_id, state=OutboxState.SENT)
        return None
