"""The CLI as a user runs it: `trademate run` as a real process against the fakes, `demo --auto`, `doctor`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes import (
    BUSINESS_WHATSAPP,
    BUYER_WHATSAPP,
    SLACK_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeSlack,
    FakeTwilio,
    inbound_form,
    sign_twilio,
)

PUBLIC = "https://trademate.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEMATE_", "TWILIO_", "SLACK_", "OPENAI_"))}
    return {**keep, "TRADEMATE_DB": str(tmp_path / "run.db"), **extra}


def _trademate(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def test_run_serves_webhooks_as_a_process(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> None:
    port = _free_port()
    env = _env(tmp_path, TRADEMATE_PUBLIC_URL=PUBLIC, TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
               TWILIO_AUTH_TOKEN=TEST_AUTH_TOKEN, TWILIO_FROM=BUSINESS_WHATSAPP, TWILIO_API_URL=fake_twilio.url,
               SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_SIGNING_SECRET="s3cret", SLACK_API_URL=fake_slack.url + "/api/",
               SLACK_CHANNEL="C0SALES001")
    proc = subprocess.Popen(_trademate("run", "--port", str(port)), cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "trademate run did not come up"
            time.sleep(0.1)
        form = inbound_form("Hello, price for 2000 pcs VF-500?", from_=BUYER_WHATSAPP, to=BUSINESS_WHATSAPP)
        headers = {"X-Twilio-Signature": sign_twilio(PUBLIC + "/twilio/messages", form, TEST_AUTH_TOKEN)}
        assert httpx.post(url + "/twilio/messages", data=form, headers=headers).status_code == 200
        card = fake_slack.wait_for("chat.postMessage", timeout=15).args
        assert card["channel"] == "C0SALES001" and "VF-500" in str(card["blocks"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert proc.returncode in (0, 130, -signal.SIGINT)


def test_run_refuses_incomplete_settings_with_every_problem_listed(tmp_path: Path) -> None:
    env = _env(tmp_path, TWILIO_ACCOUNT_SID="AC1", SLACK_BOT_TOKEN="xoxb-1")
    result = subprocess.run(_trademate("run"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    for needle in ("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM", "SLACK_SIGNING_SECRET", "SLACK_CHANNEL"):
        assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_auto_plays_every_message_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run(_trademate("demo", "--auto"), cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Demo over: 6 sent" in result.stdout
    assert result.stdout.count("receives:") == 6  # every reply reached the buyer's side
    assert "✓✓ delivered" in result.stdout


def test_demo_interactive_send_edit_discard(tmp_path: Path) -> None:
    answers = "s\ne\nThanks Jonas, a sample is on its way.\nd\nr\ns\nq\n"
    result = subprocess.run(_trademate("demo"), cwd=tmp_path, env=_env(tmp_path), input=answers,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Thanks Jonas, a sample is on its way." in result.stdout.split("receives:")[2]
    assert "Demo over: 3 sent (1 edited), 1 regenerated, 1 discarded." in result.stdout
