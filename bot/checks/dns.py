"""DNS: A and MX records of a domain, through a resolver whose nameserver and port are settings.

`TRADEMATE_DNS_SERVER` empty means the system's resolver configuration; "127.0.0.1:5353" points
dnspython at that server only (tests run a local responder there). The website check resolves
through the same `Lookup`, so every name the bot follows goes through one configured resolver.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

from bot.checks import CheckResult, Status


class DnsProblem(Exception):
    """The resolver could not answer (timeout, SERVFAIL, garbage); nothing is known about the name."""


class NoSuchDomain(Exception):
    """NXDOMAIN: the name does not exist."""


def parse_server(value: str, default_port: int = 53) -> tuple[str, int] | None:
    """'127.0.0.1:5353' -> ('127.0.0.1', 5353); '[::1]:53' and a bare host work too; '' -> None."""
    value = value.strip()
    if not value:
        return None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, default_port


@dataclass
class Lookup:
    """A, MX lookups with one timeout; `server` None = the system resolver."""

    server: tuple[str, int] | None = None
    timeout: float = 5.0

    def _resolver(self) -> dns.asyncresolver.Resolver:
        if self.server is None:
            resolver = dns.asyncresolver.Resolver()
        else:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [self.server[0]]
            resolver.port = self.server[1]
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout
        return resolver

    async def _query(self, name: str, rtype: str) -> list[str]:
        try:  # building the system resolver reads /etc/resolv.conf, which can be missing
            answer = await self._resolver().resolve(name, rtype, search=False)
        except dns.resolver.NXDOMAIN as exc:
            raise NoSuchDomain(name) from exc
        except dns.resolver.NoAnswer:
            return []
        except dns.exception.Timeout as exc:
            raise DnsProblem(f"the DNS server did not answer within {self.timeout:g}s") from exc
        except dns.resolver.NoNameservers as exc:
            raise DnsProblem("the DNS server gave no usable answer") from exc
        except dns.exception.DNSException as exc:
            raise DnsProblem(f"DNS error: {type(exc).__name__}") from exc
        return [rdata.to_text() for rdata in answer]

    async def a(self, name: str) -> list[str]:
        return sorted(await self._query(name, "A"))

    async def mx(self, name: str) -> list[tuple[int, str]]:
        out = []
        for text in await self._query(name, "MX"):
            pref, _, host = text.partition(" ")
            out.append((int(pref), host.rstrip(".").lower()))
        return sorted(out)


async def check_dns(lookup: Lookup, domain: str) -> CheckResult:
    """A and MX of `domain`: no A = no website can answer, no MX = no mail can arrive."""
    try:
        a = await lookup.a(domain)
        mx = await lookup.mx(domain)
    except NoSuchDomain:
        return CheckResult("dns", Status.WARNING, f"{domain} does not exist in DNS (NXDOMAIN)",
                           {"dns.exists": False}, ("domain does not exist",))
    except DnsProblem as exc:
        return CheckResult.failed("dns", str(exc))
    evidence = {"dns.exists": True, "dns.a": a, "dns.mx": [host for _, host in mx]}
    notes = []
    if not a:
        notes.append("no A record (no website address)")
    if not mx:
        notes.append("no MX record (the domain cannot receive email)")
    a_text = ", ".join(a) if a else "none"
    mx_text = ", ".join(f"{host} ({pref})" for pref, host in mx) if mx else "none"
    return CheckResult("dns", Status.WARNING if notes else Status.OK, f"A {a_text}; MX {mx_text}",
                       evidence, tuple(notes))
