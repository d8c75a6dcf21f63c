"""The digest's chart: the 7- and 30-day funnel and the week's daily median reply time, as a PNG.

Rendered with matplotlib's Agg canvas on a `Figure` (no pyplot, no display, no global state), so it
is safe to call from the server's threads.
"""

from __future__ import annotations

import io
import statistics
from datetime import date, timedelta

from bot.store_digest import Numbers

STAGES = ("new", "quoted", "ordered")


def render_chart(week: Numbers, month: Numbers, today: date) -> bytes:
    """A 900×360 PNG: funnel bars on the left, median reply minutes for the last 7 days on the right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)

    positions = range(len(STAGES))
    width = 0.38
    left.bar([p - width / 2 for p in positions], week.funnel, width, label=f"{week.days} days", color="#2e7d32")
    left.bar([p + width / 2 for p in positions], month.funnel, width, label=f"{month.days} days", color="#90caf9")
    for p, (w, m) in enumerate(zip(week.funnel, month.funnel, strict=True)):
        left.annotate(str(w), (p - width / 2, w), ha="center", va="bottom", fontsize=8)
        left.annotate(str(m), (p + width / 2, m), ha="center", va="bottom", fontsize=8)
    left.set_xticks(list(positions), [s.capitalize() for s in STAGES])
    left.set_title("Buyers by stage reached")
    left.legend(frameon=False, fontsize=8)
    left.set_ylim(0, max([*week.funnel, *month.funnel, 1]) * 1.2)

    days = [today - timedelta(days=n) for n in range(6, -1, -1)]
    minutes = [_median_minutes(week.reply_by_day.get(d.isoformat(), [])) for d in days]
    right.bar(range(7), [m or 0 for m in minutes], color="#ef6c00")
    for x, value in enumerate(minutes):
        right.annotate("—" if value is None else f"{value:.0f}", (x, value or 0), ha="center", va="bottom",
                       fontsize=8)
    right.set_xticks(range(7), [d.strftime("%a") for d in days])
    right.set_title("Median minutes to reply, last 7 days (UTC)")
    right.set_ylim(0, max([m or 0 for m in minutes] + [1]) * 1.25)

    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.1, wspace=0.2)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _median_minutes(seconds: list[float]) -> float | None:
    return statistics.median(seconds) / 60 if seconds else None
