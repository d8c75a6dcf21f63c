"""/analyze and /pipeline: the bounded conversation view, the rule-based reading, and the whole
path through the real app (signed Slack slash command, fake OpenAI server, approval card, send)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bot import store_intel
from bot.analysis import build_messages, prompt_tokens, render, rule_analysis
from bot.analysis_context import NOTES_TOKENS, TOKEN_BUDGET, conversation_view, estimate_tokens, note_for
from bot.catalog import load_catalog
from bot.config import DEFAULT_CATALOG
from bot.models import Action, CommandRequest, IncomingMessage
from bot.phones import phone_info
from bot.store import Store
from handlers.analysis import analyze_command
from tests.fakes import BUYER_WHATSAPP
from tests.serving import slack_command
from tests.test_e2e_spine import SECRET, App, _card_text, app  # noqa: F401 (fixture)
from tests.test_learning import buyer_says, services

CATALOG = load_catalog(DEFAULT_CATALOG)
BUYER_LINES = [
    "Hola, ¿cuál es el precio del termo de 500 ml para 1000 unidades?",
    "Necesitamos el logo grabado en láser, ¿es posible?",
    "El precio me parece caro, otro proveedor nos ofrece 3.50 USD.",
    "¿Cuánto tarda la producción de 5000 unidades?",
    "Perfecto, gracias.",
    "¿Pueden enviar muestras a Madrid?",
]
REP_LINES = [
    "Hola Lucía, el VF-500 cuesta 3.80 USD desde 1000 pcs.",
    "Sí, le enviaré el diseño del logo mañana.",
    "Entendido, lo consulto con fábrica.",
    "La producción tarda 25 días.",
]


def fill(store: Store, n: int, *, address: str = BUYER_WHATSAPP, start: datetime | None = None,
         buyer_lines: list[str] = BUYER_LINES, name: str = "Lucía", offset: int = 0) -> int:
    """`n` alternating messages (buyer first); returns the conversation id."""
    start = start or datetime.now(UTC) - timedelta(minutes=n + 5)
    store.db.execute("PRAGMA synchronous = OFF")  # test data only: no fsync per message
    conv = contact_id = 0
    for i in range(n):
        at = start + timedelta(minutes=i)
        if i % 2 == 0:
            body = buyer_lines[(i // 2) % len(buyer_lines)]
            message, _ = store.add_inbound(IncomingMessage(f"SMfill{offset + i}", address, body, "whatsapp", name),
                                           phone_info(address), at)
            conv, contact_id = message.conversation_id, message.contact_id
            store.db.execute("UPDATE messages SET needs_draft = 0 WHERE id = ?", [message.id])
        else:
            store.add_outbound_message(conv, contact_id, REP_LINES[(i // 2) % len(REP_LINES)],
                                       f"SMout{offset + i}", at)
    return conv


# --- the bounded view --------------------------------------------------------------------------


def test_500_messages_fit_the_budget_and_the_summary_is_refreshed_incrementally(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "t.db"))
    conv = fill(store, 500)
    now = datetime.now(UTC)
    view = conversation_view(store, conv, now)
    assert view.total == 500 and 0 < len(view.window) <= 30
    assert view.summary.folded == 500 - len(view.window)
    messages = build_messages(view, CATALOG, buyer="Lucía", stage="quoted", score=None, buyer_language="es",
                              rep_language="en")
    assert prompt_tokens(messages) <= TOKEN_BUDGET
    text = "\n".join(str(m.content) for m in messages)
    assert BUYER_LINES[0][:40] in text  # older questions survive as notes
    folded_messages = store.history(conv, view.window[0].id, 1000)
    notable = [n for n in map(note_for, folded_messages) if n]
    assert view.summary.notes == notable[-len(view.summary.notes):]  # the newest notes are kept
    assert view.summary.dropped == len(notable) - len(view.summary.notes) > 0
    assert estimate_tokens("\n".join(view.summary.notes)) <= NOTES_TOKENS
    stored = store_intel.load_summary(store, conv)
    assert stored.upto_message_id == view.window[0].id - 1 and stored.folded == view.summary.folded

    again = conversation_view(store, conv, now)  # nothing new: nothing folded again
    assert again.summary.folded == view.summary.folded and again.window == view.window

    fill(store, 40, start=now, offset=1000)
    later = conversation_view(store, conv, now)
    assert later.total == 540
    assert later.summary.folded > view.summary.folded and later.summary.upto_message_id > stored.upto_message_id
    store.close()


def test_very_long_non_latin_messages_stay_bounded(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "t.db"))
    conv = fill(store, 120, buyer_lines=["我们需要3000个保温杯，请报价？" * 80])
    view = conversation_view(store, conv, datetime.now(UTC))
    messages = build_messages(view, CATALOG, buyer="王", stage="new", score=None, buyer_language="zh",
                              rep_language="en")
    assert prompt_tokens(messages) <= TOKEN_BUDGET
    store.close()


def test_token_estimate_is_conservative_for_non_ascii() -> None:
    assert estimate_tokens("abcd" * 100) == 100
    assert estimate_tokens("保温杯") == 3


# --- without a model ---------------------------------------------------------------------------


async def test_rule_based_analysis_is_honest_and_finds_the_unanswered_question(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "t.db"))
    svc = services(store)
    await buyer_says(svc, "whatsapp:+34600000001", "Hola, precio del VF-500 para 2000 unidades?", name="Ana")
    await buyer_says(svc, "whatsapp:+34600000001", "Es un poco caro. ¿Hay descuento?", name="Ana")
    cards_before = len(svc.surface.shown)  # type: ignore[attr-defined]
    reply = await analyze_command(svc, CommandRequest("analyze", "Ana", "cli", "cli"))
    assert "rule-based" in reply.text and "No language model is configured" in reply.text
    assert "asked for prices" in reply.text and "2,000" in reply.text and "VF-500" in reply.text
    assert "numbers the buyer mentioned: 2000 unidades" in reply.text
    assert "price seems high" in reply.text and "asks for a discount" in reply.text
    assert "Answer the buyer's last question" in reply.text and "descuento" in reply.text
    # the reply draft went to the approval surface; the earlier pending card was superseded
    assert len(svc.surface.shown) == cards_before + 1  # type: ignore[attr-defined]
    pending = store.pending_drafts()
    assert len(pending) == 1 and pending[0].version == 2
    history = store.history(pending[0].conversation_id, 10**9, 10)
    analysis = rule_analysis(history, CATALOG)
    assert analysis.source == "rules" and analysis.reply is None
    store.close()


async def test_unknown_or_ambiguous_buyers_get_a_plain_answer(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "t.db"))
    svc = services(store)
    await buyer_says(svc, "whatsapp:+34600000001", "Hola", name="Ana Ruiz")
    await buyer_says(svc, "whatsapp:+34600000002", "Hola", name="Ana Gil")
    from handlers.commands import run_command

    for args, words in (("", "Usage"), ("Zoe", "No buyer matches"), ("Ana", "matches 2 buyers"),
                        ("#99", "no conversation #99")):
        reply = await run_command(svc, CommandRequest("analyze", args, "cli", "cli"))
        assert words in reply.text and reply.ephemeral
    by_phone = await run_command(svc, CommandRequest("analyze", "+34 600 000 002", "cli", "cli"))
    assert "Ana Gil" in by_phone.text
    store.close()


# --- through the real app ----------------------------------------------------------------------

ANALYSIS = {
    "needs": ["3000 pcs VF-500 with laser logo", "delivery to Valencia"],
    "objections": ["price seems high against another supplier at 3.50 USD"],
    "promises": [{"by": "rep", "what": "send the logo design mockup tomorrow"}],
    "open_questions": ["Can samples be sent to Madrid?"],
    "next_move": "Send the logo mockup and offer the 5000 pcs tier.",
    "summary": "Lucía wants VF-500 flasks with a logo; finds the price high.",
    "reply": "Hola Lucía, le envío hoy la maqueta del logo y podemos enviar muestras a Madrid.",
    "reply_language": "es",
    "back_translation": "Hello Lucía, I am sending the logo mockup today and we can send samples to Madrid.",
    "latest_translation": "Can you send samples to Madrid?",
}


def _slash(app: App, command: str, text: str) -> httpx.Response:  # noqa: F811 (app: the fixture's type)
    raw, headers = slack_command(command, text, SECRET)
    return httpx.post(app.url + "/slack/events", content=raw, headers=headers, timeout=10)


def test_analyze_a_500_message_conversation_end_to_end(app: App) -> None:  # noqa: F811
    conv = fill(app.runtime.store, 500)
    app.llm.reply_json(ANALYSIS)
    resp = _slash(app, "/analyze", "Lucía")
    assert resp.status_code == 200

    note = app.slack.wait_for("chat.postEphemeral").args
    assert "Deal analysis" in note["text"] and "language model" in note["text"]
    for words in ("3000 pcs VF-500 with laser logo", "rep: send the logo design mockup tomorrow",
                  "Can samples be sent to Madrid?", "offer the 5000 pcs tier", "Read 500 messages"):
        assert words in note["text"]

    # one structured model call, bounded however long the conversation is
    (call,) = app.llm.completions()
    assert call["response_format"]["type"] == "json_schema"
    assert call["response_format"]["json_schema"]["name"] == "AnalysisOutput"
    prompt = app.llm.last_prompt_text()
    assert estimate_tokens(prompt) <= TOKEN_BUDGET and len(prompt) / 4 <= TOKEN_BUDGET
    # even with the JSON schema of the answer and the message framing, the request stays in bound
    whole = json.dumps(call["messages"], ensure_ascii=False) + json.dumps(call["response_format"])
    assert estimate_tokens(whole) <= TOKEN_BUDGET, estimate_tokens(whole)
    assert call["temperature"] == 0
    assert "Older messages (" in prompt and "VF-500" in prompt

    # the reply draft is on the usual approval card, and Send sends it once
    card = app.card()
    assert ANALYSIS["reply"] in _card_text(card) and "Next move" in _card_text(card)
    assert "lead" in _card_text(card).lower()
    summary = app.db(f"SELECT folded, model_summary FROM conversation_summaries WHERE conversation_id = {conv}")
    assert summary[0][0] > 400 and summary[0][1] == ANALYSIS["summary"]
    assert app.tap(Action.SEND, card).status_code == 200
    assert app.twilio.wait_for("/Messages.json").form["Body"] == ANALYSIS["reply"]
    assert app.db("SELECT outcome FROM draft_outcomes") == [("sent_unedited",)]


def test_analyze_falls_back_to_rules_when_the_model_fails(app: App) -> None:  # noqa: F811
    fill(app.runtime.store, 20)
    app.llm.fail_next(status=500, times=3)
    _slash(app, "/analyze", "Lucía")
    note = app.slack.wait_for("chat.postEphemeral").args
    assert "rule-based" in note["text"] and "The language model failed" in note["text"]
    app.card()  # a reply draft is still put in front of the rep


def test_pipeline_lists_buyers_by_stage_with_their_scores(app: App) -> None:  # noqa: F811
    store = app.runtime.store
    fill(store, 6)
    fill(store, 2, address="whatsapp:+34600000009", name="Pedro", buyer_lines=["Hola"], offset=100,
         start=datetime.now(UTC) - timedelta(days=40))
    store.db.execute("UPDATE conversations SET stage = 'quoted' WHERE id = 1")
    _slash(app, "/pipeline", "")
    text = app.slack.wait_for("chat.postEphemeral").args["text"]
    assert "*Quoted* (1)" in text and "*New* (1)" in text
    assert text.index("Lucía") < text.index("Pedro")
    assert "hot" in text.split("Lucía")[1].split("\n")[0]
    assert "silent for 40 days" in text


def test_pipeline_needs_a_team_member(tmp_path: Path) -> None:
    import asyncio

    from bot.team import Rep, Team

    store = Store(str(tmp_path / "t.db"))
    svc = services(store)
    ana = Rep("ana", "rep", "U0ANA", None, None, None, ("es",), "UTC", *(datetime.now().time(),) * 3)
    svc.team = Team(reps=(ana,))
    stranger = asyncio.run(_run(svc, CommandRequest("pipeline", "", "U0NOBODY", "slack")))
    assert "not in the team file" in stranger
    fill(store, 2, name="Lucía")
    fill(store, 2, address="whatsapp:+34600000009", name="Pedro", offset=100)
    store.db.execute("UPDATE conversations SET owner = 'ana' WHERE id = 1")
    mine = asyncio.run(_run(svc, CommandRequest("pipeline", "", "U0ANA", "slack")))
    assert "ana's buyers" in mine and "Lucía" in mine and "Pedro" not in mine
    store.close()


async def _run(svc: object, req: CommandRequest) -> str:
    from handlers.commands import run_command

    return (await run_command(svc, req)).text  # type: ignore[arg-type]


def test_render_says_when_nothing_was_found() -> None:
    analysis = rule_analysis([], CATALOG)
    text = render(analysis, who="Ana", score=None, total=0, folded=0, draft_ref=None)
    assert text.count("none found") == 4



def test_buyer_text_in_a_command_reply_cannot_become_markup() -> None:
    from bot.models import Message

    at = datetime(2026, 11, 25, tzinfo=UTC)
    sneaky = Message(1, 1, 1, "in", "<!channel> <https://evil.test|price list>?", at)
    text = render(rule_analysis([sneaky], CATALOG), who="<!here> Bob", score=None, total=1, folded=0,
                  draft_ref=None)
    assert "<" not in text and ">" not in text and "‹!channel›" in text


async def test_analyze_with_a_team_is_for_the_owner_and_managers(tmp_path: Path) -> None:
    from handlers.commands import run_command

    store = Store(str(tmp_path / "t.db"))
    svc = services(store)
    await buyer_says(svc, "whatsapp:+34600000001", "Hola, ¿precio?", name="Ana", owner="ana")

    async def as_user(user: str) -> str:
        return (await run_command(svc, CommandRequest("analyze", "Ana", user, "slack"))).text

    assert "Deal analysis" in await as_user("U0ANA")
    assert "ana's buyer" in await as_user("U0BEN")
    assert "not in the team file" in await as_user("U0NOBODY")
    store.close()
