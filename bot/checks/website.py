"""Website: does the domain's site answer, and what does it say about itself.

The host is resolved through the same configured `Lookup` as the DNS check and the request goes
to that address with the real Host header and TLS server name, so certificates are still checked
for the domain. Redirects are followed by hand (each hop resolved the same way). Addresses in
private or loopback ranges are refused unless `TRADEMATE_BGCHECK_ALLOW_PRIVATE` is set: a buyer
must not be able to make the bot fetch pages from inside our own network.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import phonenumbers

from bot.checks import CheckResult, Status
from bot.checks.dns import DnsProblem, Lookup, NoSuchDomain

MAX_BODY = 1_000_000
MAX_HOPS = 4
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,24}")
PHONE = re.compile(r"\+\d[\d\s().-]{6,18}\d")
COUNTRY_NAMES = {
    "germany": "DE", "deutschland": "DE", "france": "FR", "spain": "ES", "españa": "ES", "italy": "IT",
    "italia": "IT", "netherlands": "NL", "united kingdom": "GB", "uk": "GB", "united states": "US", "usa": "US",
    "china": "CN", "india": "IN", "turkey": "TR", "türkiye": "TR", "mexico": "MX", "méxico": "MX",
    "brazil": "BR", "brasil": "BR", "united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA",
    "nigeria": "NG", "kenya": "KE", "south africa": "ZA", "russia": "RU", "poland": "PL", "vietnam": "VN",
    "indonesia": "ID", "pakistan": "PK", "bangladesh": "BD", "egypt": "EG", "chile": "CL", "colombia": "CO",
    "peru": "PE", "argentina": "AR", "japan": "JP", "korea": "KR", "australia": "AU", "canada": "CA",
}


@dataclass(frozen=True)
class WebConfig:
    schemes: tuple[str, ...] = ("https", "http")
    port: int = 0  # 0 = the scheme's usual port
    timeout: float = 8.0
    allow_private: bool = False


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.meta: dict[str, str] = {}
        self.links: list[str] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            key = (a.get("name") or a.get("property") or a.get("itemprop") or "").lower()
            if key and "content" in a:
                self.meta.setdefault(key, a["content"].strip())
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "title" or (tag == "script" and a.get("type") == "application/ld+json"):
            self._in = tag
        elif tag in ("script", "style"):
            self._in = "skip"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "script", "style"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "script":
            self.scripts.append(data)
        elif self._in is None:
            self.text.append(data)


def _country(value: str) -> str | None:
    value = value.strip()
    if re.fullmatch(r"[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?", value):
        return value[:2].upper()
    return COUNTRY_NAMES.get(value.lower())


def _ld_countries(scripts: list[str]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "addressCountry":
                    name = value.get("name", "") if isinstance(value, dict) else str(value)
                    code = _country(name)
                    if code:
                        found.append(code)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for script in scripts:
        try:
            walk(json.loads(script))
        except ValueError:
            continue
    return found


def read_page(html: str) -> dict[str, object]:
    """Title, description, emails, phones and claimed country of one HTML page."""
    page = _Page()
    page.feed(html)
    text = " ".join(page.text)
    emails = {m.lower() for m in EMAIL.findall(text)}
    emails |= {h[7:].split("?")[0].lower() for h in page.links if h.lower().startswith("mailto:")}
    raw_phones = PHONE.findall(text) + [h[4:] for h in page.links if h.lower().startswith("tel:")]
    phones: dict[str, str | None] = {}
    for raw in raw_phones:
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            phones[e164] = phonenumbers.region_code_for_number(number)
    countries = _ld_countries(page.scripts)
    for key in ("geo.country", "geo.region", "og:country-name", "og:locale:country"):
        if key in page.meta and _country(page.meta[key]):
            countries.append(_country(page.meta[key]) or "")
    if not countries:  # no explicit claim: the country of the phone numbers it lists
        countries = [c for c in phones.values() if c and c != "ZZ"]
    description = page.meta.get("description") or page.meta.get("og:description") or ""
    out: dict[str, object] = {
        "web.title": " ".join(page.title.split())[:200],
        "web.description": " ".join(description.split())[:300],
        "web.emails": sorted(emails)[:10],
        "web.phones": sorted(phones)[:10],
    }
    if countries:
        out["web.country"] = max(set(countries), key=countries.count)
    return out


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: the page claims garbage
        return body.decode("utf-8", errors="replace")


async def _fetch(client: httpx.AsyncClient, lookup: Lookup, cfg: WebConfig,
                 url: str) -> tuple[httpx.Response, str, str]:
    """GET `url` resolving each hop through `lookup`; return the last response, its URL and its text."""
    for _ in range(MAX_HOPS + 1):
        parts = urlsplit(url)
        host = parts.hostname or ""
        addresses = await lookup.a(host)
        if not addresses:
            raise NoSuchDomain(host)
        address = addresses[0]
        if _private(address) and not cfg.allow_private:
            raise PermissionError(f"{host} points to a private address ({address}); not fetched")
        port = cfg.port or parts.port or (443 if parts.scheme == "https" else 80)
        target = f"{parts.scheme}://{address}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        request = client.build_request("GET", target, headers={"Host": host},
                                       extensions={"sni_hostname": host})
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_BODY:
                    break
            return response, url, _decode(body[:MAX_BODY], response.charset_encoding)
        finally:
            await response.aclose()
    raise httpx.TooManyRedirects(f"more than {MAX_HOPS} redirects")


async def check_website(lookup: Lookup, cfg: WebConfig, domain: str) -> CheckResult:
    last_problem = "no scheme configured"
    timed_out = False
    async with httpx.AsyncClient(timeout=cfg.timeout, headers={"User-Agent": "Trademate-bgcheck/0.1"},
                                 follow_redirects=False) as client:
        for scheme in cfg.schemes:
            try:
                response, final_url, page = await _fetch(client, lookup, cfg, f"{scheme}://{domain}/")
            except NoSuchDomain as exc:
                return CheckResult("website", Status.WARNING, f"no website: {exc} has no IPv4 address (A record)",
                                   {"web.answers": False}, ("no website",))
            except PermissionError as exc:
                return CheckResult.failed("website", str(exc))
            except DnsProblem as exc:
                return CheckResult.failed("website", str(exc))
            except httpx.TimeoutException:
                last_problem = f"{scheme}://{domain} did not answer within {cfg.timeout:g}s"
                timed_out = True
                continue
            except httpx.HTTPError as exc:
                last_problem = f"{scheme}://{domain}: {type(exc).__name__}"
                continue
            evidence: dict[str, object] = {"web.answers": True, "web.url": final_url,
                                           "web.status": response.status_code}
            if response.status_code >= 400:
                return CheckResult("website", Status.WARNING, f"{final_url} answers with HTTP {response.status_code}",
                                   evidence, (f"website answers with an error ({response.status_code})",))
            if "html" in response.headers.get("content-type", "html"):
                evidence.update(read_page(page))
            line = [f"{final_url} answers (HTTP {response.status_code})"]
            if evidence.get("web.title"):
                line.append(f"title “{evidence['web.title']}”")
            if evidence.get("web.description"):
                line.append(f"description “{str(evidence['web.description'])[:120]}”")
            if evidence.get("web.country"):
                line.append(f"claims country {evidence['web.country']}")
            contacts = list(evidence.get("web.emails") or []) + list(evidence.get("web.phones") or [])  # type: ignore[call-overload]
            if contacts:
                line.append("contacts " + ", ".join(contacts[:4]))
            notes = () if evidence.get("web.title") else ("website has no title",)
            return CheckResult("website", Status.OK if not notes else Status.WARNING, "; ".join(line), evidence,
                               notes)
    if timed_out or not cfg.schemes:
        return CheckResult.failed("website", last_problem)
    # Every scheme refused or broke the connection: the site is down or does not exist.
    return CheckResult("website", Status.WARNING, f"no website answers ({last_problem})", {"web.answers": False},
                       ("no website",))
