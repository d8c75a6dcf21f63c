"""Slack Socket Mode: the same bolt AsyncApp, fed over a WebSocket instead of POST /slack/events.

Used when SLACK_APP_TOKEN (xapp-…, scope connections:write) is set, so Trademate needs no public
URL for Slack. `apps.connections.open` goes through the app's own AsyncWebClient, so
SLACK_API_URL applies to it as to every other call.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)


class SlackSocket:
    """Connects at start-up and disconnects at shutdown (the Runtime lifespan)."""

    def __init__(self, app: AsyncApp, app_token: str) -> None:
        self.app = app
        self.app_token = app_token
        self.handler: AsyncSocketModeHandler | None = None

    async def start(self) -> None:
        # Built here, not in __init__: the client opens an aiohttp session, which wants a running loop.
        self.handler = AsyncSocketModeHandler(self.app, self.app_token)
        await self.handler.connect_async()
        log.info("Slack Socket Mode connected")

    async def stop(self) -> None:
        handler, self.handler = self.handler, None
        if handler is not None:
            await handler.close_async()
