"""The digest through the real app: each rep's morning job in their own time zone, sent once a day,
`/digest` as a signed slash command with the chart uploaded to the fake Slack, `/stats`, the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot import cli
from bot.app import Runtime, build_runtime
from bot.digest import SHOW_CARD
from bot.models import Action, ButtonPress, CommandRequest, DecisionRequest, IncomingMessage
from bot.store import Store
from bot.web import create_web_app
from tests.digest_seed import DIGEST_AT, FixedClock, Seed, seed, write_team
from tests.fakes import FakeSlack, FakeTwilio
from tests.serving import serve, slack_command
from tests.test_e2e_spine import SECRET, settings_for

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Team:
    runtime: Runtime
    clock: FixedClock
    slack: FakeSlack
    seed: Seed

    def run_job(self, job_id: str) -> None:
        job = self.runtime.scheduler.job(job_id)
        assert job is not None, job_id
        asyncio.run(job())


@pytest.fixture
def team(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> Iterator[Team]:
    settings = settings_for(tmp_path, fake_slack, fake_twilio, trademate_team=str(write_team(tmp_path)))
    clock = FixedClock(DIGEST_AT)
    runtime = build_runtime(settings, clock=clock)
    ids = seed(runtime.store)
    yield Team(runtime, clock, fake_slack, ids)
    runtime.close()


def test_each_rep_has_a_morning_job_at_their_own_local_time(team: Team) -> None:
    scheduler = team.runtime.scheduler
    assert {"digest:Asha", "digest:Wei", "digest:Maria"} <= set(scheduler.job_ids())
    day = datetime(2026, 3, 10, tzinfo=UTC)
    assert scheduler.next_fire("digest:Asha", day) == DIGEST_AT  # 08:30 in Kolkata = 03:00 UTC
    assert scheduler.next_fire("digest:Wei", day) == day.replace(hour=10, minute=45)  # 07:45 in São Paulo
    assert scheduler.next_fire("digest:Maria", day) == day.replace(hour=7, minute=30)  # 08:30 CET
    summer = datetime(2026, 4, 1, tzinfo=UTC)
    assert scheduler.next_fire("digest:Maria", summer) == summer.replace(hour=6, minute=30)  # 08:30 CEST


def test_the_job_sends_that_reps_digest_with_its_chart_once_a_day(team: Team) -> None:
    team.run_job("digest:Asha")
    posts = team.slack.messages("C0ASHA0001")
    assert len(posts) == 1 and posts[0]["text"].startswith("*Good morning, Asha! Here is your day")
    assert "João" not in posts[0]["text"]
    uploads = team.slack.uploads()
    assert len(uploads) == 1 and uploads[0]["channel_id"] == "C0ASHA0001"
    assert uploads[0]["content"][:8] == PNG and uploads[0]["filename"] == "digest.png"

    team.clock.current = DIGEST_AT + timedelta(minutes=3)  # a restart re-runs the morning job
    team.run_job("digest:Asha")
    assert len(team.slack.messages("C0ASHA0001")) == 1 and len(team.slack.uploads()) == 1

    team.clock.current = DIGEST_AT + timedelta(days=1)
    team.run_job("digest:Asha")
    assert len(team.slack.messages("C0ASHA0001")) == 2


def test_the_manager_job_sends_the_team_version_to_the_managers_channel(team: Team) -> None:
    team.clock.current = datetime(2026, 3, 10, 7, 30, tzinfo=UTC)
    team.run_job("digest:Maria")
    (post,) = team.slack.messages("C0SALESMGR")
    assert "the team's day" in post["text"] and "[Wei]" in post["text"] and "[Asha]" in post["text"]
    buttons = [e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons and all(b["action_id"].startswith(f"tmb:{SHOW_CARD}:") for b in buttons)


def test_a_failed_send_is_not_recorded_so_a_later_run_retries(team: Team) -> None:
    team.slack.error_next("chat.postMessage", "channel_not_found")
    team.run_job("digest:Asha")
    assert team.runtime.store.db.execute("SELECT COUNT(*) FROM digest_sent").fetchone()[0] == 0
    team.run_job("digest:Asha")
    assert team.slack.messages("C0ASHA0001")[-1]["text"].startswith("*Good morning, Asha")


def test_slash_digest_posts_it_here_with_the_chart(team: Team) -> None:
    with serve(create_web_app(team.runtime)) as url:
        raw, headers = slack_command("/digest", "", SECRET, user="U0REP00001", channel="C0ASHA0001")
        resp = httpx.post(url + "/slack/events", content=raw, headers=headers, timeout=10)
        assert resp.status_code == 200
        note = team.slack.wait_for("chat.postEphemeral").args
        assert note["text"] == "Digest for Asha posted."
        (post,) = team.slack.messages("C0ASHA0001")
        assert "Cards waiting for a decision" in post["text"]
        team.slack.wait_for("files.completeUploadExternal")
        (upload,) = team.slack.uploads()
        assert upload["channel_id"] == "C0ASHA0001" and upload["content"][:8] == PNG

        raw, headers = slack_command("/digest", "Maria", SECRET, user="U0REP00001", channel="C0ASHA0001")
        httpx.post(url + "/slack/events", content=raw, headers=headers, timeout=10)
        refusal = team.slack.wait_for("chat.postEphemeral", count=2).args
        assert refusal["text"] == "Only a manager can see another rep's digest or numbers."


def test_stats_on_demand(team: Team) -> None:
    async def ask(args: str, user: str = "U0REP00001") -> str:
        reply = await team.runtime.inbox.command(CommandRequest("stats", args, user, "slack", "C0ASHA0001"))
        return reply.text

    week = asyncio.run(ask(""))
    assert week.startswith("*Numbers for Asha*") and "Buyer messages in: 2" in week
    month = asyncio.run(ask("30d"))
    assert "Buyer messages in: 4" in month and "Median time to reply: 20 min" in month
    assert "Drafts (30 days): 25% sent as written" in month
    assert asyncio.run(ask("team")) == "Only a manager can see the team's numbers."
    assert "Buyer messages in: 1" in asyncio.run(ask("7d Wei", user="U0MANAGER1"))
    assert "Numbers for the team" in asyncio.run(ask("30d team", user="U0MANAGER1"))
    assert asyncio.run(ask("7d Nobody", user="U0MANAGER1")).startswith("No rep called 'Nobody'")
    assert asyncio.run(ask("", user="U0STRANGER")).startswith("I don't know you yet")


def test_a_digest_button_brings_the_card_up_again(team: Team) -> None:
    press = ButtonPress(SHOW_CARD, str(team.seed.wei_draft), "U0REP00002", "slack", "C0WEI00001")
    asyncio.run(team.runtime.inbox.press(press))
    card = team.slack.messages()[-1]
    assert "Olá, preço?" in str(card["blocks"])
    card_ref = team.runtime.store.draft(team.seed.wei_draft).card_ref  # None before: the card never got out
    assert card_ref is not None and card_ref.startswith(card["channel"] + ":")


def test_cli_dry_run_prints_the_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    store = Store(str(db))
    seed(store, now=datetime.now(UTC))
    store.close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADEMATE_DB", str(db))
    monkeypatch.setenv("TRADEMATE_TEAM", str(write_team(tmp_path)))
    chart = tmp_path / "chart.png"
    assert cli.main(["digest", "--rep", "asha", "--dry-run", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*Good morning, Asha!") and "Lucía (+34612345678), waiting 22 h" in out
    assert "(https://slack.com/app_redirect?channel=C0ASHA0001" in out
    assert chart.read_bytes()[:8] == PNG
    assert cli.main(["digest", "--rep", "Nobody", "--dry-run"]) == 2
    assert "No rep called 'Nobody'" in capsys.readouterr().err


def test_numbers_follow_the_real_loop(team: Team, fake_twilio: FakeTwilio) -> None:
    """A buyer writes, the manager taps Send 12 minutes later: the team's numbers move accordingly."""
    rt = team.runtime

    async def loop() -> str:
        team.clock.current = DIGEST_AT + timedelta(hours=1)
        msg, _ = rt.inbox.receive(IncomingMessage("SMloop1", "whatsapp:+4915112345678", "Preis?", "whatsapp"))
        await rt.inbox.drain()
        (draft,) = rt.store.pending_drafts(msg.conversation_id)
        team.clock.current += timedelta(minutes=12)
        assert await rt.inbox.decide(DecisionRequest(draft.id, Action.SEND, "U0MANAGER1", "slack")) is None
        reply = await rt.inbox.command(CommandRequest("stats", "team", "U0MANAGER1", "slack", None))
        return reply.text

    text = asyncio.run(loop())
    assert len(fake_twilio.sent()) == 1
    assert "Buyer messages in: 4" in text and "Replies sent: 2" in text
    assert "Median time to reply: 21 min" in text  # Ravi's 30 min and this 12 min
    assert "• Maria: 100% sent as written (of 1)" in text
    assert "• Asha: 50% edited, 50% regenerated (of 2)" in text


