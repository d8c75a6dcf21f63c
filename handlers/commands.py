"""Slash commands, platform-neutral: a registry from name to handler, and one `run_command` entry.

Modules that add a command decorate an async function with `@command("name", "usage", "help")`;
surfaces and the CLI call `run_command` and render the `CommandReply` they get back.
Unknown commands and business errors become a reply for the rep, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.errors import TrademateError
from bot.models import ButtonPress, CommandReply, CommandRequest
from bot.services import Services

log = logging.getLogger(__name__)

Handler = Callable[[Services, CommandRequest], Awaitable[CommandReply]]
ButtonHandler = Callable[[Services, ButtonPress], Awaitable[CommandReply | None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    help: str
    handler: Handler


COMMANDS: dict[str, CommandSpec] = {}
BUTTONS: dict[str, ButtonHandler] = {}


def command(name: str, usage: str, help: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"command /{name} registered twice")
        COMMANDS[name] = CommandSpec(name, usage, help, fn)
        return fn

    return register


def button(action: str) -> Callable[[ButtonHandler], ButtonHandler]:
    """Register what a `ReplyButton(action=...)` does when tapped."""

    def register(fn: ButtonHandler) -> ButtonHandler:
        if action in BUTTONS:
            raise ValueError(f"button {action} registered twice")
        BUTTONS[action] = fn
        return fn

    return register


async def press_button(svc: Services, press: ButtonPress) -> CommandReply | None:
    handler = BUTTONS.get(press.action)
    if handler is None:
        return CommandReply("That button is no longer supported.", ephemeral=True)
    try:
        return await handler(svc, press)
    except TrademateError as exc:
        return CommandReply(str(exc), ephemeral=True)
    except Exception:
        log.exception("button %s failed", press.action)
        return CommandReply("That action failed unexpectedly; the error is in the server log.", ephemeral=True)


async def run_command(svc: Services, request: CommandRequest) -> CommandReply:
    spec = COMMANDS.get(request.name.lstrip("/").lower())
    if spec is None:
        return CommandReply(f"Unknown command /{request.name}. Try /help.", ephemeral=True)
    try:
        return await spec.handler(svc, request)
    except TrademateError as exc:
        return CommandReply(str(exc), ephemeral=True)
    except Exception:
        log.exception("command /%s failed", spec.name)
        return CommandReply(f"/{spec.name} failed unexpectedly; the error is in the server log.", ephemeral=True)


@command("help", "/help", "List the commands Trademate understands.")
async def help_command(svc: Services, request: CommandRequest) -> CommandReply:
    lines = ["*Trademate commands*"] + [f"• `{c.usage}`: {c.help}" for c in sorted(COMMANDS.values(),
                                                                                 key=lambda c: c.name)]
    return CommandReply("\n".join(lines), ephemeral=True)
