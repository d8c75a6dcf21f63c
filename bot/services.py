"""The bundle of collaborators a handler works with, built once by `bot.app`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.catalog import Catalog
from bot.ports import BuyerChannel, ChatSurface, Clock, Drafter, SystemClock
from bot.store import Store
from bot.team import Team
from bot.templates import Templates

if TYPE_CHECKING:
    from bot.background import BackgroundChecker


@dataclass
class Services:
    store: Store
    drafter: Drafter
    surface: ChatSurface
    channel: BuyerChannel
    catalog: Catalog
    clock: Clock = field(default_factory=SystemClock)
    rep_language: str = "en"
    history_size: int = 12
    team: Team = field(default_factory=Team.single)
    background: BackgroundChecker | None = None  # /bgcheck; None = not set up
    templates: Templates = field(default_factory=Templates)  # approved WhatsApp templates
    undo_seconds: float = 300.0  # how long an automatic send waits for a Cancel
