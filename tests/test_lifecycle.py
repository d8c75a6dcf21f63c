"""Lifecycle rules: forward-only automatic moves, clear signals, dormant and final stages; and set_stage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import store_lifecycle
from bot.lifecycle import STAGES, advance, from_buyer, from_rep, is_quote
from bot.models import IncomingMessage
from bot.phones import phone_info
from bot.store import Store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("current", "target", "expected"), [
    ("new", "qualified", "qualified"),
    ("qualified", "quoted", "quoted"),
    ("quoted", "qualified", None),  # never backwards
    ("negotiating", "sample", None),
    ("new", "ordered", "ordered"),  # a clear signal may skip stages
    ("quoted", "quoted", None),
    ("won", "ordered", None),  # final stages only change by hand
    ("lost", "qualified", None),
    ("dormant", "qualified", "qualified"),  # a dormant deal wakes up
    ("new", "dormant", None),  # dormant and lost are not automatic targets here
])
def test_advance_only_moves_forward(current: str, target: str, expected: str | None) -> None:
    assert advance(current, target) == expected


def test_buyer_intent_is_a_weak_signal() -> None:
    assert from_buyer("new", "price_inquiry", "How much?").to == "qualified"  # type: ignore[union-attr]
    assert from_buyer("quoted", "price_inquiry", "And the price for 2000?") is None
    assert from_buyer("quoted", "sample_request", "Can you send a sample?").to == "sample"  # type: ignore[union-attr]
    assert from_buyer("new", "greeting", "Hi") is None
    assert from_buyer("new", "order", "How do I order?").to == "negotiating"  # type: ignore[union-attr]


@pytest.mark.parametrize("text", [
    "We have paid the deposit, please check", "Payment done, attached the swift copy", "TT copy attached",
    "Hemos pagado el 30%", "已付款，请查收", "Wir haben überwiesen",
])
def test_payment_confirmation_moves_to_ordered(text: str) -> None:
    change = from_buyer("quoted", "other", text)
    assert change is not None and change.to == "ordered" and "payment" in change.reason


def test_payment_never_reopens_a_won_deal() -> None:
    assert from_buyer("won", "other", "We have paid") is None


def test_dormant_buyer_writing_again_is_qualified() -> None:
    assert from_buyer("dormant", "greeting", "Hello again").to == "qualified"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "quote"), [
    ("The VF-500 is 3.80 USD per unit from 1000 pcs.", True),
    ("Price: $4.20/kg CIF", True),
    ("Le prix est de 12,50 € HT", True),
    ("Please find our proforma invoice attached.", True),
    ("I will send the PI tomorrow.", True),
    ("Adjunto la cotización.", True),
    ("I will check the price and come back to you.", False),
    ("We can ship 500 pcs in 20 days.", False),
    ("Pick the option you prefer", False),  # 'pi' inside a word is not a PI
])
def test_quote_detection_in_the_text_actually_sent(text: str, quote: bool) -> None:
    assert is_quote(text) is quote
    change = from_rep("qualified", text)
    assert (change is not None and change.to == "quoted") is quote


def test_a_quote_does_not_pull_a_deal_back() -> None:
    assert from_rep("negotiating", "Revised: 3.50 USD") is None


def test_set_stage_writes_the_stage_and_an_audit_row() -> None:
    store = Store()
    message, _ = store.add_inbound(IncomingMessage("SM1", "whatsapp:+34612345678", "Hola", "whatsapp"),
                                   phone_info("whatsapp:+34612345678"), NOW)
    conv = message.conversation_id
    assert store_lifecycle.conversation(store, conv).stage == "new"
    assert store_lifecycle.set_stage(store, conv, "qualified", by="trademate", reason="buyer intent", now=NOW)
    assert not store_lifecycle.set_stage(store, conv, "qualified", by="U1", reason="again", now=NOW)
    # an automatic change computed from a stale stage loses to the rep's correction
    assert not store_lifecycle.set_stage(store, conv, "quoted", by="trademate", reason="x", now=NOW, expected="new")
    info = store_lifecycle.conversation(store, conv)
    assert info.stage == "qualified" and info.stage_changed_at == NOW
    rows = store_lifecycle.stage_changes(store, conv)
    assert [(r.from_stage, r.to_stage, r.by, r.reason) for r in rows] == [("new", "qualified", "trademate",
                                                                          "buyer intent")]
    with pytest.raises(ValueError):
        store_lifecycle.set_stage(store, conv, "maybe", by="U1", reason="x", now=NOW)
    assert set(STAGES) >= {"new", "won", "lost", "dormant"}
    store.close()
