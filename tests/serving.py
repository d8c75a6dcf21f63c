"""Run an ASGI app with real uvicorn on 127.0.0.1 port 0 in a thread, and sign requests like the platforms."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import uvicorn


@contextmanager
def serve(app: Any, *, lifespan: str = "on") -> Iterator[str]:
    """Yield the base URL of a running server; stop it (running the app's shutdown) on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def slack_signed(payload: dict[str, Any], secret: str, *, ts: int | None = None) -> tuple[str, dict[str, str]]:
    """Body and headers of an interactivity request, signed with Slack's v0 scheme."""
    return slack_signed_form({"payload": json.dumps(payload)}, secret, ts=ts)


def slack_command(command: str, text: str, secret: str, *, user: str = "U0REP00001",
                  channel: str = "C0SALES001") -> tuple[str, dict[str, str]]:
    """A signed slash-command request as Slack sends it."""
    return slack_signed_form({"command": command, "text": text, "user_id": user, "channel_id": channel,
                              "team_id": "T0TRADEM8", "trigger_id": "1.2.3", "response_url": ""}, secret)


def slack_signed_form(fields: dict[str, str], secret: str, *, ts: int | None = None) -> tuple[str, dict[str, str]]:
    raw = urlencode(fields)
    stamp = str(ts or int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:{raw}".encode(), hashlib.sha256).hexdigest()
    return raw, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sig,
    }


def eventually(condition: Any, within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {within}s"
        time.sleep(0.02)
