"""`trademate digest`: print a rep's digest in the terminal (--dry-run) or send it now."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.digest import compose
from bot.digest_chart import render_chart
from bot.errors import ConfigError
from bot.store import Store
from bot.team import Rep, Team, load_team


def _team(settings: Settings) -> Team:
    if settings.trademate_team:
        return load_team(Path(settings.trademate_team))
    return Team.single(settings.slack_channel, settings.telegram_chat_id, settings.trademate_rep_language)


def _rep(team: Team, name: str | None) -> Rep:
    if not name:
        if len(team.reps) == 1:
            return team.reps[0]
        raise ConfigError("Name the rep: --rep " + "|".join(r.name for r in team.reps))
    rep = team.by_name(name)
    if rep is None:
        raise ConfigError(f"No rep called {name!r} in the team (the team: {', '.join(r.name for r in team.reps)})")
    return rep


def main(settings: Settings, *, rep_name: str | None, dry_run: bool, chart: str | None) -> int:
    from handlers.digest import build, collect, deliver, destination_of

    team = _team(settings)
    rep = _rep(team, rep_name)
    if dry_run:
        db = settings.trademate_db
        if db != ":memory:" and not Path(db).is_file():
            raise ConfigError(f"TRADEMATE_DB: no database at {db}")
        store = Store(db)
        try:
            data = collect(store, team, rep, datetime.now(UTC))
        finally:
            store.close()
        digest = compose(data)
        print(digest.text("plain"))
        if chart:
            Path(chart).write_bytes(render_chart(data.week, data.month, digest.local_date))
            print(f"\n(chart written to {chart})")
        return 0

    from bot.app import build_runtime

    runtime = build_runtime(settings)
    try:
        async def send() -> None:
            digest, _, png = await build(runtime.services, rep)
            await deliver(runtime.services, digest, png, destination_of(rep, runtime.services.surface.name))

        asyncio.run(send())
    finally:
        runtime.close()
    print(f"Digest for {rep.name} sent.")
    return 0
