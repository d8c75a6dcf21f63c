"""Optional web search behind a small interface; none by default.

`TRADEMATE_SEARCH_PROVIDER` picks a client ("brave" for the Brave Search API, "serpapi" for
SerpAPI's Google engine), `TRADEMATE_SEARCH_KEY` is its key and `TRADEMATE_SEARCH_URL` replaces
its endpoint (a proxy, a compatible service, or a local fake in tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from bot.checks import CheckResult, Status
from bot.errors import ConfigError

DEFAULT_URLS = {
    "brave": "https://api.search.brave.com/res/v1/web/search",
    "serpapi": "https://serpapi.com/search.json",
}
# Words that, next to the target's name in a result, are worth the rep's attention.
ALARM_WORDS = ("scam", "fraud", "fake", "complaint", "warning", "blacklist", "phishing")


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    snippet: str


class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, count: int) -> list[SearchHit]: ...


class BraveSearch:
    """Brave Search API: GET ?q=&count= with `X-Subscription-Token`; hits in `web.results`."""

    name = "brave"

    def __init__(self, key: str, url: str, timeout: float) -> None:
        self.key, self.url, self.timeout = key, url, timeout

    async def search(self, query: str, count: int) -> list[SearchHit]:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            resp = await client.get(self.url, params={"q": query, "count": count},
                                    headers={"X-Subscription-Token": self.key, "Accept": "application/json"})
        resp.raise_for_status()
        results = (resp.json().get("web") or {}).get("results") or []
        return [SearchHit(str(r.get("title", "")), str(r.get("url", "")), str(r.get("description", "")))
                for r in results[:count] if isinstance(r, dict)]


class SerpApiSearch:
    """SerpAPI (Google engine): GET ?q=&api_key=&engine=google; hits in `organic_results`."""

    name = "serpapi"

    def __init__(self, key: str, url: str, timeout: float) -> None:
        self.key, self.url, self.timeout = key, url, timeout

    async def search(self, query: str, count: int) -> list[SearchHit]:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            resp = await client.get(self.url, params={"q": query, "api_key": self.key, "engine": "google",
                                                      "num": count})
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        if data.get("error"):
            raise httpx.HTTPError(str(data["error"]))
        return [SearchHit(str(r.get("title", "")), str(r.get("link", "")), str(r.get("snippet", "")))
                for r in (data.get("organic_results") or [])[:count] if isinstance(r, dict)]


def build_search(provider: str, key: str, url: str, timeout: float) -> SearchProvider | None:
    provider = provider.strip().lower()
    if not provider:
        return None
    if provider not in DEFAULT_URLS:
        choices = ", ".join(DEFAULT_URLS)
        raise ConfigError(f"TRADEMATE_SEARCH_PROVIDER={provider!r}: use one of {choices} or leave empty")
    if not key:
        raise ConfigError(f"TRADEMATE_SEARCH_PROVIDER={provider}: TRADEMATE_SEARCH_KEY is missing")
    cls = BraveSearch if provider == "brave" else SerpApiSearch
    return cls(key, url or DEFAULT_URLS[provider], timeout)


async def check_search(provider: SearchProvider | None, query: str, count: int = 5) -> CheckResult:
    if provider is None:
        return CheckResult.skipped("search", "web search not configured (TRADEMATE_SEARCH_PROVIDER)")
    try:
        hits = await provider.search(query, count)
    except httpx.TimeoutException:
        return CheckResult.failed("search", f"{provider.name} search timed out")
    except (httpx.HTTPError, ValueError) as exc:
        return CheckResult.failed("search", f"{provider.name} search failed ({type(exc).__name__})")
    evidence: dict[str, object] = {"search.count": len(hits),
                                   "search.results": [f"{h.title} — {h.url}" for h in hits]}
    alarming = [h for h in hits if any(w in f"{h.title} {h.snippet}".lower() for w in ALARM_WORDS)]
    notes = tuple(f"search result mentions {next(w for w in ALARM_WORDS if w in (h.title + ' ' + h.snippet).lower())}:"
                  f" {h.url}" for h in alarming)
    if alarming:
        evidence["search.alarms"] = [h.url for h in alarming]
    line = f"{len(hits)} results for “{query}”" + (": " + "; ".join(h.title for h in hits[:3]) if hits else "")
    return CheckResult("search", Status.WARNING if notes or not hits else Status.OK, line, evidence,
                       notes or (() if hits else ("no web results",)))
