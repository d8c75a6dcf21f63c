"""Buyer-intelligence figures, as ratios against a baseline measured in the same run.

- /analyze prompt size for conversations of 50, 500 and 5000 messages (tokens estimated by
  `bot.analysis_context.estimate_tokens`): bounded means the ratio to the 50-message prompt stays ~1.
- the running summary: time of the first fold of a long conversation vs a refresh after 10 new messages.
- few-shot retrieval: FTS5 lookup time with 10,000 approved replies vs 100.

Run: `PYTHONPATH=. python bench/bench_intel.py`
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bot import store_intel
from bot.analysis import build_messages, prompt_tokens
from bot.analysis_context import conversation_view
from bot.catalog import load_catalog
from bot.config import DEFAULT_CATALOG
from bot.models import IncomingMessage
from bot.phones import phone_info
from bot.store import Store

CATALOG = load_catalog(DEFAULT_CATALOG)
BUYER = ["Hola, ¿precio del termo de 500 ml para 1000 unidades?", "Es caro, ¿hay descuento?", "Gracias.",
         "¿Pueden enviar muestras a Madrid?"]
REP = ["El VF-500 cuesta 3.80 USD desde 1000 pcs.", "Le enviaré el catálogo mañana.", "De nada."]
ADDRESS = "whatsapp:+34612345678"


def conversation(store: Store, n: int, start: int = 0) -> int:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    conv = contact = 0
    for i in range(start, start + n):
        at = t0 + timedelta(minutes=i)
        if i % 2 == 0:
            m, _ = store.add_inbound(IncomingMessage(f"SM{i}", ADDRESS, BUYER[i // 2 % len(BUYER)], "whatsapp"),
                                     phone_info(ADDRESS), at)
            conv, contact = m.conversation_id, m.contact_id
        else:
            store.add_outbound_message(conv, contact, REP[i // 2 % len(REP)], f"SMo{i}", at)
    return conv


def prompt_size(n: int) -> int:
    store = Store(":memory:")
    conv = conversation(store, n)
    view = conversation_view(store, conv, datetime.now(UTC))
    return prompt_tokens(build_messages(view, CATALOG, buyer="Lucía", stage="quoted", score=None,
                                        buyer_language="es", rep_language="en"))


def main() -> None:
    sizes = {n: prompt_size(n) for n in (50, 500, 5000)}
    base = sizes[50]
    for n, tokens in sizes.items():
        print(f"/analyze prompt, {n:>5} messages: {tokens:,} tokens ({tokens / base:.2f}x the 50-message prompt)")

    store = Store(":memory:")
    conv = conversation(store, 5000)
    t = time.perf_counter()
    conversation_view(store, conv, datetime.now(UTC))
    first = time.perf_counter() - t
    conversation(store, 10, start=5000)
    t = time.perf_counter()
    conversation_view(store, conv, datetime.now(UTC))
    refresh = time.perf_counter() - t
    print(f"summary refresh after 10 new messages: {refresh / first:.4f}x the first fold of 5000 messages "
          f"({first * 1000:.0f} ms vs {refresh * 1000:.2f} ms on this machine)")

    timings = {}
    for count in (100, 10_000):
        s = Store(":memory:")
        rows = [(BUYER[i % len(BUYER)] + f" ref {i}", REP[i % len(REP)], "ana" if i % 2 else "ben", "es", i, 1)
                for i in range(count)]
        s.db.conn.executemany("INSERT INTO approved_replies (buyer_text, reply, owner, language, draft_id, "
                              "conversation_id) VALUES (?, ?, ?, ?, ?, ?)", rows)
        t = time.perf_counter()
        for _ in range(50):
            store_intel.similar_approved(s, "¿precio del termo de 500 ml?", owner="ana", language="es")
        timings[count] = (time.perf_counter() - t) / 50
    print(f"retrieval with 10,000 approved replies: {timings[10_000] / timings[100]:.1f}x the time with 100 "
          f"({timings[100] * 1000:.2f} ms vs {timings[10_000] * 1000:.1f} ms per lookup)")


if __name__ == "__main__":
    main()
