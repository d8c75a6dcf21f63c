"""Lead scoring rules: each rule moves the score and leaves a reason the rep can read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.scoring import LeadFacts, QuantityAsk, quantities, score_lead

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def facts(**kw: object) -> LeadFacts:
    values: dict[str, object] = {"now": NOW, "stage": "new", "last_buyer_at": NOW - timedelta(hours=3)}
    values.update(kw)
    return LeadFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("Price for 1,000 pcs of VF-500?", [1000]),
    ("necesito 5.000 unidades", [5000]),
    ("2k units and 2.5k pcs", [2000, 2500]),
    ("我们需要3000个保温杯", [3000]),
    ("Do you have 12 colors? 500 ml", []),
    ("200 Stück bitte", [200]),
])
def test_quantities_need_a_unit(text: str, expected: list[int]) -> None:
    assert quantities(text) == expected


def test_recent_order_intent_and_big_quantity_is_hot_with_reasons() -> None:
    score = score_lead(facts(intents=("greeting", "order"), asks=(QuantityAsk(5000, "VF-500", 500),)))
    assert score.label == "hot"
    assert "wrote today" in score.reasons
    assert "wants to order" in score.reasons
    assert any("5,000 units of VF-500, 10× the MOQ of 500" in r for r in score.reasons)


def test_price_question_this_week_is_warm() -> None:
    score = score_lead(facts(last_buyer_at=NOW - timedelta(days=4), intents=("price_inquiry",)))
    assert (score.label, score.points) == ("warm", 3)
    assert score.reasons == ("last wrote 4 days ago", "asked for prices")


def test_long_silence_and_small_talk_is_cold() -> None:
    score = score_lead(facts(last_buyer_at=NOW - timedelta(days=40), intents=("greeting", "other")))
    assert score.label == "cold"
    assert score.reasons == ("silent for 40 days",)


def test_quantity_under_moq_counts_against_the_lead() -> None:
    under = score_lead(facts(intents=("price_inquiry",), asks=(QuantityAsk(100, "VF-500", 500),)))
    at = score_lead(facts(intents=("price_inquiry",), asks=(QuantityAsk(600, "VF-500", 500),)))
    assert under.points == at.points - 2
    assert any("under the MOQ of 500" in r for r in under.reasons)


def test_stage_adds_points_and_a_lost_deal_is_cold_whatever_else() -> None:
    base = score_lead(facts(intents=("price_inquiry",)))
    negotiating = score_lead(facts(stage="negotiating", intents=("price_inquiry",)))
    assert negotiating.points == base.points + 2 and "stage: negotiating" in negotiating.reasons
    lost = score_lead(facts(stage="lost", intents=("order",), asks=(QuantityAsk(9000, None, 500),)))
    assert lost.label == "cold" and lost.reasons[0] == "stage: lost"


def test_company_signals_only_when_a_background_check_exists() -> None:
    without = score_lead(facts(intents=("order",)))
    assert not any("background check" in r for r in without.reasons)
    risky = score_lead(facts(intents=("order",), company_flags=("new domain", "free mail")))
    assert risky.points == without.points - 2
    assert "background check: new domain, free mail" in risky.reasons
    clean = score_lead(facts(intents=("order",), company_flags=(), company_ok=("website answers",)))
    assert clean.points == without.points + 1


def test_no_buyer_message_yet() -> None:
    score = score_lead(facts(last_buyer_at=None))
    assert score.label == "cold" and "no buyer message yet" in score.reasons


def test_score_is_rendered_on_slack_and_console_cards() -> None:
    from bot.surfaces import console, slack_blocks
    from tests.test_slack_surface import make_card

    card = make_card(score="hot", score_reasons=("wrote today", "asks 5,000 units <b>"))
    _, blocks = slack_blocks.render_card(card)
    shown = json.dumps(blocks, ensure_ascii=False)
    assert ":fire: Hot lead" in shown and "wrote today; asks 5,000 units &lt;b&gt;" in shown
    assert "lead:       hot (wrote today; asks 5,000 units <b>)" in console.render_card(card)
    _, plain = slack_blocks.render_card(make_card())
    assert "lead*" not in json.dumps(plain)


def test_company_signals_come_from_the_bgcheck_cache_only_when_it_exists(tmp_path: Path) -> None:
    from bot import migrations
    from bot.catalog import load_catalog
    from bot.config import DEFAULT_CATALOG
    from bot.leads import score_conversation
    from bot.models import IncomingMessage
    from bot.phones import phone_info
    from bot.services import Services
    from bot.store import Store
    from bot.store_background import save_report

    store = Store(str(tmp_path / "t.db"))
    address = "whatsapp:+34612345678"
    message, _ = store.add_inbound(IncomingMessage("SM1", address, "I want to order 5000 pcs of VF-500", "whatsapp"),
                                   phone_info(address), NOW)
    svc = Services(store=store, drafter=None, surface=None, channel=None,  # type: ignore[arg-type]
                   catalog=load_catalog(DEFAULT_CATALOG))
    before = score_conversation(svc, message.conversation_id)
    assert before is not None and not any("background" in r for r in before.reasons)
    store.db.execute("DROP TABLE bgcheck_cache")  # a database without /bgcheck: the signal is left out
    assert score_conversation(svc, message.conversation_id) == before
    migrations.m_bgcheck_cache(store.db)
    # The shape /bgcheck stores: Report.as_json() under the key "<kind>:<value>|<company>|<country>".
    report = {"target": "+34612345678", "kind": "buyer", "level": "medium",
              "flags": [{"key": "free_mail_company", "text": "free mail for a large importer", "evidence": []}]}
    save_report(store, "phone:+34 612 345 678||", report, NOW)  # typed with spaces by the rep
    after = score_conversation(svc, message.conversation_id)
    assert after is not None and after.points == before.points - 1
    assert "background check: free mail for a large importer" in after.reasons
    clean = {**report, "level": "low", "flags": []}
    save_report(store, f"conversation:{message.conversation_id}||", clean, NOW + timedelta(1))
    newest = score_conversation(svc, message.conversation_id)
    assert newest is not None and newest.points == before.points + 1
    assert "background check: low risk" in newest.reasons
    store.close()


def test_a_price_question_today_is_warm_until_a_real_quantity_makes_it_hot() -> None:
    assert score_lead(facts(intents=("price_inquiry",))).label == "warm"
    with_quantity = score_lead(facts(intents=("price_inquiry",), asks=(QuantityAsk(500, "VF-500", 500),)))
    assert (with_quantity.label, with_quantity.points) == ("hot", 5)
