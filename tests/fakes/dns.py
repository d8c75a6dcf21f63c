"""FakeDNS: a tiny UDP DNS responder on 127.0.0.1 (port 0) built on dnspython's `dns.message`.

Answers A and MX from `zones`; names not in the zones get NXDOMAIN. Names in `silent` are
never answered (the client times out); names in `garbage` get bytes that are not DNS.
Every question is recorded as (name, type).
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any, Self

import dns.flags
import dns.message
import dns.rcode
import dns.rrset


class FakeDNS:
    def __init__(self, zones: dict[str, dict[str, list[Any]]] | None = None) -> None:
        self.zones: dict[str, dict[str, list[Any]]] = {k.lower().rstrip("."): v for k, v in (zones or {}).items()}
        self.silent: set[str] = set()
        self.garbage: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self.latency = 0.0  # seconds before each answer (benchmarks); answers are sent from a timer
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fake-dns")

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def server(self) -> str:
        """The value for TRADEMATE_DNS_SERVER."""
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, a: list[str] | None = None, mx: list[tuple[int, str]] | None = None) -> None:
        self.zones[name.lower()] = {"A": list(a or []), "MX": list(mx or [])}

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            reply = self.answer(data)
            if reply is None:
                continue
            if self.latency:
                threading.Timer(self.latency, self._send, (reply, peer)).start()
            else:
                self._send(reply, peer)

    def _send(self, reply: bytes, peer: tuple[str, int]) -> None:
        try:
            self._sock.sendto(reply, peer)
        except OSError:  # stopped meanwhile
            pass

    def answer(self, data: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return None
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rtype))
        if name in self.silent:
            return None
        if name in self.garbage:
            return data[:2] + b"\x81\x80 this is not a DNS answer \xff\xfe"
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        zone = self.zones.get(name)
        if zone is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        records = zone.get(rtype, [])
        if records:
            texts = [f"{pref} {host}." for pref, host in records] if rtype == "MX" else [str(r) for r in records]
            response.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rtype, texts))
        return response.to_wire()
