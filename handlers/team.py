"""`/assign <buyer> <rep>`: move a buyer to another rep, and tell both reps."""

from __future__ import annotations

import logging
import re

from bot import ownership, store_team
from bot.errors import TrademateError
from bot.models import CommandReply, CommandRequest, Contact
from bot.ports import DirectPost
from bot.services import Services
from bot.team import Rep, Team
from handlers.commands import command

log = logging.getLogger(__name__)

USAGE = "/assign <buyer> <rep>"
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def _rep(team: Team, surface: str, text: str) -> Rep:
    """A rep by name, `@name`, or a Slack mention `<@U…|name>`."""
    mention = _MENTION.match(text)
    rep = team.by_user(surface, mention.group(1)) if mention else team.by_name(text.lstrip("@"))
    if rep is None:
        names = ", ".join(r.name for r in team.reps)
        raise TrademateError(f"No rep called {text!r} in the team file; the reps are: {names}.")
    return rep


def _buyer(contact: Contact) -> str:
    return f"{contact.name} ({contact.phone})" if contact.name else contact.phone


async def tell(svc: Services, rep: Rep, text: str) -> None:
    """Tell one rep personally where the surface can (a Slack DM), else post it to the default channel."""
    target = ownership.address(svc.surface.name, rep)
    try:
        if target and isinstance(svc.surface, DirectPost):
            await svc.surface.post_to(target, text)
        else:
            await svc.surface.post(text)
    except TrademateError:
        log.exception("could not tell %s: %s", rep.name, text)


@command("assign", USAGE, "Give a buyer (phone number, name or conversation id) to another rep.")
async def assign(svc: Services, request: CommandRequest) -> CommandReply:
    team = svc.team
    if team.implicit:
        raise TrademateError("There is no team file (TRADEMATE_TEAM), so every buyer belongs to the whole channel.")
    parts = request.args.rsplit(maxsplit=1)
    if len(parts) != 2:
        raise TrademateError(f"Usage: {USAGE}, e.g. /assign +34612345678 Maria")
    target = _rep(team, request.surface, parts[1])
    matches = store_team.find_buyers(svc.store, parts[0])
    if not matches:
        raise TrademateError(f"No buyer matches {parts[0]!r}; give their phone number, name or conversation id.")
    if len(matches) > 1:
        listed = "; ".join(f"#{cid} {_buyer(c)}" for cid, c in matches[:10])
        raise TrademateError(f"{len(matches)} buyers match {parts[0]!r}: {listed}. Use the number or #id.")
    conversation_id, contact = matches[0]
    current = ownership.ensure_owner(svc, conversation_id)
    actor = ownership.actor_rep(team, request.surface, request.actor)
    if request.surface not in ownership.TRUSTED_SURFACES and (
        actor is None or not (actor.is_manager or actor.name == current.name)
    ):
        raise TrademateError(f"Only {current.name} (who owns {_buyer(contact)}) or a manager can move this buyer.")
    if target.name == current.name:
        return CommandReply(f"{_buyer(contact)} already belongs to {target.name}.", ephemeral=True)
    store_team.set_owner(svc.store, conversation_id, target.name, svc.clock.now())
    by = actor.name if actor else request.actor
    await tell(svc, current, f"{_buyer(contact)} was moved from you to {target.name} by {by}.")
    await tell(svc, target, f"{_buyer(contact)} is now yours (moved from {current.name} by {by}); "
                            "their next messages come to you.")
    return CommandReply(f"{_buyer(contact)} now belongs to {target.name} (was {current.name}).", ephemeral=True)
