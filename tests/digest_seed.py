"""A seeded store for digest tests: three reps, buyers in every digest list, a fixed clock.

Built through the Store's own methods (the same writes the app makes), with times passed in;
only ownership is set with SQL (routing would assign round-robin), stages through the lifecycle store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Action, DraftResult, DraftState, IncomingMessage, OutboxState
from bot.phones import phone_info
from bot.store import Store
from bot.store_lifecycle import set_stage

# Asha's 08:30 in Kolkata (UTC+05:30) is 03:00 UTC.
DIGEST_AT = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)

TEAM_YAML = """
reps:
  - name: Asha
    role: rep
    slack_user: U0REP00001
    slack_channel: C0ASHA0001
    timezone: Asia/Kolkata
  - name: Wei
    role: rep
    slack_user: U0REP00002
    slack_channel: C0WEI00001
    timezone: America/Sao_Paulo
    digest_time: "07:45"
  - name: Maria
    role: manager
    slack_user: U0MANAGER1
    slack_channel: C0SALESMGR
    timezone: Europe/Madrid
"""


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@dataclass
class Seed:
    lucia_draft: int
    wei_draft: int


def write_team(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM_YAML)
    return path


def _result(reply: str) -> DraftResult:
    return DraftResult(buyer_language="es", translation="(translated)", intent="price_inquiry", reply=reply,
                       back_translation="(back)")


def seed(store: Store, now: datetime = DIGEST_AT) -> Seed:
    """Buyers for Asha (new, waiting, window closing, failed, silent after quote) and one for Wei."""
    n = [0]

    def inbound(address: str, body: str, at: datetime, name: str | None = None) -> tuple[int, int]:
        n[0] += 1
        msg, _ = store.add_inbound(IncomingMessage(f"SMseed{n[0]}", address, body, "whatsapp"
                                                   if address.startswith("whatsapp:") else "sms", name),
                                   phone_info(address), at)
        return msg.id, msg.conversation_id

    def draft(message_id: int, at: datetime, reply: str = "Hola") -> int:
        return store.add_draft(store.message(message_id), _result(reply), (), at).id

    def owner(conv: int, rep: str) -> None:
        store.db.execute("UPDATE conversations SET owner = ? WHERE id = ?", [rep, conv])

    # Lucía: new 22 h ago on WhatsApp, draft waiting, window closes in 2 h, card known in Slack.
    m, lucia = inbound("whatsapp:+34612345678", "¿Precio del termo?", now - timedelta(hours=22), "Lucía")
    owner(lucia, "Asha")
    lucia_draft = draft(m, now - timedelta(hours=22))
    store.set_card_ref(lucia_draft, "C0ASHA0001:1700000000.000100")

    # Chen: wrote 10 days ago, answered in 10 min (sent as written), quoted 5 days ago, silent since.
    m, chen = inbound("whatsapp:+8613800138000", "Need 5000 flasks", now - timedelta(days=10), "Chen")
    owner(chen, "Asha")
    d = draft(m, now - timedelta(days=10))
    out = store.approve(d, Action.SEND, "U0REP00001", "slack", "whatsapp:+8613800138000", "Quote attached",
                        now - timedelta(days=10) + timedelta(minutes=10))
    assert out is not None
    store.add_outbound_message(chen, store.message(m).contact_id, "Quote attached", "SMout1",
                               now - timedelta(days=10) + timedelta(minutes=10))
    assert set_stage(store, chen, "quoted", by="U0REP00001", reason="quote sent", now=now - timedelta(days=5))

    # Ravi: SMS 2 days ago; regenerated once, then edited and sent after 30 min; Twilio failed it 3 h ago.
    m, ravi = inbound("+919876543210", "Do you ship to Chennai?", now - timedelta(days=2), "Ravi")
    owner(ravi, "Asha")
    first = draft(m, now - timedelta(days=2))
    assert store.close_draft(first, DraftState.SUPERSEDED, Action.REGENERATE, "U0REP00001", "slack",
                             now - timedelta(days=2) + timedelta(minutes=20))
    second = store.add_draft(store.message(m), _result("Yes"), (), now - timedelta(days=2), version=2).id
    out = store.approve(second, Action.EDIT, "U0REP00001", "slack", "+919876543210", "Yes, to Chennai port",
                        now - timedelta(days=2) + timedelta(minutes=30))
    assert out is not None
    store.add_outbound_message(ravi, store.message(m).contact_id, "Yes, to Chennai port", "SMout2",
                               now - timedelta(days=2) + timedelta(minutes=30))
    store.mark_outbound(out.id, OutboxState.FAILED, now - timedelta(hours=3), error_code="30008")

    # Omar: 20 days ago, draft discarded; ordered since (a month-old buyer in the 30-day funnel).
    m, omar = inbound("whatsapp:+971501234567", "Samples?", now - timedelta(days=20), "Omar")
    owner(omar, "Asha")
    d = draft(m, now - timedelta(days=20))
    assert store.close_draft(d, DraftState.DISCARDED, Action.DISCARD, "U0REP00001", "slack",
                             now - timedelta(days=20) + timedelta(hours=1))
    assert set_stage(store, omar, "ordered", by="U0REP00001", reason="PI paid", now=now - timedelta(days=15))

    # Wei's buyer: new 5 h ago, draft waiting; Asha must not see it, Maria must.
    m, joao = inbound("whatsapp:+5511987654321", "Olá, preço?", now - timedelta(hours=5), "João")
    owner(joao, "Wei")
    wei_draft = draft(m, now - timedelta(hours=5))
    return Seed(lucia_draft=lucia_draft, wei_draft=wei_draft)