def test_cli_sends_the_digest_through_the_configured_surface(tmp_path: Path, fake_slack: FakeSlack,
                                                             fake_twilio: FakeTwilio,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(tmp_path, fake_slack, fake_twilio, trademate_team=str(write_team(tmp_path)))
    store = Store(settings.trademate_db)
    seed(store, now=datetime.now(UTC))
    store.close()
    monkeypatch.chdir(tmp_path)
    for name, value in settings.model_dump().items():
        monkeypatch.setenv(name.upper(), str(value))
    assert cli.main(["digest", "--rep", "Wei"]) == 0
    (post,) = fake_slack.messages("C0WEI00001")
    assert post["text"].startswith("*Good morning, Wei!")
    assert fake_slack.uploads()[0]["channel_id"] == "C0WEI00001"


def test_a_digest_missed_by_a_downtime_is_caught_up_once(team: Team) -> None:
    team.clock.current = DIGEST_AT + timedelta(hours=1)  # 09:30 in Kolkata; the 08:30 job never ran
    assert "digest:catch-up" in team.runtime.scheduler.job_ids()
    team.run_job("digest:catch-up")  # Wei (00:00 in São Paulo) and Maria (05:00 in Madrid) are not due
    assert [m["channel"] for m in team.slack.messages()] == ["C0ASHA0001"]
    team.run_job("digest:catch-up")
    team.run_job("digest:Asha")
    assert len(team.slack.messages()) == 1
    team.clock.current = DIGEST_AT + timedelta(days=1, hours=4)  # too late to be worth sending
    team.run_job("digest:catch-up")
    assert len(team.slack.messages()) == 1
