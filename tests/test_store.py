"""The store settles duplicates and double decisions itself; migrations are idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import migrations
from bot.models import Action, DraftResult, DraftState, IncomingMessage, OutboxState
from bot.phones import phone_info
from bot.store import Store

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    yield s
    s.close()


def _incoming(sid: str = "SM1", body: str = "Hola") -> IncomingMessage:
    return IncomingMessage(
        provider_id=sid, address="whatsapp:+34612345678", body=body, channel="whatsapp", profile_name="Lucía"
    )


def _result() -> DraftResult:
    return DraftResult(
        buyer_language="es",
        translation="Hello",
        intent="greeting",
        reply="Hola Lucía",
        back_translation="Hello Lucía",
    )


def test_inbound_is_stored_once_per_provider_id(store: Store) -> None:
    info = phone_info("whatsapp:+34612345678")
    first, created = store.add_inbound(_incoming(), info, NOW)
    again, created_again = store.add_inbound(_incoming(), info, NOW)
    assert created and not created_again
    assert first.id == again.id
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    contact = store.contact(first.contact_id)
    assert (contact.phone, contact.country, contact.timezone, contact.name) == (
        "+34612345678",
        "ES",
        "Europe/Madrid",
        "Lucía",
    )


def test_one_conversation_per_contact(store: Store) -> None:
    info = phone_info("whatsapp:+34612345678")
    a, _ = store.add_inbound(_incoming("SM1"), info, NOW)
    b, _ = store.add_inbound(_incoming("SM2", "¿precio?"), info, NOW)
    assert a.conversation_id == b.conversation_id
    assert [m.body for m in store.history(a.conversation_id, b.id, 10)] == ["Hola"]


def test_approve_happens_once_and_creates_one_outbox_row(store: Store) -> None:
    msg, _ = store.add_inbound(_incoming(), phone_info("whatsapp:+34612345678"), NOW)
    draft = store.add_draft(msg, _result(), (), NOW)
    first = store.approve(draft.id, Action.SEND, "U1", "slack", "whatsapp:+34612345678", draft.text, NOW)
    second = store.approve(draft.id, Action.SEND, "U2", "slack", "whatsapp:+34612345678", draft.text, NOW)
    assert first is not None and second is None
    assert store.draft(draft.id).state is DraftState.SENT
    assert store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    assert store.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1
    assert store.claim_outbound(first.id, NOW) and not store.claim_outbound(first.id, NOW)


def test_status_only_moves_forward(store: Store) -> None:
    msg, _ = store.add_inbound(_incoming(), phone_info("whatsapp:+34612345678"), NOW)
    draft = store.add_draft(msg, _result(), (), NOW)
    out = store.approve(draft.id, Action.SEND, "U1", "slack", "whatsapp:+34612345678", draft.text, NOW)
    assert out is not None
    store.mark_outbound(out.id, OutboxState.QUEUED, NOW, provider_id="SMx")
    assert store.advance_status("SMx", OutboxState.DELIVERED, NOW) is not None
    assert store.advance_status("SMx", OutboxState.SENT, NOW) is None  # late 'sent' ignored
    assert store.outbound(out.id).state is OutboxState.DELIVERED
    assert store.advance_status("SMunknown", OutboxState.DELIVERED, NOW) is None


def test_migrations_apply_once(tmp_path) -> None:
    path = str(tmp_path / "t.db")
    Store(path).close()
    again = Store(path)
    assert migrations.apply(again.db) == []
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


def test_every_command_reads_a_buyer_the_same_way(store: Store) -> None:
    info = phone_info("whatsapp:+34612345678")
    msg, _ = store.add_inbound(_incoming(), info, NOW)
    other = IncomingMessage(provider_id="SM9", address="+14155550123", body="hi", channel="sms",
                            profile_name="Mike Dalton")
    msg2, _ = store.add_inbound(other, phone_info(other.address), NOW)
    conv, conv2 = msg.conversation_id, msg2.conversation_id
    assert store.find_conversation_ids(str(conv)) == [conv] == store.find_conversation_ids(f"#{conv}")
    assert store.find_conversation_ids("+34 612 345 678") == [conv] == store.find_conversation_ids("612345678")
    assert store.find_conversation_ids("lucía") == [conv]  # exact name, any case
    assert store.find_conversation_ids("dalton") == [conv2]  # contained
    assert store.find_conversation_ids("nobody") == [] and store.find_conversation_ids("  ") == []
