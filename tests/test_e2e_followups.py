"""Follow-ups end to end: the real app under uvicorn, real slack-bolt/twilio/langchain clients against the
fakes, an injected clock. A quote with no reply produces a follow-up card once the clock passes its due
time; a buyer reply cancels the rest; an opted-out buyer is refused at send time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_runtime
from bot.models import Action
from bot.web import create_web_app
from tests.fakes import FakeLLM, FakeSlack, FakeTwilio
from tests.serving import eventually, serve
from tests.test_e2e_spine import LLM_ANSWER, App, _card_text, _update_saying, settings_for

FOLLOW_UP_ANSWER = {
    "buyer_language": "es",
    "translation": "",
    "intent": "follow_up",
    "reply": "Hola Lucía, ¿pudo revisar nuestra cotización? Quedo atento a cualquier duda.",
    "back_translation": "Hi Lucía, did you get a chance to review our quotation? Happy to answer any question.",
    "flags": [],
}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    prompt = json.dumps(request.get("messages", []), ensure_ascii=False)
    return FOLLOW_UP_ANSWER if "Instruction from the rep's playbook" in prompt else LLM_ANSWER


@pytest.fixture
def app(tmp_path: Path, fake_slack: FakeSlack, fake_twilio: FakeTwilio, fake_llm: FakeLLM,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[App, Clock]]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    fake_llm.default = _answer
    clock = Clock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))  # Monday; the buyer (+91) is in Asia/Kolkata
    settings = settings_for(tmp_path, fake_slack, fake_twilio, trademate_model="openai:gpt-4o-mini",
                            trademate_model_timeout=5, trademate_followup_tick=3600)
    runtime = build_runtime(settings, clock=clock)
    with serve(create_web_app(runtime)) as url:
        yield App(url, runtime, fake_slack, fake_twilio, fake_llm), clock
    runtime.close()


def _tick(app: App) -> None:
    """Run the registered follow-up job now, on the server's loop, and wait for it to finish."""
    runner = app.runtime.followups
    assert runner is not None
    before = runner.ticks
    app.runtime.scheduler.run_soon("followups")
    eventually(lambda: runner.ticks > before, what="a follow-up tick")


def _write(app: App, sql: str, params: list[Any]) -> None:
    import sqlite3

    conn = sqlite3.connect(app.runtime.settings.trademate_db)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def test_a_quote_without_reply_gets_a_follow_up_card_and_a_reply_cancels_the_rest(app: tuple[App, Clock]) -> None:
    a, clock = app
    a.buyer_writes("Hola, ¿precio del termo de 500 ml para 1000 unidades?", profile_name="Lucía")
    a.slack.wait_for("chat.postMessage", timeout=30)  # the first draft of a process loads language models
    a.tap(Action.SEND, a.card(1))
    a.twilio.wait_for("/Messages.json")
    clock.t += timedelta(minutes=5)
    _write(a, "UPDATE conversations SET stage = 'quoted', stage_changed_at = ?", [clock.t.isoformat()])
    _tick(a)
    assert a.db("SELECT playbook, state FROM enrollments WHERE playbook = 'quote_no_reply'") == [
        ("quote_no_reply", "active")]
    assert len(a.slack.calls("chat.postMessage")) == 1

    clock.t = datetime(2026, 3, 5, 10, 6, tzinfo=UTC)  # Thursday 15:36 in Kolkata: three business days on
    _tick(a)
    card = a.card(2)
    text = _card_text(card)
    assert FOLLOW_UP_ANSWER["reply"] in text and "Follow-up 1/3: Quote sent, no reply." in text
    prompt = a.llm.last_prompt_text()
    assert "There is no new buyer message" in prompt and "check-in on the quotation" in prompt
    assert LLM_ANSWER["reply"] in prompt  # the rep's quote is part of the history the follow-up builds on
    assert len(a.twilio.sent()) == 1  # step autonomy is approve: nothing went out by itself

    a.buyer_writes("Gracias, lo estamos revisando", profile_name="Lucía")
    a.card(3)
    eventually(lambda: a.db("SELECT f.step, f.state FROM follow_ups f JOIN enrollments e ON e.id = f.enrollment_id "
                            "WHERE e.playbook = 'quote_no_reply' ORDER BY f.step") ==
               [(0, "presented"), (1, "cancelled"), (2, "cancelled")], what="the rest cancelled")
    clock.t += timedelta(days=30)
    _tick(a)
    assert not any("Follow-up" in _card_text(c) for c in a.slack.args("chat.postMessage")[3:])
    assert len(a.twilio.sent()) == 1


def test_an_opted_out_buyer_is_never_messaged_and_the_rep_is_told(app: tuple[App, Clock]) -> None:
    a, _ = app
    a.buyer_writes("Hola, ¿precio?", profile_name="Lucía")
    a.slack.wait_for("chat.postMessage", timeout=30)
    a.buyer_writes("BAJA", profile_name="Lucía")
    notice = a.slack.wait_for(lambda r: r.path.endswith("chat.postMessage") and "opted out" in r.args.get("text", ""))
    assert "Lucía" in notice.args["text"] and "will not message them again" in notice.args["text"]
    stop_card = a.card(3)  # after the first card and the notice
    assert "BAJA" in _card_text(stop_card)
    a.tap(Action.SEND, stop_card)
    a.slack.wait_for(_update_saying("opted out"))
    assert a.twilio.sent() == []
    assert a.db("SELECT state FROM outbox") == [("refused",)]
