"""Who owns a buyer, where their cards go, what language they read, and who may decide on a card.

Every conversation has an owner (a rep's name in `conversations.owner`). A new buyer goes to the
rep the team file's country routing names, else to the next seller round-robin; the cursor lives
in SQLite so a restart carries on fairly. With no team file one implicit rep ("team") owns every
conversation and everyone in the channel may decide, as before teams existed.
"""

from __future__ import annotations

from bot import store_team
from bot.models import DecisionRequest
from bot.services import Services
from bot.team import Rep, Team

# Surfaces driven by the operator at the server itself (the demo terminal, the CLI, the bot's own
# housekeeping): there is no platform identity to check, and whoever is there runs the server.
TRUSTED_SURFACES = frozenset({"console", "cli", "system"})


def routed_rep(team: Team, country: str | None) -> str | None:
    """The rep a country rule sends this buyer to, if any rule names the country."""
    if not country:
        return None
    for countries, rep in team.routing:
        if country.upper() in countries:
            return rep
    return None


def ensure_owner(svc: Services, conversation_id: int) -> Rep:
    """The conversation's owner, assigning one (once) when it has none or names a rep no longer in the team."""
    team, store = svc.team, svc.store
    current = store_team.owner(store, conversation_id)
    rep = team.by_name(current) if current else None
    if rep is not None:
        return rep
    country = store_team.buyer(store, conversation_id).country
    name, _ = store_team.assign_if_unowned(store, conversation_id, routed_rep(team, country),
                                           [r.name for r in team.sellers], [r.name for r in team.reps])
    rep = team.by_name(name)
    assert rep is not None  # routing and sellers only name reps of this team (checked at load)
    return rep


def rep_language(svc: Services, rep: Rep) -> str:
    """The language the owner reads translations in: their first language, or the global setting."""
    return svc.rep_language if svc.team.implicit else rep.language


def destination(surface: str, rep: Rep) -> str | None:
    """Where `rep`'s cards go on `surface`; None means the surface's default channel or chat."""
    if surface == "slack":
        return rep.slack_channel
    if surface == "telegram" and rep.telegram_chat is not None:
        return str(rep.telegram_chat)
    return None


def address(surface: str, rep: Rep) -> str | None:
    """Where to tell `rep` something personally: a DM to their user id, else their cards' channel."""
    if surface == "slack":
        return rep.slack_user or rep.slack_channel
    if surface == "telegram":
        target = rep.telegram_user if rep.telegram_user is not None else rep.telegram_chat
        return None if target is None else str(target)
    return None


def actor_rep(team: Team, surface: str, actor: str) -> Rep | None:
    return None if team.implicit else team.by_user(surface, actor)


def refusal(svc: Services, req: DecisionRequest, conversation_id: int) -> str | None:
    """None when `req.actor` may decide on this conversation's card, else the sentence saying why not."""
    if svc.team.implicit or req.surface in TRUSTED_SURFACES:
        return None
    owner = ensure_owner(svc, conversation_id)
    rep = svc.team.by_user(req.surface, req.actor)
    if rep is None:
        return (f"Only {owner.name} (this buyer's owner) or a manager can decide on this card, and you are not "
                "in the team file. Nothing was sent.")
    if rep.is_manager or rep.name == owner.name:
        return None
    return f"This buyer belongs to {owner.name}: only {owner.name} or a manager can decide on it. Nothing was sent."
