"""Digest composition, pure: the day's data in, a `Digest` out, then text for a surface.

No SQL and no I/O here (queries live in `bot.store_digest`, delivery in `handlers.digest`), so the
wording is tested on plain data. A list this install cannot fill (its table comes with another
feature) is shown as "—", never invented.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bot.errors import describe_provider_error
from bot.models import ReplyButton
from bot.store_digest import BuyerRow, Listing, Numbers

SHOW_CARD = "digest_card"  # ReplyButton action: bring a draft's card up again
KINDS = (("send", "sent as written"), ("edit", "edited"), ("regenerate", "regenerated"), ("discard", "discarded"),
         ("auto", "sent automatically"))


@dataclass(frozen=True)
class DigestData:
    """Everything one digest shows, as the store returned it."""

    rep: str
    team: bool  # the manager's team version
    timezone: str
    now: datetime
    new: Listing
    waiting: Listing
    follow_ups: Listing | None  # None: not tracked on this install
    windows: Listing
    failed: Listing
    hot: Listing | None  # None: not tracked on this install
    silent: Listing
    week: Numbers
    month: Numbers
    names: Mapping[str, str]  # "surface:actor" -> rep name, for per-rep shares
    window_hours: int = 6
    silent_days: int = 3


@dataclass(frozen=True)
class Item:
    text: str
    link: str | None = None  # a permalink to the card
    button: ReplyButton | None = None  # when there is no link to follow


@dataclass(frozen=True)
class Section:
    title: str
    items: tuple[Item, ...]
    total: int | None  # None: not available here
    why_missing: str = ""

    @property
    def more(self) -> int:
        return (self.total or 0) - len(self.items)


@dataclass(frozen=True)
class Digest:
    rep: str
    team: bool
    local_date: date
    greeting: str
    sections: tuple[Section, ...]
    numbers: tuple[str, ...]
    quiet: bool

    @property
    def buttons(self) -> tuple[ReplyButton, ...]:
        return tuple(i.button for s in self.sections for i in s.items if i.button is not None)

    def text(self, links: str = "slack") -> str:
        """The digest as light markdown; `links` is "slack" (<url|label>) or "plain" (label (url))."""
        return render(self, links)


# -- helpers ----------------------------------------------------------------------------------------


def card_link(card_ref: str | None) -> str | None:
    """A link that opens the card: Slack card refs are "channel:ts"; other surfaces have none (yet)."""
    if not card_ref:
        return None
    channel, sep, ts = card_ref.partition(":")
    if not sep or not channel.startswith(("C", "G", "D")) or not ts.replace(".", "").isdigit():
        return None
    return "https://slack.com/app_redirect?" + urlencode({"channel": channel, "message_ts": ts})


def age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{round(seconds)} s"
    return age(timedelta(seconds=seconds))


def median(values: tuple[float, ...] | list[float]) -> float | None:
    return statistics.median(values) if values else None


def _failure(note: str) -> str:
    return describe_provider_error(note) if note.isdigit() else note


def _who(row: BuyerRow, team: bool = False) -> str:
    who = f"{row.name} ({row.phone})" if row.name else row.phone
    return f"{who} [{row.owner}]" if team and row.owner else who


def _item(row: BuyerRow, text: str) -> Item:
    link = card_link(row.card_ref)
    button = None
    if link is None and row.draft_id is not None:
        button = ReplyButton(f"Card: {row.name or row.phone}"[:75], SHOW_CARD, str(row.draft_id))
    return Item(text, link, button)


def _section(title: str, listing: Listing | None, line: object, why: str = "") -> Section:
    if listing is None:
        return Section(title, (), None, why)
    return Section(title, tuple(_item(r, line(r)) for r in listing.rows), listing.total)  # type: ignore[operator]


def shares(counts: Counter[str]) -> str:
    total = sum(counts.values())
    if not total:
        return "no decisions yet"
    parts = [f"{round(100 * counts[k] / total)}% {label}" for k, label in KINDS if counts.get(k)]
    return ", ".join(parts) + f" (of {total})"


def funnel(f: tuple[int, int, int]) -> str:
    return f"{f[0]} → {f[1]} → {f[2]}"


# -- composition ------------------------------------------------------------------------------------


def compose(data: DigestData) -> Digest:
    """The digest for `data.rep` as of `data.now`, times shown in the rep's own zone."""
    tz = ZoneInfo(data.timezone)
    now = data.now
    local = now.astimezone(tz)

    def clock(at: datetime) -> str:
        return at.astimezone(tz).strftime("%H:%M")

    def who(row: BuyerRow) -> str:
        return _who(row, data.team and row.owner != data.rep)  # the one-rep team owns everything

    sections = (
        _section("New inquiries since yesterday", data.new, lambda r: f"{who(r)}, first wrote at {clock(r.at)}"),
        _section("Cards waiting for a decision", data.waiting, lambda r: f"{who(r)}, waiting {age(now - r.at)}"),
        _section("Follow-ups due today", data.follow_ups, lambda r: f"{who(r)}, due {clock(r.at)}",
                 "follow-ups are not tracked on this install"),
        _section(f"WhatsApp windows closing in the next {data.window_hours} h", data.windows,
                 lambda r: f"{who(r)}, closes {clock(r.at)}" + (" — not answered yet" if r.note == "unanswered"
                                                                else "")),
        _section("Failed deliveries", data.failed, lambda r: f"{who(r)} at {clock(r.at)}: {_failure(r.note)}"),
        _section("Hot buyers", data.hot, lambda r: who(r) + (f": {r.note}" if r.note else ""),
                 "lead scores are not tracked on this install"),
        _section(f"Buyers silent {data.silent_days}+ days after a quote", data.silent,
                 lambda r: f"{who(r)}, quoted {age(now - r.at)} ago"),
    )
    week, month = data.week, data.month
    quiet = not any(s.total for s in sections) and week.messages_in == 0 and month.messages_in == 0
    whose, scope = ("the team's", "the team") if data.team else ("your", "you")
    greeting = f"Good morning, {data.rep}! Here is {whose} day, {local:%a %d %b}."
    if quiet:
        greeting = (f"Good morning, {data.rep}! A quiet day for {scope}: nothing is waiting, and no buyer has "
                    "written in the last 30 days. Nothing to do here.")
    return Digest(rep=data.rep, team=data.team, local_date=local.date(), greeting=greeting, sections=sections,
                  numbers=() if quiet else stats_lines(week, month, data.names, per_rep=data.team), quiet=quiet)


