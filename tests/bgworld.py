"""A small local internet for background-check tests: fake DNS, WHOIS, websites and search, pre-filled.

`bg_world()` starts them all on 127.0.0.1; `world.settings_values()` are the settings that point
Trademate at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.dns import FakeDNS
from tests.fakes.search import SEARCH_KEY, FakeSearch
from tests.fakes.website import FakeWebsites
from tests.fakes.whois import FakeWhois
from tests.serving import serve

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

VERISIGN_STYLE = """   Domain Name: EXAMPLE-BUYER.TEST
   Registry Domain ID: 2336799_DOMAIN_TEST-VRSN
   Registrar WHOIS Server: whois.example-registrar.test
   Updated Date: 2024-08-14T07:01:34Z
   Creation Date: 2015-06-01T09:30:00Z
   Registry Expiry Date: 2027-06-01T09:30:00Z
   Registrar: Example Registrar AG
   Registrant Country: DE
>>> Last update of whois database: 2026-11-25T12:00:00Z <<<
"""


def new_domain_whois(created: datetime) -> str:
    return (f"domain:        new-buyer.test\nregistrar:     Cheap Names Ltd\n"
            f"created:       {created:%Y.%m.%d}\nsource:        TEST\n")


@dataclass
class BgWorld:
    dns: FakeDNS
    whois: FakeWhois
    sites: FakeWebsites
    site_port: int
    search: FakeSearch

    def reset(self) -> None:
        """Forget what earlier tests recorded or broke, keeping the standard records."""
        for fake in (self.dns, self.whois):
            fake.silent.clear()
            fake.garbage.clear()
            fake.queries.clear()
        self.sites.requests.clear()
        self.search.results.clear()
        self.search.reset()
        _fill(self.dns, self.whois)

    def settings_values(self, **extra: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "trademate_dns_server": self.dns.server,
            "trademate_whois_server": self.whois.server,
            "trademate_web_schemes": "http",
            "trademate_web_port": self.site_port,
            "trademate_bgcheck_allow_private": True,
            "trademate_bgcheck_timeout": 1.0,
        }
        values.update(extra)
        return values


@contextmanager
def bg_world() -> Iterator[BgWorld]:
    sites = FakeWebsites()
    with FakeDNS() as dns, FakeWhois() as whois, FakeSearch() as search, serve(sites.app) as site_url:
        _fill(dns, whois)
        try:
            yield BgWorld(dns, whois, sites, int(site_url.rsplit(":", 1)[1]), search)
        finally:
            sites.released.set()


def _fill(dns: FakeDNS, whois: FakeWhois) -> None:
    dns.zones.clear()
    whois.records.clear()
    dns.add("example-buyer.test", a=["127.0.0.1"], mx=[(10, "mx.example-buyer.test")])
    dns.add("old-buyer.test", a=["127.0.0.1"], mx=[(10, "mx.example-buyer.test")])
    dns.add("new-buyer.test", a=["127.0.0.1"], mx=[])
    dns.add("slow-site.test", a=["127.0.0.1"], mx=[(5, "mx.slow-site.test")])
    dns.add("gmail.com", a=["127.0.0.1"], mx=[(5, "gmail-smtp-in.l.google.com")])
    whois.records["example-buyer.test"] = VERISIGN_STYLE
    whois.records["new-buyer.test"] = new_domain_whois(NOW - timedelta(days=40))


__all__ = ["NOW", "SEARCH_KEY", "BgWorld", "bg_world"]
