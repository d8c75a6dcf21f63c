"""WHOIS over plain TCP (RFC 3912): when a domain was registered, by which registrar, from where.

By default the query goes to whois.iana.org, which names the registry's server (`refer:`) for the
TLD; that answer is queried next. `TRADEMATE_WHOIS_SERVER` ("host[:port]") replaces the whole
chain with one server (a mirror, a corporate proxy, or a local fake in tests).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.checks import CheckResult, Status

IANA = ("whois.iana.org", 43)
MAX_ANSWER = 256 * 1024  # real answers are a few KB; a server that streams forever is cut off

_CREATED_KEYS = ("creation date", "created", "created on", "registered on", "registration time",
                 "registered", "domain registration date", "record created", "registration date",
                 "domain_dateregistered", "created date", "domain record activated")
_REGISTRAR_KEYS = ("registrar", "sponsoring registrar", "registrar name", "registrar organization")
_COUNTRY_KEYS = ("registrant country", "country", "registrant country/economy")
_NOT_FOUND = re.compile(r"no match|not found|no entries found|no data found|status:\s*free|"
                        r"domain not found|is available for registration", re.I)
_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%z",
                 "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d-%b-%Y", "%d-%B-%Y", "%Y.%m.%d", "%Y/%m/%d", "%d.%m.%Y",
                 "%d/%m/%Y", "%Y%m%d", "%Y.%m.%d %H:%M:%S", "%d-%b-%Y %H:%M:%S")


@dataclass(frozen=True)
class WhoisRecord:
    created: datetime | None
    registrar: str | None
    country: str | None
    registered: bool = True


_SECOND_LEVEL = {"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "gen", "ltd", "plc", "biz"}


def registered_name(host: str) -> str:
    """The name a registry knows: 'shop.acme.co.uk' -> 'acme.co.uk', 'mail.acme.de' -> 'acme.de'.

    A heuristic without the public suffix list: a 2-letter country TLD under a common second
    level (co, com, org, ...) keeps three labels, everything else two.
    """
    labels = host.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def parse_date(text: str) -> datetime | None:
    """The first of the usual WHOIS date shapes that fits; None when none does."""
    text = text.strip().replace("Z", "+00:00").replace(" UTC", "").replace(" (UTC)", "")
    text = re.sub(r"\s+\(.*\)$", "", text)
    for fmt in _DATE_FORMATS:
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    match = re.match(r"(\d{4}-\d{2}-\d{2})", text)  # ISO date with an odd time part
    return datetime.strptime(match.group(1), "%Y-%m-%d").replace(tzinfo=UTC) if match else None


def _fields(text: str) -> list[tuple[str, str]]:
    """(key, value) pairs from 'Key: value', '[Key]  value' (JPRS) and 'Key:' + indented value (Nominet)."""
    out: list[tuple[str, str]] = []
    pending: str | None = None
    for raw in text.splitlines():
        line = raw.strip().lstrip(">").strip()
        if not line or line.startswith(("%", "#")):
            pending = None
            continue
        bracket = re.match(r"^\[([^\]]+)\]\s+(.+)$", line)
        if bracket:
            out.append((bracket.group(1).strip().lower(), bracket.group(2).strip()))
            continue
        key, sep, value = line.partition(":")
        if pending is not None and raw[:1].isspace() and not (sep and value.strip() and " " not in key.strip()):
            out.append((pending, line))
            pending = None
            continue
        if sep and value.strip():
            out.append((key.strip().lower().strip("[] ."), value.strip()))
            pending = None
        elif sep:
            pending = key.strip().lower()
    return out


def parse_whois(text: str) -> WhoisRecord:
    """Creation date, registrar and registrant country from a WHOIS answer in any common layout."""
    fields = _fields(text)
    if not fields and _NOT_FOUND.search(text):
        return WhoisRecord(None, None, None, registered=False)
    created = registrar = country = None
    for key, value in fields:
        if created is None and key in _CREATED_KEYS:
            created = parse_date(value)
        elif registrar is None and key in _REGISTRAR_KEYS and not value.lower().startswith("http"):
            registrar = value
        elif country is None and key in _COUNTRY_KEYS and re.fullmatch(r"[A-Za-z]{2}", value):
            country = value.upper()
    if created is None and registrar is None and _NOT_FOUND.search(text):
        return WhoisRecord(None, None, None, registered=False)
    return WhoisRecord(created, registrar, country)


def referral(text: str) -> str | None:
    for key, value in _fields(text):
        if key in ("refer", "whois", "registrar whois server"):
            return value.split()[0].lower()
    return None


async def query(host: str, port: int, question: str, seconds: float) -> str:
    """One WHOIS exchange: send the question and CRLF, read until the server closes."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), seconds)
    try:
        writer.write(question.encode("idna" if question.isascii() else "utf-8") + b"\r\n")
        await writer.drain()
        chunks: list[bytes] = []
        size = 0
        while size < MAX_ANSWER:
            chunk = await asyncio.wait_for(reader.read(65536), seconds)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        writer.close()
    return b"".join(chunks).decode("utf-8", errors="replace")


async def lookup(domain: str, server: tuple[str, int] | None, seconds: float) -> WhoisRecord:
    if server is not None:
        return parse_whois(await query(server[0], server[1], domain, seconds))
    text = await query(*IANA, domain, seconds)
    refer = referral(text)
    if refer:
        text = await query(refer, 43, domain, seconds)
        record = parse_whois(text)
        thin = referral(text)  # thin registries (.com) point to the registrar's own server
        if record.created is None and thin and thin != refer:
            record = parse_whois(await query(thin, 43, domain, seconds))
        return record
    return parse_whois(text)


async def check_whois(domain: str, server: tuple[str, int] | None, seconds: float, now: datetime) -> CheckResult:
    domain = registered_name(domain)
    try:
        record = await lookup(domain, server, seconds)
    except TimeoutError:
        return CheckResult.failed("whois", f"the WHOIS server did not answer within {seconds:g}s")
    except (OSError, UnicodeError) as exc:
        return CheckResult.failed("whois", f"could not reach the WHOIS server ({type(exc).__name__})")
    if not record.registered:
        return CheckResult("whois", Status.WARNING, f"{domain} is not registered according to WHOIS",
                           {"whois.registered": False}, ("domain not registered",))
    if record.created is None and record.registrar is None:
        return CheckResult.failed("whois", "the WHOIS answer had no creation date or registrar")
    evidence: dict[str, object] = {"whois.registered": True}
    parts, notes = [], []
    if record.created is not None:
        age = (now - record.created).days
        evidence["whois.created"] = record.created.date().isoformat()
        evidence["whois.age_days"] = age
        parts.append(f"registered {record.created.date().isoformat()} ({age} days ago)")
        if age < 365:
            notes.append(f"domain is less than a year old ({age} days)")
    else:
        parts.append("creation date not published")
    if record.registrar:
        evidence["whois.registrar"] = record.registrar
        parts.append(f"registrar {record.registrar}")
    if record.country:
        evidence["whois.country"] = record.country
        parts.append(f"registrant country {record.country}")
    return CheckResult("whois", Status.WARNING if notes else Status.OK, "; ".join(parts), evidence, tuple(notes))