def stats_lines(week: Numbers, month: Numbers | None, names: Mapping[str, str], *, per_rep: bool) -> tuple[str, ...]:
    """The numbers block: one period, or 7 days · 30 days side by side."""
    periods = [week] if month is None else [week, month]

    def row(label: str, values: list[str]) -> str:
        return f"{label}: " + " · ".join(values)

    lines = [
        "*Numbers* (" + " · ".join(f"{n.days} days" for n in periods) + ")",
        row("Buyer messages in", [str(n.messages_in) for n in periods]),
        row("Replies sent", [str(n.replies_sent) for n in periods]),
        row("Median time to reply", [duration(median(n.reply_seconds)) for n in periods]),
        row("Funnel new → quoted → ordered", [funnel(n.funnel) for n in periods]),
    ]
    last = periods[-1]
    total: Counter[str] = Counter()
    by_rep: dict[str, Counter[str]] = {}
    for actor, counts in last.actions.items():
        total.update(counts)
        by_rep.setdefault(names.get(actor, actor.partition(":")[2] or actor), Counter()).update(counts)
    lines.append(f"Drafts ({last.days} days): {shares(total)}")
    if per_rep and len(by_rep) > 1:
        lines += [f"  • {rep}: {shares(c)}" for rep, c in sorted(by_rep.items())]
    if last.playbooks:
        lines += [f"  • playbook {book}: {shares(c)}" for book, c in sorted(last.playbooks.items())]
    return tuple(lines)


# -- rendering --------------------------------------------------------------------------------------


def render(digest: Digest, links: str = "slack") -> str:
    lines = [f"*{digest.greeting}*" if not digest.quiet else digest.greeting]
    if digest.quiet:
        return lines[0]
    clear: list[str] = []
    for section in digest.sections:
        if section.total is None:
            lines += ["", f"*{section.title}*: — ({section.why_missing})"]
            continue
        if not section.total:
            title = section.title
            first = title.split()[0]
            clear.append(title[0].lower() + title[1:] if first[1:].islower() else title)
            continue
        lines += ["", f"*{section.title}* ({section.total})"]
        for item in section.items:
            # Buyer names come from WhatsApp profiles: Slack must not read them as markup.
            text = _escape(item.text) if links == "slack" else item.text
            if item.link:
                text += f" <{item.link}|open card>" if links == "slack" else f" ({item.link})"
            lines.append(f"• {text}")
        if section.more > 0:
            lines.append(f"• …and {section.more} more")
    if clear:
        lines += ["", "All clear: no " + "; no ".join(clear) + "."]
    lines += ["", *digest.numbers]
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
