"""Autonomy decisions: what each level allows, and the manager's ceiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.policy import decide, effective_level
from bot.team import load_team

SAFE = {"flags": (), "unknown_numbers": (), "window_open": True, "buyer_blocked": False}


def test_approve_never_sends_by_itself() -> None:
    assert not decide("approve", **SAFE).auto


def test_auto_if_safe_sends_only_a_clean_draft() -> None:
    assert decide("auto_if_safe", **SAFE).auto
    for flag in ("price", "discount", "delivery_date", "payment_terms", "promise", "needs_rep_input"):
        verdict = decide("auto_if_safe", **{**SAFE, "flags": (flag,)})
        assert not verdict.auto, flag
    assert not decide("auto_if_safe", **{**SAFE, "unknown_numbers": ("7",)}).auto
    closed = decide("auto_if_safe", **{**SAFE, "window_open": False})
    assert not closed.auto and "window" in closed.explanation
    assert not decide("auto_if_safe", **{**SAFE, "buyer_blocked": True}).auto


def test_auto_accepts_flags_but_not_gaps_closed_windows_or_blocked_buyers() -> None:
    assert decide("auto", **{**SAFE, "flags": ("price",), "unknown_numbers": ("3.9",)}).auto
    assert not decide("auto", **{**SAFE, "flags": ("needs_rep_input",)}).auto
    assert not decide("auto", **{**SAFE, "window_open": False}).auto
    assert not decide("auto", **{**SAFE, "buyer_blocked": True}).auto
    assert decide("auto", **SAFE).level == "auto"


def test_a_step_cannot_go_above_the_ceiling() -> None:
    assert effective_level(None, "approve", "approve") == "approve"
    assert effective_level("auto", "approve", "auto_if_safe") == "auto_if_safe"
    assert effective_level("approve", "auto_if_safe", "auto") == "approve"  # lowering is always allowed
    assert effective_level(None, "auto_if_safe", "auto") == "auto_if_safe"
    with pytest.raises(ValueError):
        effective_level("yolo", "approve", "auto")


def _team(tmp_path: Path, autonomy: str) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text("reps:\n  - name: Asha\n    slack_user: U1\n" + autonomy)
    return path


def test_team_file_sets_levels(tmp_path: Path) -> None:
    team = load_team(_team(tmp_path, ""))
    assert (team.autonomy_default, team.autonomy_ceiling) == ("approve", "approve")
    team = load_team(_team(tmp_path, "autonomy:\n  default: auto_if_safe\n"))
    assert (team.autonomy_default, team.autonomy_ceiling) == ("auto_if_safe", "auto_if_safe")
    team = load_team(_team(tmp_path, "autonomy:\n  default: approve\n  ceiling: auto\n"))
    assert (team.autonomy_default, team.autonomy_ceiling) == ("approve", "auto")
    with pytest.raises(ConfigError, match=r"autonomy\.default"):
        load_team(_team(tmp_path, "autonomy:\n  default: auto\n  ceiling: approve\n"))
    with pytest.raises(ConfigError, match="autonomy"):
        load_team(_team(tmp_path, "autonomy:\n  default: always\n"))


def test_the_example_team_file_is_valid() -> None:
    team = load_team(Path(__file__).resolve().parent.parent / "team.example.yaml")
    assert team.autonomy_default == "approve"


def test_an_opted_out_buyer_is_never_sent_to_automatically() -> None:
    from datetime import UTC, datetime

    from bot import store_autonomy
    from bot.models import IncomingMessage
    from bot.phones import phone_info
    from bot.store import Store

    store = Store(":memory:")
    now = datetime(2026, 11, 25, tzinfo=UTC)
    msg, _ = store.add_inbound(IncomingMessage("SM1", "whatsapp:+34612345678", "STOP", "whatsapp"),
                               phone_info("whatsapp:+34612345678"), now)
    assert not store_autonomy.buyer_blocked(store, msg.contact_id)
    store.db.execute("INSERT INTO opt_outs (contact_id, message_id, phrase, at) VALUES (?, ?, 'STOP', ?)",
                     [msg.contact_id, msg.id, now.isoformat()])
    assert store_autonomy.buyer_blocked(store, msg.contact_id)
    store.close()
