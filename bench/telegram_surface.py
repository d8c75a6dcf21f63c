"""Benchmark the Telegram surface's own costs, as ratios against a baseline measured in the same run.

1. Rendering: `render_card` of a short card and of a card with a 5000-character draft (split in
   two messages between words), against the floor of any HTML renderer: `html.escape` of the same
   text once.
2. Start-up: building the PTB Application with the one shared TLS context, against PTB's default
   builder (each of its two httpx clients loads the certificate store).

Run: `python bench/telegram_surface.py` (no network: nothing is sent).
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram.ext import ApplicationBuilder

from bot.models import Card, Contact, Draft, DraftState, Message
from bot.surfaces.telegram import build_application
from bot.surfaces.telegram_render import render_card

TOKEN = "7012345678:AAH-TrademateFakeBotToken-0123456789"


def per_call(fn: Callable[[], object], repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def card(text: str) -> Card:
    now = datetime.now(UTC)
    contact = Contact(1, "whatsapp:+34612345678", "+34612345678", "whatsapp", "Lucía", "ES", "Europe/Madrid")
    message = Message(1, 1, 1, "in", "Hola, ¿precio & plazo <urgente>?", now)
    draft = Draft(1, 1, 1, text, "es", "Hello, price & lead time?", "Hello...", "price", ("price",), (), "llm",
                  None, DraftState.PENDING, now)
    return Card(contact, message, draft, "10:30")


def main() -> None:
    short = "Hola, el termo de 500 ml cuesta 3.80 USD por unidad desde 1000 unidades & envío en 15 días."
    long = (short + " ") * (5000 // (len(short) + 1))
    for name, text in (("short card", short), ("5000-char draft", long)):
        c = card(text)
        baseline = per_call(lambda t=text: html.escape(t, quote=False), 2000)
        ours = per_call(lambda c=c: render_card(c), 200)
        parts = len(render_card(c))
        print(f"render_card, {name} ({parts} message(s)): {ours / baseline:,.0f}x html.escape of the draft")

    default = per_call(lambda: ApplicationBuilder().token(TOKEN).build(), 10)
    shared = per_call(lambda: build_application(TOKEN, "http://127.0.0.1:9", polling=True), 10)
    print(f"build_application: {shared / default:.2f}x PTB's default builder ({default / shared:.1f}x faster)")


if __name__ == "__main__":
    main()
