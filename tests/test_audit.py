"""Audit helpers (edit size and diff, --since periods) and the store's once-only owner assignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import store_team
from bot.audit import edit_diff, parse_since
from bot.errors import TrademateError
from bot.models import IncomingMessage
from bot.phones import phone_info
from bot.store import Store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_edit_diff_counts_changed_characters_and_shows_words() -> None:
    assert edit_diff("Hola, 3.80 USD.", "Hola, 3.80 USD.") == (0, "")
    size, diff = edit_diff("Hola, cuesta 3.80 USD.", "Hola, cuesta 3.60 USD. Gracias.")
    assert size == 1 + len(" Gracias.")
    assert diff == "Hola, cuesta [-3.80-] {+3.60+} USD. {+Gracias.+}"


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", NOW - timedelta(days=7)), ("24h", NOW - timedelta(hours=24)), ("30d", NOW - timedelta(days=30)),
    ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
    ("2026-11-01T10:00+02:00", datetime(2026, 11, 1, 8, tzinfo=UTC)),
])
def test_since_periods_and_dates(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_since_nonsense_is_a_clear_error() -> None:
    with pytest.raises(TrademateError, match="24h, 7d, 30d"):
        parse_since("yesterday-ish", NOW)


def test_assignment_happens_once_and_the_cursor_moves_once() -> None:
    store = Store()
    message, _ = store.add_inbound(IncomingMessage("SM1", "+4915112345678", "hi", "sms"),
                                   phone_info("+4915112345678"), NOW)
    sellers, known = ["Asha", "Ben"], ["Asha", "Ben", "Maria"]
    assert store_team.assign_if_unowned(store, message.conversation_id, None, sellers, known) == ("Asha", True)
    assert store_team.assign_if_unowned(store, message.conversation_id, None, sellers, known) == ("Asha", False)
    assert store_team.cursor(store) == 1
    # An owner who left the team file is replaced by the next in the rotation.
    store_team.set_owner(store, message.conversation_id, "Gone", NOW)
    assert store_team.assign_if_unowned(store, message.conversation_id, None, sellers, known) == ("Ben", True)
    assert store_team.cursor(store) == 2
    store.close()
