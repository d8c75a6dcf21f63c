"""`trademate doctor` end to end: the CLI, real SDK clients, the fakes; all-ok exits 0, a broken setup 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main as cli_main
from tests.fakes import (
    BUSINESS_WHATSAPP,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeLLM,
    FakeSlack,
    FakeTelegram,
    FakeTwilio,
)
from tests.test_team_e2e import TEAM_YAML

PUBLIC = "https://trademate.example.com"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack, fake_twilio: FakeTwilio,
        fake_llm: FakeLLM, fake_telegram: FakeTelegram) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    team = tmp_path / "team.yaml"
    team.write_text(TEAM_YAML)
    fake_llm.default = lambda request: "ok"
    for name, value in {
        "TRADEMATE_DB": str(tmp_path / "t.db"), "TRADEMATE_PUBLIC_URL": PUBLIC, "TRADEMATE_TEAM": str(team),
        "TRADEMATE_MODEL": "openai:gpt-4o-mini", "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake_llm.url + "/v1",
        "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
        "TWILIO_FROM": BUSINESS_WHATSAPP, "TWILIO_API_URL": fake_twilio.url,
        "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": "s3cret", "SLACK_CHANNEL": "C0SALES001",
        "SLACK_API_URL": fake_slack.url + "/api/",
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": fake_telegram.url,
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_doctor_all_ok(env: pytest.MonkeyPatch, fake_slack: FakeSlack, fake_telegram: FakeTelegram,
                       fake_twilio: FakeTwilio, fake_llm: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    fake_slack.app_token = "xapp-1-A0TRADEAPP-doctor"
    env.setenv("SLACK_APP_TOKEN", fake_slack.app_token)
    assert cli_main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "All checks passed." in out
    for line in ("team file: 3 reps (1 manager(s)), 1 routing rule(s)", "slack auth.test: bot trademate",
                 "telegram getMe: bot @trademate_test_bot", "slack socket mode: SLACK_APP_TOKEN opens",
                 "twilio account", "language model: openai:gpt-4o-mini"):
        assert f"ok    {line}" in out, line
    checked = sorted(a["channel"] for a in fake_slack.args("conversations.info"))
    assert checked == ["C0ASHA0001", "C0BEN00001", "C0SALES001", "C0SALESMGR"]
    for url in ("/twilio/messages", "/twilio/status", "/slack/events", "/telegram/webhook"):
        assert PUBLIC + url in out
    assert fake_telegram.calls("/getMe") and fake_llm.completions()


def test_doctor_names_each_problem_and_exits_1(env: pytest.MonkeyPatch, fake_slack: FakeSlack,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("TWILIO_AUTH_TOKEN", "wrong-token")
    env.setenv("TELEGRAM_BOT_TOKEN", "123:not-the-token")
    fake_slack.error_next("conversations.info", "channel_not_found", times=1)
    assert cli_main(["doctor"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("FAIL  twilio account:") for line in lines)
    assert any(line.startswith("FAIL  telegram getMe:") and "TELEGRAM_BOT_TOKEN" in line for line in lines)
    assert "FAIL  slack channel C0SALES001 (SLACK_CHANNEL): Slack answered channel_not_found" in out
    assert "3 problem(s)." in out, [line for line in lines if line.startswith("FAIL")]


def test_doctor_reports_an_invalid_team_file(env: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad-team.yaml"
    bad.write_text("reps:\n  - name: A\n    role: boss\n")
    env.setenv("TRADEMATE_TEAM", str(bad))
    assert cli_main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  team file:" in out and "reps.0.role" in out
