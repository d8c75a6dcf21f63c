"""Shared machinery for the fake platform servers: a threaded HTTP server that records every request.

The fakes are real HTTP servers on 127.0.0.1 so tests drive the real SDK clients end to end and
assert on exactly what the platform would have received (STYLE habit 2). A subclass only
implements `handle(request) -> Reply`; starting, stopping, body parsing, recording, scripted
failures and delays live here.
"""

from __future__ import annotations

import asyncio
import json
import socket
import socketserver
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

Predicate = Callable[["Recorded"], bool] | str


class Headers(dict[str, str]):
    """Request headers keyed case-insensitively, so `h["Authorization"]` and `h["authorization"]` agree."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class UploadedFile:
    """One file part of a multipart body (Telegram `sendPhoto`, for instance)."""

    name: str
    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class Recorded:
    """One request as the fake received it, parsed once so tests can assert without decoding.

    `query` and `form` map a name to its value, or to a list of values when the name repeats
    (Twilio sends one `MediaUrl` per attachment). `json` is the decoded JSON body or None.
    `status` is what the fake answered (None while the answer is still being prepared).
    """

    method: str
    path: str
    query: dict[str, Any]
    headers: Headers
    body: bytes
    form: dict[str, Any]
    json: Any
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int | None = None
    at: float = field(default_factory=time.time)

    @property
    def args(self) -> dict[str, Any]:
        """Query, form and JSON-object fields merged: what an API method was called with."""
        merged: dict[str, Any] = {**self.query, **self.form}
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Reply:
    """What a fake answers: status, body bytes, content type and extra headers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), "application/json; charset=utf-8", dict(headers or {}))


