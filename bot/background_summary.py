"""The verdict of a background check: risk flags by rule, and a summary that cannot invent facts.

Risk flags are computed from the evidence by fixed rules, so they are the same with or without
a model. With a model, one structured call writes short claims, each citing evidence keys; a
claim is DROPPED when it cites a key that does not exist, cites nothing, or states a number or
name that is not in the evidence it cites. The report says how many were dropped and why.
Without a model (or when it fails) the summary is composed from the flags by rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from bot.checks.website import COUNTRY_NAMES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Flag:
    key: str  # "new_domain", "free_mail_company", ...
    text: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    text: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    source: str  # "model" | "rules"
    claims: tuple[Claim, ...]
    dropped: tuple[str, ...] = ()  # why each dropped claim was dropped
    notice: str | None = None  # e.g. why the model was not used

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "claims": [{"text": c.text, "evidence": list(c.evidence)} for c in self.claims],
                "dropped": list(self.dropped), "notice": self.notice}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Summary:
        return Summary(data["source"], tuple(Claim(c["text"], tuple(c["evidence"])) for c in data["claims"]),
                       tuple(data.get("dropped") or ()), data.get("notice"))


# -- rules ------------------------------------------------------------------------------------

def risk_flags(ev: dict[str, Any]) -> list[Flag]:
    flags: list[Flag] = []
    missing = ev.get("dns.exists") is False or ev.get("whois.registered") is False
    if missing:
        keys = tuple(k for k in ("dns.exists", "whois.registered") if ev.get(k) is False)
        flags.append(Flag("no_domain", "the domain does not exist or is not registered", keys))
    age = ev.get("whois.age_days")
    if isinstance(age, int) and age < 365:
        flags.append(Flag("new_domain", f"new domain: registered {ev.get('whois.created')} ({age} days ago)",
                          ("whois.created", "whois.age_days")))
    claim = next((k for k in ("claimed.company", "claimed.role") if ev.get(k)), None)
    if ev.get("email.free_mail") is True and claim:
        flags.append(Flag("free_mail_company", f"free-mail address ({ev.get('email.domain')}) for a company that "
                          f"calls itself “{ev[claim]}”", ("email.free_mail", claim)))
    if ev.get("email.matches_company") is False:
        flags.append(Flag("email_company_mismatch", f"email domain {ev.get('email.domain')} does not match "
                          f"“{ev.get('claimed.company')}”", ("email.matches_company", "claimed.company")))
    countries = {k: ev[k] for k in ("claimed.country", "phone.country", "web.country", "whois.country")
                 if isinstance(ev.get(k), str) and ev[k]}
    if len(set(countries.values())) > 1:
        said = ", ".join(f"{k.split('.')[0]} {v}" for k, v in countries.items())
        flags.append(Flag("country_mismatch", f"countries disagree: {said}", tuple(countries)))
    if ev.get("web.answers") is False and not missing:
        flags.append(Flag("no_website", "no website answers for the domain", ("web.answers",)))
    for key in ("dns.mx", "email.mx"):
        if ev.get(key) == [] and not missing:
            flags.append(Flag("no_mx", "the domain has no MX record, so it cannot receive email", (key,)))
            break
    if ev.get("phone.type") in ("VoIP", "premium rate"):
        flags.append(Flag("virtual_phone", f"the phone is a {ev['phone.type']} number", ("phone.type",)))
    if ev.get("search.alarms"):
        flags.append(Flag("search_alarm", "web results mention scam/fraud/complaints", ("search.alarms",)))
    if ev.get("history.opted_out") is True:
        flags.append(Flag("opted_out", "this buyer opted out of our messages", ("history.opted_out",)))
    return flags


def risk_level(flags: list[Flag], checked: int) -> str:
    if checked == 0:
        return "unknown (no check could run)"
    serious = {"no_domain", "search_alarm"}
    if len(flags) >= 2 or any(f.key in serious for f in flags):
        return "high"
    return "medium" if flags else "low"


def rule_summary(flags: list[Flag], level: str, notice: str | None = None) -> Summary:
    if not flags:
        claim = Claim(f"Risk {level}: no risk flag raised by the checks that ran.", ())
    else:
        claim = Claim(f"Risk {level}: " + "; ".join(f.text for f in flags) + ".",
                      tuple(k for f in flags for k in f.evidence))
    return Summary("rules", (claim,), notice=notice)


# -- the model's claims and their verification ----------------------------------------------

class ModelClaim(BaseModel):
    text: str = Field(description="One short factual sentence about the buyer, using only the evidence")
    evidence: list[str] = Field(description="The evidence keys this sentence is based on, e.g. ['whois.created']")


class ModelSummary(BaseModel):
    claims: list[ModelClaim] = Field(description="3 to 6 claims: the most useful facts and risks first")


SYSTEM = (
    "You check the background of a buyer for an export sales rep. You get EVIDENCE as JSON "
    "(key -> value) gathered by automated checks, and RISK FLAGS computed from it. Write 3 to 6 short "
    "claims for the rep. Every claim cites the evidence keys it relies on. State ONLY what the evidence "
    "says: no outside knowledge, no guesses, no numbers or names that are not in the evidence. A check "
    "that failed says nothing about the buyer; do not treat it as a risk."
)

_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_DOTTED = re.compile(r"[\w.+-]+@[\w.-]+\w|\b(?:[a-z0-9-]+\.)+[a-z]{2,24}\b", re.I)
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w&'-]*")
# Capitalised words that name our checks or ordinary things, not facts about the buyer.
GENERIC = {"dns", "mx", "a", "whois", "rdap", "http", "https", "url", "voip", "sms", "whatsapp", "email", "e-mail",
           "mail", "website", "web", "phone", "registrar", "domain", "risk", "the", "no", "not", "utc", "i",
           "ok", "tld", "ip", "ipv4", "ipv6", "free-mail", "record", "records", "search", "history", "buyer",
           "country", "company", "carrier", "mobile", "fixed", "high", "medium", "low", "however", "it", "its"}


def _flat(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str).lower() if not isinstance(value, str) else value.lower()


def _numbers(text: str) -> set[str]:
    """Number tokens and their parts: '2015-06-01' supports '2015-06-01', '2015', '06' and '01'."""
    out: set[str] = set()
    for token in _NUMBER.findall(text):
        out.add(token)
        out.update(re.split(r"[.,:/-]", token))
    return out


def unsupported(text: str, cited: dict[str, Any], everything: dict[str, Any]) -> list[str]:
    """Numbers in `text` not in the cited evidence, and names not anywhere in the evidence."""
    cited_text = " ".join(_flat(v) for v in cited.values())
    all_text = " ".join(_flat(v) for v in everything.values())
    numbers = _numbers(cited_text)
    missing = [n for n in _NUMBER.findall(text) if n not in numbers]
    codes = {v.upper() for v in cited.values() if isinstance(v, str) and len(v) == 2}
    for token in _DOTTED.findall(text):
        if token.lower().rstrip(".") not in all_text:
            missing.append(token)
    for word in _CAPITAL.findall(text):
        low = word.lower()
        if low in GENERIC or low.rstrip("s") in GENERIC or re.search(rf"\b{re.escape(low)}\b", all_text):
            continue
        if COUNTRY_NAMES.get(low) in codes:  # "Germany" for a cited "DE"
            continue
        missing.append(word)
    return list(dict.fromkeys(missing))


def verify(claims: list[ModelClaim], evidence: dict[str, Any]) -> tuple[list[Claim], list[str]]:
    kept: list[Claim] = []
    dropped: list[str] = []
    for claim in claims:
        text = " ".join(claim.text.split())
        if not text:
            continue
        if not claim.evidence:
            dropped.append(f"“{text}” cites no evidence")
            continue
        unknown = [k for k in claim.evidence if k not in evidence]
        if unknown:
            dropped.append(f"“{text}” cites evidence that does not exist ({', '.join(unknown)})")
            continue
        missing = unsupported(text, {k: evidence[k] for k in claim.evidence}, evidence)
        if missing:
            dropped.append(f"“{text}” states {', '.join(missing)}, which is not in the evidence")
            continue
        kept.append(Claim(text, tuple(claim.evidence)))
    return kept, dropped


class ModelSummarizer:
    """One structured call over the evidence; any failure falls back to the rule summary."""

    def __init__(self, model: Any, timeout: float) -> None:
        self.timeout = timeout
        self._structured = model.with_structured_output(ModelSummary, method="json_schema")

    async def summarize(self, target: str, evidence: dict[str, Any], flags: list[Flag], level: str,
                        failed: list[str]) -> Summary:
        payload = {"target": target, "evidence": evidence, "risk_flags": [f.text for f in flags],
                   "risk_level": level, "checks_that_failed": failed}
        messages = [("system", SYSTEM), ("human", json.dumps(payload, ensure_ascii=False, default=str))]
        try:
            output = await asyncio.wait_for(self._structured.ainvoke(messages), self.timeout)
        except TimeoutError:
            return rule_summary(flags, level, f"the model did not answer within {self.timeout:g}s; rule summary")
        except Exception as exc:
            log.warning("background summary model failed: %s", exc)
            return rule_summary(flags, level, f"the model failed ({type(exc).__name__}); rule summary")
        kept, dropped = verify(list(output.claims), evidence)
        return Summary("model", tuple(kept), tuple(dropped))
