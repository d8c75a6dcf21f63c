"""FakeSearch: Brave Search API (`GET /res/v1/web/search`) and SerpAPI (`GET /search.json`) shapes.

`results` maps a query to (title, url, snippet) hits; the key is checked like the real APIs.
"""

from __future__ import annotations

from tests.fakes.base import FakeServer, Recorded, Reply, json_reply

SEARCH_KEY = "search-test-key"


class FakeSearch(FakeServer):
    name = "search"

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, list[tuple[str, str, str]]] = {}

    def handle(self, request: Recorded) -> Reply:
        query = str(request.query.get("q", ""))
        hits = self.results.get(query, [])
        if request.path.endswith("/res/v1/web/search"):
            if request.headers.get("x-subscription-token") != SEARCH_KEY:
                return json_reply({"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}}, 422)
            return json_reply({"type": "search", "query": {"original": query},
                               "web": {"type": "search", "results": [
                                   {"title": t, "url": u, "description": d} for t, u, d in hits]}})
        if request.path.endswith("/search.json"):
            if request.query.get("api_key") != SEARCH_KEY:
                return json_reply({"error": "Invalid API key."}, 401)
            return json_reply({"search_metadata": {"status": "Success"}, "organic_results": [
                {"position": i + 1, "title": t, "link": u, "snippet": d} for i, (t, u, d) in enumerate(hits)]})
        return json_reply({"error": "not found"}, 404)
