"""The daily digest and the numbers on demand: each rep's morning job, `/digest`, `/stats`.

A scheduled digest is claimed in SQLite per (rep, local date) before it is sent, so a restart or a
doubled job never sends it twice. Surfaces that can post a picture implement `post_digest`
(Slack: message + files_upload_v2; Telegram: sendPhoto on its own branch); any other surface gets
the text through `post`, which reads fine without the chart.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from bot import store_digest as q
from bot.cards import build_card
from bot.digest import SHOW_CARD, Digest, DigestData, compose, stats_lines
from bot.digest_chart import render_chart
from bot.errors import TrademateError
from bot.models import ButtonPress, CommandReply, CommandRequest, DraftState, ReplyButton
from bot.scheduler import Scheduler
from bot.services import Services
from bot.store import Store
from bot.team import Rep, Team
from handlers.commands import button, command

log = logging.getLogger(__name__)

WINDOW_HOURS = 6  # "closing soon" for WhatsApp's 24-hour window
SILENT_DAYS = 3  # a quote unanswered this long counts as gone silent
CATCH_UP = timedelta(hours=3)  # a digest missed by a downtime is still worth sending this long after


@runtime_checkable
class DigestSurface(Protocol):
    """A surface that can post the digest with its chart; `destination` None = its default place."""

    async def post_digest(self, text: str, png: bytes | None, destination: str | None,
                          buttons: tuple[ReplyButton, ...] = ()) -> None: ...

    def digest_format(self, destination: str | None) -> str:
        """"slack" (mrkdwn links) or "plain" for the place the digest goes."""
        ...


def owner_of(team: Team, rep: Rep) -> str | None:
    """Whose buyers a digest covers: a manager (and the implicit one-rep team) sees everyone."""
    return None if rep.is_manager or team.implicit else rep.name


def destination_of(rep: Rep, surface: str) -> str | None:
    """Where this rep's digest goes on `surface`; None = the surface's default channel."""
    if surface == "slack":
        return rep.slack_channel
    if surface == "telegram":
        return str(rep.telegram_chat) if rep.telegram_chat is not None else None
    if surface == "slack+telegram":  # the rep's Slack channel, else their Telegram chat
        return rep.slack_channel or (str(rep.telegram_chat) if rep.telegram_chat is not None else None)
    return None


def actor_names(team: Team) -> dict[str, str]:
    names: dict[str, str] = {}
    for rep in team.reps:
        if rep.slack_user:
            names[f"slack:{rep.slack_user}"] = rep.name
        if rep.telegram_user is not None:
            names[f"telegram:{rep.telegram_user}"] = rep.name
    return names


HOT_DAYS = 7  # a hot score older than this is not news any more


def collect(store: Store, team: Team, rep: Rep, now: datetime) -> DigestData:
    """Read everything the rep's digest shows, as of `now`."""
    owner = owner_of(team, rep)
    week, month = q.periods(store, owner, now, (7, 30))
    tz = ZoneInfo(rep.timezone)
    local = now.astimezone(tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    return DigestData(
        rep=rep.name, team=owner is None, timezone=rep.timezone, now=now,
        new=q.new_inquiries(store, owner, now - timedelta(days=1), now),
        waiting=q.waiting_cards(store, owner),
        follow_ups=q.follow_ups_due(store, owner, day_start, day_end),
        windows=q.windows_closing(store, owner, now, WINDOW_HOURS),
        failed=q.failed_deliveries(store, owner, now - timedelta(days=1)),
        hot=q.hot_buyers(store, owner, since=now - timedelta(days=HOT_DAYS)),
        silent=q.silent_after_quote(store, owner, now, SILENT_DAYS),
        week=week,
        month=month,
        names=actor_names(team),
        window_hours=WINDOW_HOURS,
        silent_days=SILENT_DAYS,
    )


def _collect_apart(path: str, team: Team, rep: Rep, now: datetime) -> DigestData:
    store = Store(path)
    try:
        return collect(store, team, rep, now)
    finally:
        store.close()


async def build(svc: Services, rep: Rep, *, chart: bool = True) -> tuple[Digest, DigestData, bytes | None]:
    """Collect, compose and (unless the day is empty) draw the chart for `rep`'s digest now."""
    now, path = svc.clock.now(), q.database_file(svc.store)
    if path:
        # On a big database the queries take a few hundred ms: read through a connection of their own
        # in a thread (WAL readers never block the writer) so webhooks keep being acknowledged.
        data = await asyncio.to_thread(_collect_apart, path, svc.team, rep, now)
    else:
        data = collect(svc.store, svc.team, rep, now)  # an in-memory database has one connection
    digest = compose(data)
    png = None
    if chart and not digest.quiet:
        # matplotlib takes ~100 ms: keep it off the event loop.
        png = await asyncio.to_thread(render_chart, data.week, data.month, digest.local_date)
    return digest, data, png


async def deliver(svc: Services, digest: Digest, png: bytes | None, destination: str | None) -> None:
    surface = svc.surface
    if isinstance(surface, DigestSurface):
        text = digest.text(surface.digest_format(destination))
        await surface.post_digest(text, png, destination, digest.buttons)
    else:
        await surface.post(digest.text("plain"))  # e.g. the console: the text alone reads fine


async def send_scheduled(svc: Services, rep: Rep) -> bool:
    """The morning job: send `rep` their digest once per local day; False if already sent today."""
    now = svc.clock.now()
    local_date = now.astimezone(ZoneInfo(rep.timezone)).date().isoformat()
    if not q.claim_digest(svc.store, rep.name, local_date, now):
        log.info("digest for %s on %s already sent; skipping", rep.name, local_date)
        return False
    try:
        digest, _, png = await build(svc, rep)
        await deliver(svc, digest, png, destination_of(rep, svc.surface.name))
    except BaseException:
        q.release_digest(svc.store, rep.name, local_date)  # not sent: let a later run today try again
        raise
    return True


async def catch_up(svc: Services) -> list[str]:
    """Send the digests whose time passed less than CATCH_UP ago and that the ledger lacks: the
    server was down (or restarting) at that rep's digest time. Returns the reps it sent to."""
    now, sent = svc.clock.now(), []
    for rep in svc.team.reps:
        local = now.astimezone(ZoneInfo(rep.timezone))
        due = local.replace(hour=rep.digest_at.hour, minute=rep.digest_at.minute, second=0, microsecond=0)
        if not due <= local < due + CATCH_UP:
            continue
        try:
            if await send_scheduled(svc, rep):
                sent.append(rep.name)
        except Exception:
            log.exception("catching up the digest for %s failed; the next check retries", rep.name)
    return sent


def schedule_digests(scheduler: Scheduler, svc: Services) -> list[str]:
    """One daily job per rep at their `digest_time` in their own time zone, and a check every
    10 minutes that sends what a downtime made the daily jobs miss (the ledger prevents doubles)."""
    scheduler.every("digest:catch-up", 600, lambda: catch_up(svc))
    ids = ["digest:catch-up"]
    for rep in svc.team.reps:
        job_id = f"digest:{rep.name}"

        async def job(rep: Rep = rep) -> None:
            await send_scheduled(svc, rep)

        scheduler.daily(job_id, rep.digest_at.hour, rep.digest_at.minute, rep.timezone, job)
        ids.append(job_id)
    return ids


# -- commands ---------------------------------------------------------------------------------------


def _asker(svc: Services, request: CommandRequest) -> Rep:
    rep = svc.team.by_user(request.surface, request.actor)
    if rep is None and svc.team.implicit:
        return svc.team.reps[0]
    if rep is None:
        raise TrademateError("I don't know you yet: ask your manager to add your user id to the team file.")
    return rep


def _pick(svc: Services, asker: Rep, name: str) -> Rep:
    """The rep `name` names, if the asker may see them (managers see everyone)."""
    if not name or name.lower() == asker.name.lower():
        return asker
    rep = svc.team.by_name(name)
    if rep is None:
        known = ", ".join(r.name for r in svc.team.reps)
        raise TrademateError(f"No rep called {name!r} (the team: {known}).")
    if not (asker.is_manager or svc.team.implicit):
        raise TrademateError("Only a manager can see another rep's digest or numbers.")
    return rep


@command("digest", "/digest [rep]", "Post today's digest here now (managers may name a rep).")
async def digest_command(svc: Services, request: CommandRequest) -> CommandReply:
    rep = _pick(svc, _asker(svc, request), request.args.strip())
    digest, _, png = await build(svc, rep)
    await deliver(svc, digest, png, request.channel or destination_of(rep, svc.surface.name))
    return CommandReply(f"Digest for {rep.name} posted.", ephemeral=True)


_PERIOD = re.compile(r"^(\d{1,3})d$", re.I)


@command("stats", "/stats [7d|30d] [rep]", "Messages, replies, reply time, draft outcomes and the funnel.")
async def stats_command(svc: Services, request: CommandRequest) -> CommandReply:
    asker = _asker(svc, request)
    days, names = 7, []
    for token in request.args.split():
        match = _PERIOD.match(token)
        if match and 1 <= int(match.group(1)) <= 365:
            days = int(match.group(1))
        else:
            names.append(token)
    if len(names) > 1:
        raise TrademateError("Usage: /stats [7d|30d] [rep]")
    if names and names[0].lower() == "team":
        if not (asker.is_manager or svc.team.implicit):
            raise TrademateError("Only a manager can see the team's numbers.")
        rep, owner = asker, None
    else:
        rep = _pick(svc, asker, names[0] if names else "")
        owner = owner_of(svc.team, rep)
    numbers = q.numbers(svc.store, owner, svc.clock.now(), days)
    title = "the team" if owner is None else rep.name
    lines = stats_lines(numbers, None, actor_names(svc.team), per_rep=owner is None)
    return CommandReply(f"*Numbers for {title}*\n" + "\n".join(lines[1:]), ephemeral=True)


@button(SHOW_CARD)
async def show_card(svc: Services, press: ButtonPress) -> CommandReply | None:
    """A digest line without a link: bring that draft's card up again."""
    try:
        draft = svc.store.draft(int(press.value))
    except (KeyError, ValueError):
        return CommandReply("That card is gone.", ephemeral=True)
    card_ref = await svc.surface.request_approval(build_card(svc, draft.id))
    if draft.state is DraftState.PENDING:
        svc.store.set_card_ref(draft.id, card_ref)  # taps on the new copy update this one from now on
    return None
