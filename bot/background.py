"""Background checks on a buyer: what the target is, which checks run, the cache, the report.

`/bgcheck <company | domain | email | phone | buyer> [--company NAME] [--country CC] [--refresh]`.
Every check runs concurrently under its own timeout; a check that times out or breaks reports
"failed to check" and the others still report. Complete reports (no check failed) are cached per
target (and claims) for `TRADEMATE_BGCHECK_CACHE_HOURS`; `--refresh` checks again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import phonenumbers

from bot import store_background as sb
from bot.background_report import Report
from bot.background_summary import ModelSummarizer, risk_flags, risk_level, rule_summary
from bot.checks import CheckResult, Status
from bot.checks.dns import Lookup, check_dns, parse_server
from bot.checks.email import ADDRESS, is_free_mail
from bot.checks.email import check_email as _check_email
from bot.checks.history import check_history
from bot.checks.phone import check_phone
from bot.checks.search import SearchProvider, build_search, check_search
from bot.checks.website import EMAIL, WebConfig, check_website
from bot.checks.whois import check_whois
from bot.config import Settings
from bot.errors import ConfigError, TrademateError
from bot.store import Store

log = logging.getLogger(__name__)

USAGE = "/bgcheck <company | domain | email | phone | buyer> [--company NAME] [--country CC] [--refresh]"
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")


class BgCheckError(TrademateError):
    """The target or options cannot be checked; the message says how to ask instead."""


@dataclass(frozen=True)
class BgQuery:
    target: str
    refresh: bool = False
    company: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Target:
    kind: str  # domain | email | phone | conversation | name (before the store is consulted)
    value: str


def parse_query(text: str) -> BgQuery:
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    target: list[str] = []
    company = country = None
    refresh = False
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("--refresh", "-r"):
            refresh = True
        elif word in ("--company", "--country"):
            if i + 1 >= len(words):
                raise BgCheckError(f"{word} needs a value. Usage: {USAGE}")
            i += 1
            if word == "--company":
                company = words[i]
            else:
                country = words[i].upper()
                if not re.fullmatch(r"[A-Z]{2}", country):
                    raise BgCheckError(f"--country takes a two-letter code such as DE or IN, not {words[i]!r}")
        else:
            target.append(word)
        i += 1
    if not target:
        raise BgCheckError(f"What should I check? Usage: {USAGE}")
    return BgQuery(" ".join(target), refresh, company, country)


def classify(text: str) -> Target:
    """What kind of thing the rep typed; pure, before any lookup."""
    value = text.strip().strip("<>")  # Slack wraps links: <mailto:a@b.com|a@b.com>, <http://x.com|x.com>
    if "|" in value:
        value = value.split("|", 1)[1]
    if value.lower().startswith("mailto:"):
        value = value[7:]
    if re.fullmatch(r"#\d+", value) or re.fullmatch(r"(?i)conv(ersation)?[:#]\s*\d+", value):
        return Target("conversation", re.sub(r"\D", "", value))
    if "@" in value and " " not in value:
        return Target("email", value.lower())
    if value.lower().startswith("whatsapp:") or (_PHONE.match(value) and sum(c.isdigit() for c in value) >= 7):
        return Target("phone", value.split(":", 1)[-1])
    host = re.sub(r"^[a-z]+://", "", value.lower()).split("/", 1)[0].split(":", 1)[0]
    if _DOMAIN.match(host):
        return Target("domain", host.removeprefix("www."))
    return Target("name", " ".join(value.split()))


# How buyers describe their business, in the languages reps meet most; e.g. "we are a large importer".
_ROLE = re.compile(r"\b((?:large|big|leading|major|main|top|gran|grande|importante|gro(?:ß|ss)er)\s+)?"
                   r"(importers?|distributors?|wholesalers?|trading compan(?:y|ies)|import compan(?:y|ies)|"
                   r"retail chain|importador(?:a|es)?|distribuidor(?:a|es)?|mayorista|importateur|distributeur|"
                   r"grossiste|importeur|gro(?:ß|ss)händler|импортер|дистрибьютор|进口商|经销商|批发商)\b", re.I)


def self_description(bodies: list[str]) -> str | None:
    """The last way the buyer described their business in their own messages, as they wrote it."""
    found = [" ".join(m.group(0).split()) for body in bodies for m in _ROLE.finditer(body)]
    return found[-1] if found else None


def e164(raw: str) -> str | None:
    try:
        number = phonenumbers.parse(raw if raw.startswith("+") else f"+{raw}", None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class BackgroundChecker:
    lookup: Lookup
    whois_server: tuple[str, int] | None
    web: WebConfig
    timeout: float = 8.0
    cache_hours: float = 24.0
    search: SearchProvider | None = None
    summarizer: ModelSummarizer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BackgroundChecker:
        timeout = settings.trademate_bgcheck_timeout
        try:
            dns_server = parse_server(settings.trademate_dns_server)
            whois_server = parse_server(settings.trademate_whois_server, default_port=43)
        except ValueError as exc:
            raise ConfigError(f"TRADEMATE_DNS_SERVER / TRADEMATE_WHOIS_SERVER: use host[:port] ({exc})") from exc
        schemes = tuple(s.strip() for s in settings.trademate_web_schemes.split(",") if s.strip())
        if not schemes or any(s not in ("http", "https") for s in schemes):
            raise ConfigError("TRADEMATE_WEB_SCHEMES: a comma-separated list of https and/or http")
        search = build_search(settings.trademate_search_provider, settings.trademate_search_key,
                              settings.trademate_search_url, timeout)
        return cls(lookup=Lookup(dns_server, timeout), whois_server=whois_server,
                   web=WebConfig(schemes, settings.trademate_web_port, timeout,
                                 settings.trademate_bgcheck_allow_private),
                   timeout=timeout, cache_hours=settings.trademate_bgcheck_cache_hours, search=search,
                   summarizer=build_summarizer(settings))

    async def check(self, store: Store, query: BgQuery, now: datetime) -> Report:
        target = classify(query.target)
        key = f"{target.kind}:{target.value.lower()}|{query.company or ''}|{query.country or ''}"
        if not query.refresh and self.cache_hours > 0:
            hit = sb.cached_report(store, key, now - timedelta(hours=self.cache_hours))
            if hit is not None:
                return Report.from_json(hit[0], cached=True)
        report = await self._run(store, target, query, now)
        if not any(r.status is Status.FAILED for r in report.results):
            sb.save_report(store, key, report.as_json(), now)  # an incomplete report is not kept for a day
        return report

    async def _run(self, store: Store, target: Target, query: BgQuery, now: datetime) -> Report:
        checks: dict[str, Awaitable[CheckResult]] = {}
        kind, note = target.kind, None
        company, domain, email = query.company, None, None
        contacts: list[int] = []
        if target.kind == "domain":
            domain = target.value
        elif target.kind == "email":
            email = target.value
            contacts = sb.contacts_mentioning(store, email)  # buyers who gave us this address
            host = email.rsplit("@", 1)[-1]
            domain = host if ADDRESS.match(email) and not is_free_mail(host) else None
        elif target.kind == "phone":
            number = e164(target.value)
            contacts = sb.find_contacts(store, phone=number) if number else []
            kind = "buyer" if contacts else "phone"
            checks["phone"] = _sync(check_phone, target.value, query.country)
        elif target.kind == "conversation":
            contacts = sb.find_contacts(store, conversation_id=int(target.value))
            if not contacts:
                raise BgCheckError(f"No conversation #{target.value}. Usage: {USAGE}")
            kind = "buyer"
        else:
            contacts = sb.find_contacts(store, name=target.value)
            kind = "buyer" if contacts else "company"
            if not contacts:
                company = company or target.value
                note = ("A company name alone: only our history and web search can be checked. "
                        "Give its domain or an email to check DNS, WHOIS and the website.")
        if contacts and "phone" not in checks:  # a known buyer (or the one who gave this email)
            contact = store.contact(contacts[0])
            checks["phone"] = _sync(check_phone, contact.phone, query.country)
        role = None
        if contacts:
            bodies = sb.buyer_messages(store, contacts[0])
            role = self_description(bodies)
            found = [m.lower() for body in bodies for m in EMAIL.findall(body)]
            if email is None and found:
                email = found[-1]  # the latest address the buyer gave
                host = email.rsplit("@", 1)[-1]
                domain = None if is_free_mail(host) else host
        if email:
            checks["email"] = _check_email(self.lookup, email, company)
        if domain:
            checks["dns"] = check_dns(self.lookup, domain)
            checks["whois"] = check_whois(domain, self.whois_server, self.timeout, now)
            checks["website"] = check_website(self.lookup, self.web, domain)
        checks["history"] = _sync(check_history, store, contacts, domain)
        checks["search"] = check_search(self.search, query.company or target.value)
        results = await self._gather(checks)
        if company and "email" not in checks:
            results.append(CheckResult("claims", Status.SKIPPED, f"claimed company: {company}",
                                       {"claimed.company": company}))
        if role:
            results.append(CheckResult("claims", Status.SKIPPED, f"the buyer calls themselves “{role}”",
                                       {"claimed.role": role}))
        if query.country and "phone" not in checks:
            results.append(CheckResult("claims", Status.SKIPPED, f"claimed country: {query.country}",
                                       {"claimed.country": query.country}))
        evidence: dict[str, Any] = {}
        for r in results:
            evidence.update(r.evidence)
        flags = risk_flags(evidence)
        ran = [r for r in results if r.status in (Status.OK, Status.WARNING) and r.name not in ("history", "claims")]
        level = risk_level(flags, len(ran) + (1 if evidence.get("history.known") else 0))
        failed = [r.name for r in results if r.status is Status.FAILED]
        if self.summarizer is None:
            summary = rule_summary(flags, level)
        else:
            summary = await self.summarizer.summarize(target.value, evidence, flags, level, failed)
        return Report(target.value, kind, now, tuple(results), tuple(flags), level, summary, note)

    async def _gather(self, checks: dict[str, Awaitable[CheckResult]]) -> list[CheckResult]:
        async def guarded(name: str, job: Awaitable[CheckResult]) -> CheckResult:
            try:
                return await asyncio.wait_for(job, self.timeout)
            except TimeoutError:
                return CheckResult.failed(name, f"no answer within {self.timeout:g}s")
            except (OSError, httpx.HTTPError) as exc:
                return CheckResult.failed(name, f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception("background check %s failed", name)
                return CheckResult.failed(name, "unexpected error (in the server log)")

        return list(await asyncio.gather(*(guarded(n, j) for n, j in checks.items())))


async def _sync(fn: Any, *args: Any) -> CheckResult:
    result: CheckResult = fn(*args)
    return result


def build_summarizer(settings: Settings) -> ModelSummarizer | None:
    """The model summary when TRADEMATE_MODEL is set (same model and timeout as drafting), else None."""
    name = settings.trademate_model.strip()
    if not name:
        return None
    from langchain.chat_models import init_chat_model

    timeout = settings.trademate_model_timeout
    extra: dict[str, Any] = {}
    if name.startswith("openai:"):
        extra["http_async_client"] = httpx.AsyncClient(timeout=timeout)  # on the loop that uses it; see drafting
    try:
        return ModelSummarizer(init_chat_model(name, temperature=0, timeout=timeout, max_retries=1, **extra), timeout)
    except Exception as exc:
        raise ConfigError(f"TRADEMATE_MODEL={name!r}: cannot set up the model ({type(exc).__name__}: {exc})") from exc
