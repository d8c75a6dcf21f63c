"""Shared fixtures: the network guard every test runs under, and the fake platform servers.

The guard is a harness rule, not a mock of our code (STYLE habit 3): a test that tries to reach
any host but loopback fails, even when the library that tried swallows the error and retries.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.fakes import (
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeLLM,
    FakeSlack,
    FakeTelegram,
    FakeTwilio,
)

_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class NetworkBlockedError(ConnectionRefusedError):
    """Raised instead of reaching a non-local host; an OSError so clients fail the way they would offline."""


def is_local(host: Any) -> bool:
    """Loopback names and addresses (and the unspecified address used for binding) are allowed."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class NetworkGuard:
    """Records every blocked attempt so the test fails at teardown even if the error was swallowed."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def check(self, what: str, host: Any, port: Any = None) -> None:
        if not is_local(host):
            attempt = f"{what} {host!r}:{port}"
            self.blocked.append(attempt)
            raise NetworkBlockedError(f"test network guard: {attempt} is not loopback; use a fake in tests/fakes")

    @contextmanager
    def expect_blocked(self) -> Iterator[None]:
        """For tests of the guard itself: the block must happen inside, and is then forgiven."""
        before = len(self.blocked)
        yield
        assert len(self.blocked) > before, "expected the network guard to block a connection"
        del self.blocked[before:]


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Fail any test that opens a connection, or resolves a name, outside 127.0.0.1/localhost/::1."""
    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def _target(sock: socket.socket, address: Any) -> tuple[Any, Any] | None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            return address[0], address[1]
        return None  # AF_UNIX and friends stay on this machine

    def connect(self: socket.socket, address: Any) -> None:
        target = _target(self, address)
        if target:
            guard.check("connect", *target)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        target = _target(self, address)
        if target:
            guard.check("connect", *target)
        return real_connect_ex(self, address)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        guard.check("connect", address[0], address[1])
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        guard.check("resolve", host, port)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    if guard.blocked:
        pytest.fail("test tried to reach the network: " + "; ".join(guard.blocked), pytrace=False)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """FakeSlack requiring SLACK_TOKEN; point clients at `fake_slack.url + "/api/"`."""
    with FakeSlack(token=SLACK_TOKEN) as fake:
        yield fake
        fake.check()


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """FakeTwilio for TEST_ACCOUNT_SID/TEST_AUTH_TOKEN; rewrite https://api.twilio.com to `.url`."""
    with FakeTwilio(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN) as fake:
        yield fake
        fake.check()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """FakeLLM accepting any API key; point ChatOpenAI at `fake_llm.url + "/v1"`."""
    with FakeLLM() as fake:
        yield fake
        fake.check()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """FakeTelegram for TELEGRAM_TOKEN; base_url `fake_telegram.url + "/bot"`."""
    with FakeTelegram(token=TELEGRAM_TOKEN) as fake:
        yield fake
        fake.check()
