"""The team end to end: the real app with a team file, real Slack signatures, the fakes.

Who owns a new buyer (country rule, round-robin across a restart), /assign and its permissions,
owner-or-manager decisions with an ephemeral refusal for anyone else, the owner's language in
the drafting prompt, and `trademate audit`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import store_team
from bot.app import Runtime, build_runtime
from bot.cli import main as cli_main
from bot.models import Action, IncomingMessage
from bot.web import create_web_app
from tests.fakes import BUSINESS_WHATSAPP, BUYER_WHATSAPP, FakeLLM, FakeSlack, FakeTwilio, inbound_form, sign_twilio
from tests.serving import eventually, serve, slack_command, slack_signed
from tests.test_e2e_spine import LLM_ANSWER, PAYLOADS, PUBLIC, SECRET, _button_value, settings_for

ASHA, BEN, MARIA, STRANGER = "U0REP00001", "U0REP00002", "U0MANAGER1", "U0NOTINTEAM"
ASHA_CH, BEN_CH, MARIA_CH = "C0ASHA0001", "C0BEN00001", "C0SALESMGR"
BUYER_ES = "whatsapp:+34612345678"
BUYER_DE = "whatsapp:+4915112345678"
BUYER_FR = "whatsapp:+33612345678"
BUYER_US = "whatsapp:+14155550123"

TEAM_YAML = f"""
reps:
  - name: Asha
    slack_user: {ASHA}
    slack_channel: {ASHA_CH}
    languages: [en, hi]
  - name: Ben
    slack_user: {BEN}
    slack_channel: {BEN_CH}
    languages: [fr, en]
  - name: Maria
    role: manager
    slack_user: {MARIA}
    slack_channel: {MARIA_CH}
    languages: [es]
routing:
  - countries: [ES, MX]
    rep: Maria
