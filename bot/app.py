"""The composition root: build every part from Settings and wire them to one `Inbox`.

Production (`trademate run`) and the demo use the same Inbox, store, drafter and handlers;
only the adapters at the edges differ.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.background import BackgroundChecker
from bot.catalog import Catalog, load_catalog
from bot.channels import whatsapp
from bot.channels.router import ChannelRouter
from bot.channels.twilio import TwilioChannel, build_client
from bot.config import Settings
from bot.drafting import build_drafter
from bot.errors import ConfigError
from bot.inbox import Inbox
from bot.metrics import Metrics
from bot.playbooks import load_playbooks
from bot.ports import BuyerChannel, ChatSurface, Clock, Drafter, SystemClock
from bot.scheduler import Scheduler
from bot.services import Services
from bot.store import Store
from bot.team import Team, load_team
from bot.templates import templates_from
from handlers import autosend
from handlers.followups import FollowupRunner

log = logging.getLogger(__name__)

# Modules whose @command / @button registrations make up the command set.
COMMAND_MODULES = ("handlers.commands", "handlers.team", "handlers.bgcheck", "handlers.autosend", "handlers.stage",
                   "handlers.analysis", "handlers.followup_commands",
                   "handlers.digest")
for _module in COMMAND_MODULES:
    importlib.import_module(_module)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    services: Services
    inbox: Inbox
    metrics: Metrics = field(default_factory=Metrics)
    slack_endpoint: Callable[[Request], Awaitable[Response]] | None = None
    scheduler: Scheduler = field(default_factory=Scheduler)
    slack_socket: Any = None  # bot.surfaces.slack_socket.SlackSocket when SLACK_APP_TOKEN is set
    telegram_endpoint: Callable[[Request], Awaitable[Response]] | None = None
    # Adapters that must start before work resumes and stop after it drains (Telegram's Application).
    edges: list[Callable[[], AbstractAsyncContextManager[None]]] = field(default_factory=list)
    followups: FollowupRunner | None = None

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for edge in self.edges:
                await stack.enter_async_context(edge())
            resumed = await self.inbox.resume()
            if any(resumed.values()):
                log.info("resumed unfinished work: %s", resumed)
            self.scheduler.every("sweep", 60, self.inbox.sweep)
            self.scheduler.start()
            if self.slack_socket is not None:
                await self.slack_socket.start()
            try:
                yield
            finally:
                if self.slack_socket is not None:
                    await self.slack_socket.stop()
                self.scheduler.shutdown()
                await self.inbox.drain()

    def close(self) -> None:
        self.store.close()


def build_runtime(settings: Settings, *, clock: Clock | None = None, surface: ChatSurface | None = None,
                  channel: BuyerChannel | None = None, drafter: Drafter | None = None,
                  catalog: Catalog | None = None) -> Runtime:
    """Build from settings; the keyword arguments replace an edge adapter (the demo's console)."""
    catalog = catalog or load_catalog(settings.catalog_path)
    store = Store(settings.trademate_db)
    slack_parts: tuple[Any, Any] | None = None
    telegram_parts: tuple[Any, Any] | None = None
    if surface is None:
        if not (settings.slack_enabled or settings.telegram_enabled):
            raise ConfigError("No rep surface configured: set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_CHANNEL "
                              "or TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID")
        if settings.slack_enabled:
            from bot.surfaces import slack

            client = slack.build_client(settings.slack_bot_token, settings.slack_api_url)
            surface = slack.SlackSurface(client, settings.slack_channel)
            slack_parts = (slack, client)
        if settings.telegram_enabled:
            telegram_parts = _telegram_surface(settings, store, clock)
            surface = telegram_parts[1] if surface is None else _fan_out(surface, telegram_parts[1])
    assert surface is not None  # one of the branches above set it, or ConfigError was raised
    if channel is None:
        channel = build_channel(settings)
    team = (load_team(Path(settings.trademate_team)) if settings.trademate_team else
            Team.single(settings.slack_channel, settings.telegram_chat_id, settings.trademate_rep_language))
    services = Services(
        store=store,
        drafter=drafter or build_drafter(settings, catalog),
        surface=surface,
        channel=channel,
        catalog=catalog,
        clock=clock or SystemClock(),
        rep_language=settings.trademate_rep_language,
        history_size=settings.trademate_history,
        team=team,
        background=BackgroundChecker.from_settings(settings),
        templates=templates_from(settings, catalog),
        undo_seconds=settings.trademate_undo_seconds,
        playbooks=load_playbooks(settings.playbooks_dir),
    )
    inbox = Inbox(services)
    runtime = Runtime(settings=settings, store=store, services=services, inbox=inbox)
    from handlers.digest import schedule_digests

    schedule_digests(runtime.scheduler, services)  # each rep's morning digest, in their own time zone
    autosend.schedule(runtime.scheduler, services)
    runtime.followups = followups = FollowupRunner(services)
    runtime.scheduler.every("followups", settings.trademate_followup_tick, followups.tick)
    runtime.scheduler.every("followups_silence", 3600, followups.scan_silence)
    if slack_parts is not None:
        slack, client = slack_parts
        bolt = slack.create_slack_app(signing_secret=settings.slack_signing_secret, client=client,
                                      decide=inbox.decide, get_card=inbox.card, run=inbox.command,
                                      press=inbox.press, may_decide=inbox.refusal,
                                      socket_only=not settings.slack_signing_secret)
        if settings.slack_signing_secret:  # without it only Socket Mode may feed the app
            runtime.slack_endpoint = slack.starlette_route_handler(bolt)
        if settings.slack_app_token:
            from bot.surfaces.slack_socket import SlackSocket

            runtime.slack_socket = SlackSocket(bolt, settings.slack_app_token)
    if telegram_parts is not None:
        _wire_telegram(runtime, *telegram_parts)
    return runtime


def _telegram_surface(settings: Settings, store: Store, clock: Clock | None) -> tuple[Any, Any]:
    """The PTB Application (webhook mode with a public URL, else long polling) and its surface."""
    from bot.surfaces import telegram

    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is needed to verify Telegram webhook calls")
    application = telegram.build_application(settings.telegram_bot_token, settings.telegram_api_url,
                                             polling=not settings.telegram_webhook_url)
    return application, telegram.TelegramSurface(application.bot, store, settings.telegram_chat_id, clock)


def _fan_out(slack_surface: ChatSurface, telegram_surface: ChatSurface) -> ChatSurface:
    from bot.surfaces.fanout import FanOutSurface

    return FanOutSurface(slack_surface, telegram_surface)


def _wire_telegram(runtime: Runtime, application: Any, surface: Any) -> None:
    from bot.surfaces import telegram_bot
    from handlers.commands import COMMANDS

    inbox, settings = runtime.inbox, runtime.settings
    tg = telegram_bot.TelegramBot(
        application, surface=surface, decide=inbox.decide, get_card=inbox.card, run=inbox.command,
        press=inbox.press, commands=[(c.name, c.help) for c in sorted(COMMANDS.values(), key=lambda c: c.name)],
        webhook_url=settings.telegram_webhook_url, secret=settings.telegram_webhook_secret)
    runtime.telegram_endpoint = telegram_bot.webhook_endpoint(tg, settings.telegram_webhook_secret, runtime.metrics)
    runtime.edges.append(tg.running)


def build_channel(settings: Settings) -> BuyerChannel:
    """Twilio, the WhatsApp Cloud API, or both (each reply goes back the way its buyer came)."""
    channels: dict[str, BuyerChannel] = {}
    if settings.twilio_enabled:
        public = settings.trademate_public_url.rstrip("/")
        twilio = TwilioChannel(
            build_client(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url),
            settings.twilio_from,
            status_callback=f"{public}/twilio/status" if public else None,
        )
        channels.update({"whatsapp": twilio, "sms": twilio})
    if settings.whatsapp_enabled:
        channels[whatsapp.SCHEME] = whatsapp.WhatsAppCloudChannel(
            settings.whatsapp_token, settings.whatsapp_phone_number_id, settings.whatsapp_api_url)
    if not channels:
        raise ConfigError("No buyer channel configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM "
                          "or WHATSAPP_TOKEN, WHATSAPP_PHONE_NUMBER_ID")
    distinct = {id(c): c for c in channels.values()}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    return ChannelRouter(channels, default=channels.get("sms"))
