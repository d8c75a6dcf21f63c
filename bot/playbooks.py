"""Follow-up playbooks: the YAML schema, loading with errors that name file, line and field, and due times.

A playbook is a trigger plus steps. Each step waits (counted from the moment the trigger
happened, in the buyer's or the rep's time zone, inside the playbook's send window) and then
either drafts a message for the buyer (a prompt hint and/or a WhatsApp template) or nudges the
rep. Files live in `playbooks/*.yaml` and are validated at start-up and by
`trademate playbooks check`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.business_time import DAY_NAMES, Window, parse_hhmm, workdays_for, zone
from bot.errors import ConfigError

STAGES = ("new", "qualified", "quoted", "sample", "negotiating", "ordered", "won", "lost", "dormant")
Stage = Literal["new", "qualified", "quoted", "sample", "negotiating", "ordered", "won", "lost", "dormant"]
Autonomy = Literal["approve", "auto_if_safe", "auto"]


class PlaybookError(ConfigError):
    """One or more playbook files are invalid; the message has one `file:line: field: problem` per line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageEntered(_Strict):
    type: Literal["stage_entered"]
    stage: Stage
    within_days: int = Field(30, ge=1, description="ignore stage changes older than this (e.g. at first start)")


class Silence(_Strict):
    type: Literal["silence"]
    days: int = Field(ge=1)
    stages: list[Stage] | None = None  # only conversations in these stages; None = any stage


class Manual(_Strict):
    type: Literal["manual"]


class InquiryUnanswered(_Strict):
    type: Literal["inquiry_unanswered"]
    stages: list[Stage] = Field(default_factory=lambda: list[Stage](["new"]))


TRIGGER_TYPES = ("stage_entered", "silence", "manual", "inquiry_unanswered")
Trigger = Annotated[StageEntered | Silence | Manual | InquiryUnanswered, Field(discriminator="type")]


class Wait(_Strict):
    """How long after the trigger; exactly one unit."""

    business_days: int | None = Field(None, ge=0)
    business_hours: float | None = Field(None, gt=0)
    days: int | None = Field(None, ge=0)
    hours: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_unit(self) -> Wait:
        units = [k for k in ("business_days", "business_hours", "days", "hours") if getattr(self, k) is not None]
        if len(units) != 1:
            raise ValueError("give exactly one of business_days, business_hours, days, hours")
        return self


class SendWindow(_Strict):
    start: str = Field("09:00", pattern=r"^\d{1,2}:\d{2}$")
    end: str = Field("18:00", pattern=r"^\d{1,2}:\d{2}$")
    days: Literal["buyer"] | list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = "buyer"

    @model_validator(mode="after")
    def _ordered(self) -> SendWindow:
        try:
            start, end = parse_hhmm(self.start), parse_hhmm(self.end)
        except ValueError as exc:
            raise ValueError(f"not a time of day: {exc}") from exc
        if end <= start:
            raise ValueError("end must be later than start")
        if isinstance(self.days, list) and not self.days:
            raise ValueError("days must name at least one day")
        return self


class Step(_Strict):
    wait: Wait
    prompt: str | None = Field(None, min_length=1, description="instruction for the drafter")
    template: str | None = Field(None, min_length=1, description="templates.yaml entry, used outside 24 h")
    nudge: str | None = Field(None, min_length=1, description="notice for the rep instead of a draft")
    autonomy: Autonomy = "approve"

    @model_validator(mode="after")
    def _what(self) -> Step:
        if self.nudge and (self.prompt or self.template):
            raise ValueError("a nudge step tells the rep; it cannot also have a prompt or template")
        if not (self.nudge or self.prompt or self.template):
            raise ValueError("say what to do: prompt and/or template (a message for the buyer), or nudge")
        if self.nudge and self.autonomy != "approve":
            raise ValueError("autonomy applies to messages for the buyer, not to nudges")
        return self

    @property
    def is_nudge(self) -> bool:
        return self.nudge is not None


