"""The decision audit trail as people read it: edit size and diff of a sent reply, `--since` periods, the table.

Pure functions; the rows come from `bot.store_team.audit_rows`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher
from pathlib import Path

from bot.config import Settings
from bot.errors import TrademateError
from bot.team import Team

_PERIOD = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    action: str
    actor: str
    surface: str
    policy: str
    buyer: str  # name and phone, as the rep knows them
    sent: str | None  # what went to the buyer (None for regenerate/discard)
    draft_text: str | None  # the draft as Trademate proposed it
    edit_size: int | None  # characters changed from the draft; None when nothing was sent
    diff: str | None


def edit_diff(draft: str, sent: str) -> tuple[int, str]:
    """Characters changed between the draft and what was sent, and a word diff: `[-old-]{+new+}`."""
    if draft == sent:
        return 0, ""
    chars = SequenceMatcher(None, draft, sent, autojunk=False)
    size = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in chars.get_opcodes() if op != "equal")
    a, b = draft.split(), sent.split()
    parts: list[str] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(" ".join(a[i1:i2]))
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(a[i1:i2]) + "-]")
        if j2 > j1:
            parts.append("{+" + " ".join(b[j1:j2]) + "+}")
    return size, " ".join(parts)


def parse_since(value: str, now: datetime) -> datetime:
    """`7d`, `24h`, `30m`, `2w`, or an ISO date/time (UTC when no zone is given)."""
    text = value.strip().lower()
    match = _PERIOD.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise TrademateError(
            f"--since {value!r}: use a period such as 24h, 7d, 30d, or a date such as 2026-11-01") from exc
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cell(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render(rows: list[AuditRow], since: datetime) -> str:
    """A fixed-width table, newest last, with the edit size and diff of each edited reply."""
    head = f"Decisions since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC: {len(rows)}"
    if not rows:
        return head
    table = [("when (UTC)", "who", "surface", "action", "buyer", "edit", "sent")]
    for r in rows:
        if r.edit_size is None:
            edit = "-"
        elif r.edit_size == 0:
            edit = "as drafted"
        else:
            edit = f"{r.edit_size} chars"
        how = r.action if r.policy == "manual" else f"{r.action} ({r.policy})"
        table.append((f"{r.at.astimezone(UTC):%Y-%m-%d %H:%M}", _cell(r.actor, 20), r.surface, how,
                      _cell(r.buyer, 28), edit, _cell(r.sent or "", 60)))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [head, ""]
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    edits = [r for r in rows if r.diff]
    if edits:
        lines += ["", "Edits (draft -> sent, [-removed-] {+added+}):"]
        lines += [f"  {r.at.astimezone(UTC):%Y-%m-%d %H:%M} {r.actor}: {r.diff}" for r in edits]
    return "\n".join(lines)


def name_actors(rows: list[AuditRow], team: Team) -> list[AuditRow]:
    """Show a rep's name instead of their platform id where the team file knows them."""
    out = []
    for row in rows:
        rep = None if team.implicit else team.by_user(row.surface, row.actor)
        out.append(replace(row, actor=rep.name) if rep else row)
    return out


def report(settings: Settings, since_text: str, now: datetime | None = None) -> str:
    """What `trademate audit --since …` prints."""
    from bot import store_team
    from bot.store import Store
    from bot.team import load_team

    since = parse_since(since_text, now or datetime.now(UTC))
    team = load_team(Path(settings.trademate_team)) if settings.trademate_team else Team.single()
    store = Store(settings.trademate_db)
    try:
        rows = store_team.audit_rows(store, since)
    finally:
        store.close()
    return render(name_actors(rows, team), since)
