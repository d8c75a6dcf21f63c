"""How much running the background checks concurrently saves, against running them one by one.

Every local fake (DNS, WHOIS, website) answers after the same added latency, like a distant server.
The baseline is the same checks awaited in sequence in the same run; the figure is the ratio.
Run: `PYTHONPATH=. python bench/bgcheck_concurrency.py [latency_seconds] [rounds]`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from bot.background import BackgroundChecker, BgQuery
from bot.checks.dns import check_dns
from bot.checks.history import check_history
from bot.checks.website import check_website
from bot.checks.whois import check_whois
from bot.config import Settings
from bot.store import Store
from tests.bgworld import NOW, bg_world


async def sequential(chk: BackgroundChecker, store: Store, domain: str) -> None:
    await check_dns(chk.lookup, domain)
    await check_whois(domain, chk.whois_server, chk.timeout, NOW)
    await check_website(chk.lookup, chk.web, domain)
    check_history(store, [], domain)


def main(latency: float = 0.1, rounds: int = 5) -> None:
    with bg_world() as world:
        world.dns.latency = world.whois.latency = world.sites.latency = latency
        chk = BackgroundChecker.from_settings(Settings(_env_file=None, **world.settings_values(  # type: ignore[call-arg]
            trademate_bgcheck_timeout=10, trademate_bgcheck_cache_hours=0)))
        store = Store(":memory:")
        seq, conc = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            asyncio.run(sequential(chk, store, "example-buyer.test"))
            seq.append(time.perf_counter() - t)
            t = time.perf_counter()
            asyncio.run(chk.check(store, BgQuery("example-buyer.test", refresh=True), NOW))
            conc.append(time.perf_counter() - t)
        base, ours = statistics.median(seq), statistics.median(conc)
        print(f"latency {latency * 1000:.0f} ms per server answer, {rounds} rounds (medians)")
        print(f"sequential checks (baseline): {base:.3f} s")
        print(f"/bgcheck concurrent checks:   {ours:.3f} s  = {ours / base:.2f}x the baseline")


if __name__ == "__main__":
    main(*(float(a) for a in sys.argv[1:2]), *(int(a) for a in sys.argv[2:3]))
