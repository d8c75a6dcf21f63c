"""Stage, window, automatic send and template offer on the Slack and console cards (pure renderers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.models import ButtonPress, Outbound, OutboxState
from bot.surfaces import console
from bot.surfaces.slack import translate_button
from bot.surfaces.slack_blocks import render_card
from tests.test_slack_surface import buttons, make_card, sent, texts

DUE = datetime(2026, 3, 2, 12, 5, tzinfo=UTC)


def test_pending_card_shows_stage_window_cancel_and_change_stage() -> None:
    card = make_card(stage="qualified", window="window closes in 3 h 20 min", auto_send_at=DUE,
                     auto_note="Sends by itself at 12:05 UTC (autonomy auto_if_safe) unless someone taps Cancel")
    _, blocks = render_card(card)
    shown = "\n".join(texts(blocks))
    assert "stage: *qualified*" in shown and "window closes in 3 h 20 min" in shown
    assert "Sends by itself at 12:05 UTC" in shown
    more = {b["action_id"]: b["value"] for b in buttons(blocks) if b["action_id"].startswith("tmb:")}
    assert more == {"tmb:auto_cancel:0": "42", "tmb:stage_menu:1": "3"}  # draft id, conversation id
    # the generic button route reads them back as the registered actions
    payload = {"actions": [{"action_id": "tmb:auto_cancel:0", "value": "42"}], "user": {"id": "U1"},
               "channel": {"id": "C1"}}
    assert translate_button(payload) == ButtonPress("auto_cancel", "42", "U1", "slack", "C1")


def test_refused_card_offers_the_template_with_its_preview() -> None:
    card = replace(sent(OutboxState.REFUSED), stage="quoted", template_offer="quote_follow_up",
                   template_preview="Hello Carlos, following up on our quotation for the turmeric.",
                   problem="Twilio refused: outside the 24-hour WhatsApp window (63016)")
    _, blocks = render_card(card)
    shown = "\n".join(texts(blocks))
    assert "`quote_follow_up`" in shown and "following up on our quotation" in shown
    ids = [b["action_id"] for b in buttons(blocks)]
    assert ids == ["tmb:template_send:0", "tmb:stage_menu:1"]
    assert buttons(blocks)[0]["style"] == "primary"


def test_closed_window_and_cancelled_auto_send_on_the_console() -> None:
    card = make_card(stage="new", window="window closed: template only", template_offer="reopen_conversation",
                     template_preview="Hello Carlos, this is Everbright.",
                     auto_note="Automatic send cancelled by U1; waiting for a tap")
    text = console.render_card(card)
    assert "stage new · window closed: template only" in text
    assert "reopen_conversation: Hello Carlos, this is Everbright." in text
    assert "cancelled by U1" in text


def test_a_decided_card_without_stage_or_offer_keeps_no_buttons() -> None:
    outbound = Outbound(1, 42, "draft:42", "whatsapp:+34600123456", "x", OutboxState.DELIVERED, 1)
    card = replace(sent(OutboxState.DELIVERED), outbound=outbound)
    assert buttons(render_card(card)[1]) == []