"""


@dataclass
class TeamApp:
    url: str
    runtime: Runtime
    slack: FakeSlack
    twilio: FakeTwilio
    llm: FakeLLM

    def buyer_writes(self, body: str, buyer: str = BUYER_WHATSAPP, name: str = "Omar Haddad") -> None:
        form = inbound_form(body, from_=buyer, to=BUSINESS_WHATSAPP, profile_name=name)
        sig = sign_twilio(PUBLIC + "/twilio/messages", form)
        resp = httpx.post(self.url + "/twilio/messages", data=form, headers={"X-Twilio-Signature": sig})
        assert resp.status_code == 200

    def card(self, channel: str) -> dict[str, Any]:
        eventually(lambda: bool(self.slack.messages(channel)), what=f"a card in {channel}")
        return self.slack.messages(channel)[-1]

    def tap(self, action: Action, card: dict[str, Any], user: str) -> None:
        payload = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
        payload["user"]["id"] = user
        payload["actions"][0].update(action_id=f"tm_{action.value}", value=_button_value(card["blocks"],
                                                                                        f"tm_{action.value}"))
        payload["channel"]["id"] = payload["container"]["channel_id"] = card["channel"]
        raw, headers = slack_signed(payload, SECRET)
        assert httpx.post(self.url + "/slack/events", content=raw, headers=headers).status_code == 200

    def command(self, text: str, user: str) -> dict[str, Any]:
        before = len(self.slack.calls("chat.postEphemeral"))
        raw, headers = slack_command("/assign", text, SECRET, user=user)
        assert httpx.post(self.url + "/slack/events", content=raw, headers=headers).status_code == 200
        self.slack.wait_for("chat.postEphemeral", count=before + 1)
        return self.slack.args("chat.postEphemeral")[before]

    def owner(self, buyer: str) -> str | None:
        (cid, _), = store_team.find_buyers(self.runtime.store, buyer.removeprefix("whatsapp:"))
        return store_team.owner(self.runtime.store, cid)


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM_YAML)
    return path


@pytest.fixture
def app(tmp_path: Path, team_file: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio, fake_llm: FakeLLM,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[TeamApp]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    fake_llm.default = lambda request: LLM_ANSWER
    settings = settings_for(tmp_path, fake_slack, fake_twilio, trademate_model="openai:gpt-4o-mini",
                            trademate_model_timeout=5, trademate_team=str(team_file))
    runtime = build_runtime(settings)
    with serve(create_web_app(runtime)) as url:
        yield TeamApp(url, runtime, fake_slack, fake_twilio, fake_llm)
    runtime.close()


def test_new_buyers_follow_the_country_rule_then_round_robin_across_a_restart(
        tmp_path: Path, team_file: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> None:
    settings = settings_for(tmp_path, fake_slack, fake_twilio, trademate_team=str(team_file))

    def receive(runtime: Runtime, buyers: list[str], start: int) -> None:
        async def go() -> None:
            for n, buyer in enumerate(buyers, start):
                runtime.inbox.receive(IncomingMessage(f"SMteam{n}", buyer, "Hello, price please?", "whatsapp"))
                await runtime.inbox.drain()
        asyncio.run(go())

    first = build_runtime(settings)
    receive(first, [BUYER_WHATSAPP, BUYER_ES, BUYER_DE, BUYER_WHATSAPP], 0)  # IN, ES (rule), DE, IN again
    first.close()
    second = build_runtime(settings)
    receive(second, [BUYER_FR, BUYER_US, BUYER_ES], 10)
    owners = dict(second.store.db.execute(
        "SELECT contacts.phone, conversations.owner FROM conversations JOIN contacts "
        "ON contacts.id = conversations.contact_id").fetchall())
    assert owners == {"+919876543210": "Asha", "+34612345678": "Maria", "+4915112345678": "Ben",
                      "+33612345678": "Asha", "+14155550123": "Ben"}
    assert store_team.cursor(second.store) == 4  # the ES rule and repeat messages did not move it
    second.close()
    # Each card went to its owner's channel.
    assert [m["channel"] for m in fake_slack.messages()] == [ASHA_CH, MARIA_CH, BEN_CH, ASHA_CH, ASHA_CH, BEN_CH,
                                                            MARIA_CH]


def test_non_owner_tap_is_refused_privately_and_nothing_is_sent(app: TeamApp) -> None:
    app.buyer_writes("Hola, ¿precio del termo?")
    card = app.card(ASHA_CH)
    for intruder in (BEN, STRANGER):
        app.tap(Action.SEND, card, intruder)
        note = app.slack.wait_for(lambda r, u=intruder: r.path.endswith("chat.postEphemeral")
                                  and r.args.get("user") == u).args
        assert "Asha" in note["text"] and "Nothing was sent" in note["text"]
        assert note["channel"] == ASHA_CH
    assert ":bust_in_silhouette: Asha" in json.dumps(card["blocks"], ensure_ascii=False)
    app.tap(Action.DISCARD, card, BEN)
    eventually(lambda: len(app.slack.calls("chat.postEphemeral")) == 3, what="third refusal")
    app.tap(Action.EDIT, card, BEN)  # refused before an editor opens
    eventually(lambda: len(app.slack.calls("chat.postEphemeral")) == 4, what="refusal of Edit")
    assert "only Asha or a manager" in app.slack.args("chat.postEphemeral")[-1]["text"]
    assert app.slack.calls("views.open") == []
    assert app.twilio.sent() == []
    assert app.runtime.store.pending_drafts() and app.runtime.store.decisions(
        app.runtime.services.clock.now().replace(year=2000)) == []

    app.tap(Action.EDIT, card, ASHA)  # the owner gets the editor
    app.slack.wait_for("views.open")
    app.tap(Action.SEND, card, ASHA)  # the owner may
    assert app.twilio.wait_for("/Messages.json").form["Body"] == LLM_ANSWER["reply"]
    decision = app.runtime.store.last_decision(int(_button_value(card["blocks"], "tm_send")))
    assert decision is not None and decision.actor == ASHA


def test_a_manager_may_decide_on_any_card(app: TeamApp) -> None:
    app.buyer_writes("Hello, MOQ for the 1L flask?", buyer=BUYER_DE)
    card = app.card(ASHA_CH)  # Asha's buyer (first in the round-robin)
    app.tap(Action.SEND, card, MARIA)
    app.twilio.wait_for("/Messages.json")
    eventually(lambda: app.runtime.store.outbound_for_draft(1) is not None, what="outbox row")
    assert len(app.twilio.sent()) == 1
    assert app.slack.calls("chat.postEphemeral") == []


def test_assign_moves_a_buyer_only_for_owner_or_manager_and_tells_both(app: TeamApp) -> None:
    app.buyer_writes("Hello", name="Lucía Gómez")
    app.card(ASHA_CH)
    assert app.owner(BUYER_WHATSAPP) == "Asha"

    refused = app.command("+91 98765 43210 Ben", BEN)
    assert "Only Asha" in refused["text"] and app.owner(BUYER_WHATSAPP) == "Asha"
    assert "No rep called" in app.command("lucía Nobody", ASHA)["text"]
    assert "No buyer matches" in app.command("+15550000000 Ben", ASHA)["text"]

    done = app.command("lucía Ben", ASHA)  # by name, case-insensitive, by the owner
    assert "now belongs to Ben" in done["text"] and app.owner(BUYER_WHATSAPP) == "Ben"
    told = {m["channel"]: m["text"] for m in app.slack.messages() if m["channel"] in (ASHA, BEN)}
    assert "moved from you to Ben" in told[ASHA] and "is now yours" in told[BEN]

    (cid, _), = store_team.find_buyers(app.runtime.store, "+919876543210")
    assert "now belongs to Asha" in app.command(f"#{cid} <@{ASHA}|asha>", MARIA)["text"]  # a manager, by id
    assert app.owner(BUYER_WHATSAPP) == "Asha"

    app.buyer_writes("Are you there?")  # the next card goes to the new owner's channel
    eventually(lambda: len(app.slack.messages(ASHA_CH)) == 2, what="second card to Asha")


def test_owner_language_reaches_the_drafting_prompt(app: TeamApp) -> None:
    app.buyer_writes("Hello, MOQ for the 1L flask?", buyer=BUYER_DE)  # round-robin: Asha first
    app.card(ASHA_CH)
    assert "in English (en)" in app.llm.last_prompt_text()
    app.buyer_writes("Hello, price of the 500 ml flask?", buyer=BUYER_FR)  # Ben reads French
    app.card(BEN_CH)
    prompt = app.llm.last_prompt_text()
    assert "in French (fr)" in prompt and "in English (en)" not in prompt


def test_audit_prints_who_decided_what_and_the_edit(app: TeamApp, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    app.buyer_writes("Hola", name="Carlos Ruiz", buyer=BUYER_ES)
    card = app.card(MARIA_CH)
    draft_id = _button_value(card["blocks"], "tm_edit")
    submission = json.loads((PAYLOADS / "slack_view_submission.json").read_text())
    submission["user"]["id"] = MARIA
    submission["view"]["private_metadata"] = draft_id
    block = next(iter(submission["view"]["state"]["values"].values()))
    edited = LLM_ANSWER["reply"].replace("3.80 USD", "3.60 USD") + " Saludos."
    next(iter(block.values()))["value"] = edited
    raw, headers = slack_signed(submission, SECRET)
    assert httpx.post(app.url + "/slack/events", content=raw, headers=headers).status_code == 200
    assert app.twilio.wait_for("/Messages.json").form["Body"] == edited

    app.buyer_writes("Hello", buyer=BUYER_DE, name="Jonas")
    app.tap(Action.DISCARD, app.card(ASHA_CH), ASHA)
    eventually(lambda: len(app.runtime.store.decisions(app.runtime.services.clock.now().replace(year=2000))) == 2,
               what="two decisions")

    monkeypatch.chdir(Path(app.runtime.settings.trademate_db).parent)  # no stray .env
    monkeypatch.setenv("TRADEMATE_DB", app.runtime.settings.trademate_db)
    monkeypatch.setenv("TRADEMATE_TEAM", app.runtime.settings.trademate_team)
    assert cli_main(["audit", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    assert "Decisions since" in out and ": 2" in out.splitlines()[0]
    maria_line = next(line for line in out.splitlines() if line.split()[2:3] == ["Maria"])
    assert "slack" in maria_line and "edit" in maria_line and "Carlos Ruiz" in maria_line
    assert "chars" in maria_line
    asha_line = next(line for line in out.splitlines() if line.split()[2:3] == ["Asha"])
    assert "discard" in asha_line and "Jonas" in asha_line
    assert "[-3.80-] {+3.60+}" in out and "{+Saludos.+}" in out

    assert cli_main(["audit", "--since", "2999-01-01"]) == 0
    assert ": 0" in capsys.readouterr().out
    assert cli_main(["audit", "--since", "last tuesday"]) == 2
    assert "--since" in capsys.readouterr().err