class PlaybookSchema(_Strict):
    name: str | None = Field(None, pattern=r"^[a-z0-9_\-]+$")
    title: str = Field(min_length=1)
    trigger: Trigger
    timezone: Literal["buyer", "rep"] = "buyer"
    send_window: SendWindow = Field(default_factory=lambda: SendWindow.model_validate({}))
    steps: list[Step] = Field(min_length=1)


@dataclass(frozen=True)
class Playbook:
    name: str
    path: Path
    spec: PlaybookSchema

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def trigger(self) -> StageEntered | Silence | Manual | InquiryUnanswered:
        return self.spec.trigger

    @property
    def steps(self) -> list[Step]:
        return self.spec.steps

    def window(self, timezone: str | None, country: str | None) -> Window:
        days = self.spec.send_window.days
        workdays = workdays_for(country) if days == "buyer" else frozenset(DAY_NAMES.index(d) for d in days)
        return Window(parse_hhmm(self.spec.send_window.start), parse_hhmm(self.spec.send_window.end), workdays,
                      zone(timezone))

    def due_times(self, anchor: datetime, timezone: str | None, country: str | None) -> list[datetime]:
        """When each step falls due, for a trigger that happened at `anchor`."""
        window = self.window(timezone, country)
        return [due_time(window, anchor, step.wait) for step in self.steps]


def due_time(window: Window, anchor: datetime, wait: Wait) -> datetime:
    if wait.business_days is not None:
        return window.after_business_days(anchor, wait.business_days)
    if wait.business_hours is not None:
        return window.after_business_hours(anchor, wait.business_hours)
    if wait.days is not None:
        return window.after_calendar_days(anchor, wait.days)
    return window.next_open(anchor + timedelta(hours=wait.hours or 0))


@dataclass(frozen=True)
class PlaybookSet:
    playbooks: tuple[Playbook, ...] = ()

    def get(self, name: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.name == name), None)

    def by_trigger(self, kind: str) -> list[Playbook]:
        return [p for p in self.playbooks if p.trigger.type == kind]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.playbooks]


def load_playbook(path: Path) -> Playbook:
    """Read and validate one file; a PlaybookError names the file, line and field of every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise PlaybookError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if not isinstance(raw, dict):
        raise PlaybookError(f"{path}:1: a playbook is a mapping with title, trigger and steps")
    try:
        spec = PlaybookSchema.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            # pydantic puts the union tag in the path (trigger.stage_entered.stage); the file has no such key
            shown = [p for n, p in enumerate(loc) if not (n == 1 and loc[0] == "trigger" and p in TRIGGER_TYPES)]
            field = ".".join(shown) or "(top)"
            problems.append(f"{path}:{_line_of(node, loc)}: {field}: {err['msg']}")
        raise PlaybookError("\n".join(problems)) from exc
    return Playbook(name=spec.name or path.stem, path=path, spec=spec)


def load_playbooks(directory: Path) -> PlaybookSet:
    """Every `*.yaml` in `directory`; all problems of all files are reported together."""
    if not directory.is_dir():
        raise PlaybookError(f"{directory}: no such playbook directory")
    found: list[Playbook] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.y*ml")):
        try:
            found.append(load_playbook(path))
        except PlaybookError as exc:
            problems.append(str(exc))
    seen: dict[str, Path] = {}
    for playbook in found:
        if playbook.name in seen:
            problems.append(f"{playbook.path}:1: name: {playbook.name!r} is already used by {seen[playbook.name]}")
        seen[playbook.name] = playbook.path
    if problems:
        raise PlaybookError("Playbooks are invalid:\n  " + "\n  ".join("\n".join(problems).splitlines()))
    return PlaybookSet(tuple(found))


def _line_of(node: Any, loc: Sequence[str]) -> int:
    """1-based line of the YAML node at `loc`; the nearest existing parent when the field is missing.

    Parts of `loc` that are not keys (pydantic's union tags such as `stage_entered`) are skipped.
    """
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if str(k.value) == part), None)
            if match is None:
                continue
            key = next(k for k, v in node.value if v is match)
            line, node = key.start_mark.line + 1, match
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
    return line