def text_reply(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Reply:
    return Reply(status, text.encode(), content_type)


def body_reply(body: Any, status: int, headers: dict[str, str] | None = None) -> Reply:
    """A reply from a loosely typed body: dict/list as JSON, str as text, bytes as they are."""
    if isinstance(body, bytes):
        return Reply(status, body, "application/octet-stream", dict(headers or {}))
    if isinstance(body, str):
        return Reply(status, body.encode(), "text/plain; charset=utf-8", dict(headers or {}))
    return json_reply(body, status, headers)


def pairs_to_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Collapse key/value pairs: a single value stays a str, a repeated key becomes a list."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    return out


def _header_params(value: str, header: str = "content-type") -> Message:
    msg = Message()
    msg[header] = value
    return msg


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Split a multipart/form-data body into text fields and file parts (stdlib has no parser)."""
    boundary = _header_params(content_type).get_param("boundary")
    if not isinstance(boundary, str):
        return {}, {}
    fields: list[tuple[str, str]] = []
    files: dict[str, UploadedFile] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, _, content = part.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = Headers()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip()] = value.strip()
        disposition = _header_params(headers.get("content-disposition", ""), "content-disposition")
        name = disposition.get_param("name", header="content-disposition")
        filename = disposition.get_filename()
        if not isinstance(name, str):
            continue
        if filename is not None or headers.get("content-type", "").startswith("application/octet"):
            files[name] = UploadedFile(name, filename, headers.get("content-type"), content)
        else:
            fields.append((name, content.decode("utf-8", "replace")))
    return pairs_to_dict(fields), files


@dataclass
class _Scripted:
    """A queued failure or delay, consumed by the next requests whose path ends with `path_suffix`."""

    path_suffix: str
    method: str | None
    remaining: int
    reply: Reply | None = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return path.endswith(self.path_suffix) and (self.method is None or self.method == method)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup we neither need nor want.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log; tests read `fake.requests` instead."""

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class FakeServer:
    """A recording HTTP server on 127.0.0.1:<free port>, usable from sync and async tests.

    Use as a context manager or call `start()`/`stop()`. Subclasses implement `handle`.
    Everything here is thread-safe: requests arrive on server threads while tests read.
    """

    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[Recorded] = []
        self._scripted: list[_Scripted] = []
        self._delays: list[_Scripted] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        """Tracebacks of the fake's own bugs (answered as 500); fixtures fail the test on any."""

    # lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-{self.name}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.notify()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"fake {self.name} is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:54321."""
        return f"http://127.0.0.1:{self.port}"

    def check(self) -> None:
        """Fail if the fake itself crashed while answering (a bug in the fake, not in the test)."""
        if self.errors:
            raise AssertionError(f"fake {self.name} crashed answering a request:\n" + "\n".join(self.errors))

    # recorded requests ----------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def calls(self, path_suffix: str = "", method: str | None = None) -> list[Recorded]:
        """Requests whose path (without query) ends with `path_suffix`, optionally of one HTTP method."""
        return [
            r for r in self.requests if r.path.endswith(path_suffix) and (method is None or r.method == method.upper())
        ]

    def reset(self) -> None:
        """Forget recorded requests and scripted failures/delays (state kept by subclasses stays)."""
        with self._lock:
            self._requests.clear()
            self._scripted.clear()
            self._delays.clear()

    def wait_for(
        self, predicate: Predicate, timeout: float = 5.0, *, count: int = 1, answered: bool = True
    ) -> Recorded:
        """Block until `count` recorded requests match, and return the `count`-th.

        `predicate` is a function of a `Recorded` or a path suffix. With `answered` (the default)
        a request only counts once the fake has answered it, so the fake's state is settled.
        Blocking: from async tests use `await fake.await_for(...)` instead.
        """
        match = self._matcher(predicate)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self._find(match, count, answered)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_message(predicate, timeout, count))
                self._changed.wait(remaining)

    async def await_for(
        self,
        predicate: Predicate,
        timeout: float = 5.0,  # noqa: ASYNC109 - same signature as wait_for; only `await` differs
        *,
        count: int = 1,
        answered: bool = True,
    ) -> Recorded:
        """`wait_for` for async tests: polls without blocking the event loop."""
        match = self._matcher(predicate)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = self._find(match, count, answered)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(predicate, timeout, count))
            await asyncio.sleep(0.01)

    def _find(self, match: Callable[[Recorded], bool], count: int, answered: bool) -> Recorded | None:
        found = [r for r in self._requests if (r.status is not None or not answered) and match(r)]
        return found[count - 1] if len(found) >= count else None

    @staticmethod
    def _matcher(predicate: Predicate) -> Callable[[Recorded], bool]:
        if isinstance(predicate, str):
            suffix = predicate
            return lambda r: r.path.endswith(suffix)

        def safe(r: Recorded) -> bool:
            try:
                return bool(predicate(r))
            except Exception:  # a predicate poking at a field another request lacks
                return False

        return safe

    def _timeout_message(self, predicate: Predicate, timeout: float, count: int) -> str:
        seen = ", ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests) or "nothing"
        return f"fake {self.name}: {count} request(s) matching {predicate!r} not seen in {timeout}s; saw {seen}"

    # scripting ------------------------------------------------------------------------------

    def fail_next(
        self,
        path_suffix: str,
        status: int = 500,
        body: Any = None,
        times: int = 1,
        *,
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests to paths ending with `path_suffix` with an error.

        `body` may be a dict/list (JSON), str or bytes; None uses the platform's own error shape.
        """
        if not isinstance(path_suffix, str):
            raise TypeError("fail_next(path_suffix, status, ...): pass status= by keyword")
        reply = (
            body_reply(body, status, headers)
            if body is not None
            else json_reply(self.failure_body(status), status, {**self.failure_headers(status), **(headers or {})})
        )
        with self._lock:
            self._scripted.append(_Scripted(path_suffix, method and method.upper(), times, reply=reply))

    def slow_next(self, path_suffix: str, seconds: float, times: int = 1, *, method: str | None = None) -> None:
        """Hold the next `times` matching requests for `seconds` before answering (timeout tests)."""
        with self._lock:
            self._delays.append(_Scripted(path_suffix, method and method.upper(), times, seconds=seconds))

    def failure_body(self, status: int) -> Any:
        """The platform-shaped error body used by `fail_next` when none is given."""
        return {"error": f"scripted failure {status}"}

    def failure_headers(self, status: int) -> dict[str, str]:
        return {}

    def _take(self, queue: list[_Scripted], method: str, path: str) -> _Scripted | None:
        with self._lock:
            for item in queue:
                if item.matches(method, path):
                    item.remaining -= 1
                    if item.remaining <= 0:
                        queue.remove(item)
                    return item
        return None

    # helpers for subclasses -----------------------------------------------------------------

    def handle(self, request: Recorded) -> Reply:
        """Answer one request; subclasses implement the platform's API here."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> bool:
        """Sleep on a server thread; returns early (True) when the fake is stopping."""
        return self._stopping.wait(seconds)

    def notify(self) -> None:
        """Wake threads waiting in `wait_until` (and `wait_for`) after a state change."""
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait on a server thread until `condition()` holds (under the lock), the timeout or stop."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return condition()
                self._changed.wait(remaining)
            return True

    @property
    def lock(self) -> threading.RLock:
        """The fake's state lock, shared with request recording."""
        return self._lock

    # request plumbing -----------------------------------------------------------------------

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _serve(self, handler: _Handler) -> None:
        try:
            request = self._read_request(handler)
        except (OSError, ValueError):
            handler.close_connection = True
            return
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
        delay = self._take(self._delays, request.method, request.path)
        if delay is not None:
            self.sleep(delay.seconds)
        failure = self._take(self._scripted, request.method, request.path)
        if failure is not None and failure.reply is not None:
            reply = failure.reply
        else:
            try:
                reply = self.handle(request)
            except Exception:
                self.errors.append(f"{request.method} {request.path}\n{traceback.format_exc()}")
                reply = text_reply(f"fake {self.name} crashed:\n{traceback.format_exc()}", 500)
        with self._changed:
            request.status = reply.status
            self._changed.notify_all()
        self._write_reply(handler, reply)

    @staticmethod
    def _read_request(handler: _Handler) -> Recorded:
        split = urlsplit(handler.path)
        body = handler.read_body()
        headers = Headers(handler.headers.items())
        content_type = headers.get("content-type", "")
        form: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        parsed_json: Any = None
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = pairs_to_dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif content_type.startswith("multipart/form-data"):
            form, files = parse_multipart(body, content_type)
        elif "json" in content_type and body:
            try:
                parsed_json = json.loads(body)
            except ValueError:
                parsed_json = None
        return Recorded(
            method=handler.command.upper(),
            path=unquote(split.path),
            query=pairs_to_dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            form=form,
            json=parsed_json,
            files=files,
        )

    @staticmethod
    def _write_reply(handler: _Handler, reply: Reply) -> None:
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(reply.body)
            handler.wfile.flush()
        except OSError:  # the client gave up (a timeout test); nothing to tell it
            handler.close_connection = True
