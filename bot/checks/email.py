"""Email: syntax, deliverability (MX), free-mail provider or company domain, and whether the
domain fits the company the buyer claims to be."""

from __future__ import annotations

import re

from bot.checks import CheckResult, Status
from bot.checks.dns import DnsProblem, Lookup, NoSuchDomain

FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.co.in", "yahoo.fr", "yahoo.es",
    "yahoo.com.br", "ymail.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.es", "outlook.com",
    "outlook.es", "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
    "protonmail.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "zoho.com", "yandex.com",
    "yandex.ru", "mail.ru", "bk.ru", "list.ru", "inbox.ru", "rambler.ru", "qq.com", "163.com", "126.com",
    "sina.com", "sohu.com", "aliyun.com", "foxmail.com", "yeah.net", "naver.com", "daum.net", "hanmail.net",
    "rediffmail.com", "libero.it", "orange.fr", "free.fr", "laposte.net", "t-online.de", "seznam.cz",
    "wp.pl", "o2.pl", "interia.pl", "abv.bg", "tutanota.com", "gmx.at", "bol.com.br", "uol.com.br",
})
# Legal forms, and words that say nothing about which company it is.
_LEGAL = frozenset({"ltd", "limited", "llc", "inc", "gmbh", "co", "corp", "corporation", "sa", "sl", "srl", "spa",
                    "bv", "ag", "plc", "pvt", "private", "sarl", "oy", "ab", "as", "kft", "sro", "llp", "pte", "pty",
                    "fze", "fzco", "jsc", "ooo"})
_GENERIC = _LEGAL | {"company", "group", "trading", "import", "imports", "export", "exports", "international",
                     "intl", "the", "and", "de", "del", "la"}
ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                     r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$")


def is_free_mail(domain: str) -> bool:
    return domain.lower() in FREE_MAIL


def company_tokens(company: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", company.lower())
    return [w for w in words if len(w) >= 3 and w not in _GENERIC]


def domain_matches_company(domain: str, company: str) -> bool | None:
    """True when a distinctive word of the company name is in the domain; None when there is no word to test."""
    tokens = company_tokens(company)
    if not tokens:
        return None
    label = re.sub(r"[^a-z0-9]", "", domain.lower().rsplit(".", 1)[0])
    initials = "".join(w[0] for w in re.findall(r"[a-z0-9]+", company.lower()) if w not in _LEGAL)
    return any(t in label for t in tokens) or (len(initials) >= 3 and initials in label)


async def check_email(lookup: Lookup, address: str, company: str | None) -> CheckResult:
    address = address.strip()
    if not ADDRESS.match(address):
        return CheckResult("email", Status.WARNING, f"{address} is not a valid email address",
                           {"email.address": address, "email.valid": False}, ("invalid email address",))
    domain = address.rsplit("@", 1)[1].lower()
    free = is_free_mail(domain)
    evidence: dict[str, object] = {"email.address": address, "email.valid": True, "email.domain": domain,
                                   "email.free_mail": free}
    notes: list[str] = []
    parts = [f"{address}: valid syntax", "free-mail provider" if free else "company domain"]
    try:
        mx = await lookup.mx(domain)
        evidence["email.mx"] = [host for _, host in mx]
        if mx:
            parts.append(f"MX {mx[0][1]}")
        else:
            notes.append("the email domain has no MX record: mail to it bounces")
    except NoSuchDomain:
        evidence["email.mx"] = []
        notes.append("the email domain does not exist")
    except DnsProblem as exc:
        parts.append(f"deliverability not checked ({exc})")
    if company:
        evidence["claimed.company"] = company
        if free:
            notes.append(f"free-mail address for a company ({company})")
        else:
            match = domain_matches_company(domain, company)
            evidence["email.matches_company"] = match
            if match is False:
                notes.append(f"email domain {domain} does not match the claimed company {company}")
            elif match:
                parts.append(f"domain matches {company}")
    return CheckResult("email", Status.WARNING if notes else Status.OK, "; ".join(parts), evidence, tuple(notes))
