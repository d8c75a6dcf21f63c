"""The background-check report: a record that can be cached as JSON and rendered as text.

The same text goes to Slack (light mrkdwn) and to the terminal (`trademate bgcheck`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.background_summary import Flag, Summary
from bot.checks import CheckResult, Status

MARK = {Status.OK: "✅ ok", Status.WARNING: "⚠️ warning", Status.FAILED: "❌ failed to check",
        Status.SKIPPED: "➖ not checked"}
TITLES = {"dns": "DNS", "whois": "WHOIS", "website": "Website", "email": "Email", "phone": "Phone",
          "history": "Our history", "search": "Web search", "claims": "Claimed"}


@dataclass(frozen=True)
class Report:
    target: str
    kind: str  # domain | email | phone | buyer | company
    checked_at: datetime
    results: tuple[CheckResult, ...]
    flags: tuple[Flag, ...]
    level: str
    summary: Summary
    note: str | None = None  # e.g. what a company-name check cannot do
    cached: bool = False

    @property
    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for result in self.results:
            out.update(result.evidence)
        return out

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "kind": self.kind, "checked_at": self.checked_at.isoformat(),
                "results": [r.as_json() for r in self.results],
                "flags": [{"key": f.key, "text": f.text, "evidence": list(f.evidence)} for f in self.flags],
                "level": self.level, "summary": self.summary.as_json(), "note": self.note}

    @staticmethod
    def from_json(data: dict[str, Any], *, cached: bool = False) -> Report:
        return Report(data["target"], data["kind"], datetime.fromisoformat(data["checked_at"]),
                      tuple(CheckResult.from_json(r) for r in data["results"]),
                      tuple(Flag(f["key"], f["text"], tuple(f["evidence"])) for f in data["flags"]),
                      data["level"], Summary.from_json(data["summary"]), data.get("note"), cached)


def render(report: Report) -> str:
    when = report.checked_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"*Background check: {report.target}* ({report.kind})",
             f"Checked {when}" + (" (cached; add --refresh to check again)" if report.cached else ""),
             f"*Risk: {report.level}*"]
    lines += [f"• 🚩 {f.text}" for f in report.flags]
    if report.note:
        lines.append(f"_{report.note}_")
    lines.append("*Checks*")
    for r in report.results:
        lines.append(f"• {TITLES.get(r.name, r.name)}: {MARK[r.status]}: {r.line}")
        lines += [f"    – {n}" for n in r.notes if r.status is Status.WARNING]
    s = report.summary
    lines.append("*Summary*" + (" (model; every claim cites its evidence)" if s.source == "model"
                                else " (by rule)"))
    for claim in s.claims:
        cite = f" [{', '.join(claim.evidence)}]" if claim.evidence and s.source == "model" else ""
        lines.append(f"• {claim.text}{cite}")
    if s.source == "model" and not s.claims:
        lines.append("• (no claim survived the evidence check)")
    if s.dropped:
        lines.append(f"_{len(s.dropped)} claim(s) dropped because the evidence does not support them:_")
        lines += [f"    – {d}" for d in s.dropped]
    if s.notice:
        lines.append(f"_{s.notice}_")
    return "\n".join(lines)
