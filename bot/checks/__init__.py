"""Background checks, one module per source; this module holds what every check returns.

A check is an async function that gathers facts about one target and returns a `CheckResult`:
its status (ok / warning / failed to check), one line for the rep, and the facts it found as
flat `evidence` keys ("whois.created", "dns.mx", ...). The summary may only cite those keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed to check"  # the source did not answer usefully; says nothing about the buyer
    SKIPPED = "not checked"  # nothing to check (not configured, or not applicable to this target)


@dataclass(frozen=True)
class CheckResult:
    name: str  # "dns", "whois", "website", "email", "phone", "history", "search"
    status: Status
    line: str  # one sentence for the rep
    evidence: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # why it is a warning, in plain words

    @staticmethod
    def failed(name: str, why: str) -> CheckResult:
        return CheckResult(name, Status.FAILED, f"failed to check: {why}")

    @staticmethod
    def skipped(name: str, why: str) -> CheckResult:
        return CheckResult(name, Status.SKIPPED, why)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "line": self.line,
                "evidence": self.evidence, "notes": list(self.notes)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> CheckResult:
        return CheckResult(str(data["name"]), Status(data["status"]), str(data["line"]),
                           dict(data.get("evidence") or {}), tuple(data.get("notes") or ()))
