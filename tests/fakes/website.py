"""FakeWebsites: one Starlette app serving several buyer websites, chosen by the Host header.

Serve it with `tests.serving.serve(FakeWebsites().app)`; point the fake DNS at 127.0.0.1 for each
host and TRADEMATE_WEB_PORT at the served port, so the website check reaches it like a real site.
"""

from __future__ import annotations

import asyncio
import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

BUYER_PAGE = """<!doctype html><html><head>
<title>Example Buyer GmbH – Thermoskannen Import</title>
<meta name="description" content="Importer of vacuum flasks and drinkware for retail chains in Germany.">
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "Organization", "name": "Example Buyer GmbH",
 "address": {"@type": "PostalAddress", "addressLocality": "Hamburg", "addressCountry": "DE"}}
</script>
<style>.x{color:red}</style></head>
<body><h1>Example Buyer GmbH</h1>
<p>Write to <a href="mailto:einkauf@example-buyer.test">einkauf@example-buyer.test</a>
or call <a href="tel:+4940123456789">+49 40 123456789</a>.</p>
<p>Office: sales@example-buyer.test</p></body></html>"""


class FakeWebsites:
    def __init__(self) -> None:
        self.pages: dict[str, str] = {"example-buyer.test": BUYER_PAGE,
                                      "untitled.test": "<html><body>Under construction</body></html>"}
        self.redirects: dict[str, str] = {"old-buyer.test": "http://example-buyer.test/"}
        self.slow: set[str] = {"slow-site.test"}
        self.requests: list[tuple[str, str]] = []  # (host, path)
        self.latency = 0.0  # seconds before each answer (benchmarks)
        self.released = threading.Event()  # set at shutdown so a slow answer does not hold the server
        self.app = Starlette(routes=[Route("/{path:path}", self.serve)])

    async def serve(self, request: Request) -> Response:
        host = request.headers.get("host", "").split(":")[0]
        self.requests.append((host, request.url.path))
        if self.latency:
            await asyncio.sleep(self.latency)
        if host in self.slow:
            for _ in range(100):  # up to 5 s, unless released
                if self.released.is_set():
                    break
                await asyncio.sleep(0.05)
        if host in self.redirects:
            return RedirectResponse(self.redirects[host], status_code=301)
        if host in self.pages:
            return HTMLResponse(self.pages[host])
        return HTMLResponse("<title>Not found</title>", status_code=404)
