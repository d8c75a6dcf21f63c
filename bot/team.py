"""The sales team: reps and managers, where their cards go, their languages, zones and hours.

Loaded from the YAML file named by TRADEMATE_TEAM and validated at start-up; with no file,
one implicit rep stands for everyone in SLACK_CHANNEL / TELEGRAM_CHAT_ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import ConfigError
from bot.policy import LEVELS
from bot.yamlfile import read_yaml

LEVEL_RANK = {level: n for n, level in enumerate(LEVELS)}


def _hhmm(value: str) -> time:
    hour, _, minute = value.partition(":")
    return time(int(hour), int(minute or 0))


class RepSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    role: Literal["rep", "manager"] = "rep"
    slack_user: str | None = None
    telegram_user: int | None = None
    slack_channel: str | None = None
    telegram_chat: int | str | None = None
    languages: list[str] = Field(default_factory=lambda: ["en"])
    timezone: str = "UTC"
    working_hours: str = Field("09:00-18:00", pattern=r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$")
    digest_time: str = Field("08:30", pattern=r"^\d{1,2}:\d{2}$")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class RoutingRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    countries: list[str]
    rep: str


class AutonomySchema(BaseModel):
    """How much the manager delegates (see bot/policy.py). Only this file sets levels."""

    model_config = ConfigDict(extra="forbid")

    default: Literal["approve", "auto_if_safe", "auto"] = "approve"  # buyer messages, steps without a level
    ceiling: Literal["approve", "auto_if_safe", "auto"] | None = None  # no step above this; None = default


class TeamSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reps: list[RepSchema] = Field(min_length=1)
    routing: list[RoutingRule] = Field(default_factory=list)
    autonomy: AutonomySchema = Field(default_factory=AutonomySchema)


@dataclass(frozen=True)
class Rep:
    name: str
    role: str
    slack_user: str | None
    telegram_user: int | None
    slack_channel: str | None
    telegram_chat: int | str | None
    languages: tuple[str, ...]
    timezone: str
    work_start: time
    work_end: time
    digest_at: time

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    @property
    def language(self) -> str:
        return self.languages[0] if self.languages else "en"


@dataclass(frozen=True)
class Team:
    reps: tuple[Rep, ...]
    routing: tuple[tuple[frozenset[str], str], ...] = ()
    implicit: bool = False  # no team file: one rep stands for everyone in the channel
    autonomy_default: str = "approve"  # bot/policy.py levels, set by the manager in the team file
    autonomy_ceiling: str = "approve"

    def by_name(self, name: str) -> Rep | None:
        return next((r for r in self.reps if r.name.lower() == name.lower()), None)

    def by_user(self, surface: str, user: str) -> Rep | None:
        for rep in self.reps:
            if surface == "slack" and rep.slack_user == user:
                return rep
            if surface == "telegram" and rep.telegram_user is not None and str(rep.telegram_user) == str(user):
                return rep
        return None

    @property
    def sellers(self) -> tuple[Rep, ...]:
        return tuple(r for r in self.reps if r.role == "rep") or self.reps

    @staticmethod
    def single(slack_channel: str = "", telegram_chat: str = "", language: str = "en",
               timezone: str = "UTC") -> Team:
        rep = Rep(name="team", role="manager", slack_user=None, telegram_user=None,
                  slack_channel=slack_channel or None, telegram_chat=telegram_chat or None,
                  languages=(language,), timezone=timezone, work_start=time(9), work_end=time(18),
                  digest_at=time(8, 30))
        return Team(reps=(rep,), implicit=True)


def load_team(path: Path) -> Team:
    """Read and validate a team file; every problem is named with its field."""
    raw = read_yaml(path, "TRADEMATE_TEAM")
    try:
        schema = TeamSchema.model_validate(raw or {})
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("Team file is invalid:\n  " + "\n  ".join(problems)) from exc
    names = [r.name.lower() for r in schema.reps]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: rep names must be unique")
    for rule in schema.routing:
        if rule.rep.lower() not in names:
            raise ConfigError(f"{path}: routing names rep {rule.rep!r}, who is not in reps")
    reps = tuple(
        Rep(name=r.name, role=r.role, slack_user=r.slack_user, telegram_user=r.telegram_user,
            slack_channel=r.slack_channel, telegram_chat=r.telegram_chat, languages=tuple(r.languages),
            timezone=r.timezone, work_start=_hhmm(r.working_hours.split("-")[0]),
            work_end=_hhmm(r.working_hours.split("-")[1]), digest_at=_hhmm(r.digest_time))
        for r in schema.reps
    )
    routing = tuple((frozenset(c.upper() for c in rule.countries), rule.rep) for rule in schema.routing)
    auto = schema.autonomy
    ceiling = auto.ceiling or auto.default
    if LEVEL_RANK[auto.default] > LEVEL_RANK[ceiling]:
        raise ConfigError(f"{path}: autonomy.default ({auto.default}) is above autonomy.ceiling ({ceiling})")
    return Team(reps=reps, routing=routing, autonomy_default=auto.default, autonomy_ceiling=ceiling)
