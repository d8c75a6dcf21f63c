"""FakeWhois: a WHOIS server (RFC 3912: one line in, text out, close) on 127.0.0.1 port 0.

`records` maps a domain to the text answered; other domains get a registry's "No match".
Domains in `silent` get no answer (the connection stays open until the fake stops);
domains in `garbage` get binary noise. Every question is recorded.
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType
from typing import Self


class FakeWhois:
    def __init__(self, records: dict[str, str] | None = None) -> None:
        self.records = {k.lower(): v for k, v in (records or {}).items()}
        self.silent: set[str] = set()
        self.garbage: set[str] = set()
        self.queries: list[str] = []
        self.latency = 0.0  # seconds before each answer (benchmarks)
        self._stop = threading.Event()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                question = self.rfile.readline().decode("utf-8", errors="replace").strip().lower()
                fake.queries.append(question)
                if question in fake.silent:
                    fake._stop.wait(30)
                    return
                if question in fake.garbage:
                    self.wfile.write(bytes(range(256)) * 4)
                    return
                if fake.latency:
                    fake._stop.wait(fake.latency)
                text = fake.records.get(question, f'No match for "{question.upper()}".\r\n')
                self.wfile.write(text.encode())

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-whois")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def server(self) -> str:
        """The value for TRADEMATE_WHOIS_SERVER."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
