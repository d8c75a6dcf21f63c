"""`trademate demo`: the whole loop in a terminal, no keys, no servers.

A scripted set of buyers writes in several languages through the console channel; cards
appear through the console surface; the person at the keyboard decides. Everything in
between (store, drafter, guardrail, Inbox, handlers, outbox) is the production code.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.app import build_runtime
from bot.channels.console import ConsoleChannel
from bot.config import Settings
from bot.inbox import Inbox
from bot.models import Action, DecisionRequest, IncomingMessage
from bot.store import Store
from bot.surfaces.console import ConsoleSurface


@dataclass(frozen=True)
class Scripted:
    address: str
    name: str
    body: str
    media: tuple[str, ...] = ()


SCRIPT: tuple[Scripted, ...] = (
    Scripted("whatsapp:+34612345678", "Lucía Romero",
             "Hola, ¿cuál es el precio del termo de acero inoxidable de 500 ml para 1000 unidades?"),
    Scripted("whatsapp:+4915123456789", "Jonas Weber",
             "Guten Tag, können Sie uns ein Muster des Vakuumbechers schicken?",
             ("https://example.com/media/spec-sheet.pdf",)),
    Scripted("+14155550123", "Mike Dalton", "Hi, what's your MOQ and lead time for the 1L flask?"),
    Scripted("whatsapp:+33612345678", "Claire Martin", "Bonjour, pouvez-vous m'envoyer votre catalogue ?"),
    Scripted("whatsapp:+971501234567", "Omar Haddad", "مرحبا، هل يمكنكم إرسال قائمة الأسعار؟"),
    Scripted("whatsapp:+34612345678", "Lucía Romero", "Perfecto, gracias. ¿Y cuánto tarda la producción?"),
)

Ask = Callable[[str], Awaitable[str | None]]


async def _ask_stdin(prompt: str) -> str | None:
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def run_demo(settings: Settings, *, auto: bool = False, ask: Ask | None = None,
                   out: Callable[[str], None] = print) -> dict[str, int]:
    """Play the script; return how many drafts were sent, edited, regenerated and discarded."""
    ask = ask or _ask_stdin
    surface = ConsoleSurface(out=out)
    channel = ConsoleChannel(out=out)
    rt = build_runtime(settings, surface=surface, channel=channel)
    inbox = rt.inbox
    tally = {"sent": 0, "edited": 0, "regenerated": 0, "discarded": 0}
    out("Trademate demo: simulated buyers write on WhatsApp/SMS; you approve the replies.")
    if not auto:
        out("At each card type s (send), e (edit), r (regenerate), d (discard) or q (quit).")
    try:
        await inbox.resume()
        for n, line in enumerate(SCRIPT, 1):
            out(f"\n━━ {line.name} writes ({line.address}) ━━")
            inbox.receive(IncomingMessage(provider_id=f"demo-{n}", address=line.address, body=line.body,
                                          channel="sms" if line.address.startswith("+") else "whatsapp",
                                          profile_name=line.name, media=line.media))
            await inbox.drain()
            if not await _decide_pending(rt.inbox, rt.services.store, auto, ask, tally, out):
                break
    finally:
        await inbox.drain()
        rt.close()
    out(f"\nDemo over: {tally['sent']} sent ({tally['edited']} edited), {tally['regenerated']} regenerated, "
        f"{tally['discarded']} discarded.")
    return tally


async def _decide_pending(inbox: Inbox, store: Store, auto: bool, ask: Ask, tally: dict[str, int],
                          out: Callable[[str], None]) -> bool:
    """Ask about every pending draft until none is left; False when the user quits."""
    while pending := store.pending_drafts():
        draft = pending[0]
        answer = "s" if auto else ((await ask(f"card #{draft.id} [s/e/r/d/q] > ")) or "q").strip().lower()
        if answer.startswith("q"):
            return False
        action = {"s": Action.SEND, "e": Action.EDIT, "r": Action.REGENERATE, "d": Action.DISCARD}.get(answer[:1])
        if action is None:
            out("  please type s, e, r, d or q")
            continue
        text = None
        if action is Action.EDIT:
            out(f"  current draft: {draft.text}")
            text = await ask("  your reply > ")
            if not text:
                continue
        refusal = await inbox.decide(DecisionRequest(draft.id, action, actor="you", surface="console", text=text))
        if refusal:
            out(f"  {refusal}")
            continue
        tally[{Action.SEND: "sent", Action.EDIT: "sent", Action.REGENERATE: "regenerated",
               Action.DISCARD: "discarded"}[action]] += 1
        if action is Action.EDIT:
            tally["edited"] += 1
        outbound = store.outbound_for_draft(draft.id)
        if outbound is not None and outbound.provider_id:
            inbox.delivery_status(outbound.provider_id, "delivered")  # the buyer's phone confirms
            await inbox.drain()
    return True


def main(settings: Settings, auto: bool) -> int:
    tally = asyncio.run(run_demo(settings, auto=auto))
    if auto and tally["sent"] < len(SCRIPT):
        print("demo --auto expected every draft to be sent", file=sys.stderr)
        return 1
    return 0
