"""The rep corrects a conversation's lifecycle stage: `/stage <buyer> <stage>`, or "Change stage" on a card."""

from __future__ import annotations

from bot import store_lifecycle
from bot.cards import refresh_card
from bot.lifecycle import STAGES
from bot.models import ButtonPress, CommandReply, CommandRequest, ReplyButton
from bot.services import Services
from handlers.commands import button, command

_REASON = "rep correction"


async def _set(svc: Services, conversation_id: int, stage: str, actor: str) -> CommandReply:
    store = svc.store
    try:
        before = store_lifecycle.conversation(store, conversation_id)
    except KeyError:
        return CommandReply("Trademate no longer has that conversation.", ephemeral=True)
    if stage not in STAGES:
        return CommandReply(f"Unknown stage '{stage}'. Stages: {', '.join(STAGES)}.", ephemeral=True)
    contact = store.contact(before.contact_id)
    who = contact.name or contact.phone
    if not store_lifecycle.set_stage(store, conversation_id, stage, by=actor, reason=_REASON, now=svc.clock.now()):
        return CommandReply(f"{who} is already *{stage}*.", ephemeral=True)
    draft_id = store_lifecycle.latest_draft_id(store, conversation_id)
    if draft_id is not None:
        await refresh_card(svc, draft_id)
    return CommandReply(f"{who} is now *{stage}* (was {before.stage}).", ephemeral=True)


@command("stage", "/stage <buyer> <stage>", "Correct a buyer's deal stage: " + ", ".join(STAGES) + ".")
async def stage_command(svc: Services, request: CommandRequest) -> CommandReply:
    query, _, stage = request.args.strip().rpartition(" ")
    stage = stage.lower()
    if not query.strip() or stage not in STAGES:
        return CommandReply("Usage: /stage <buyer name or number> <stage>, with stage one of "
                            + ", ".join(STAGES) + ".", ephemeral=True)
    matches = store_lifecycle.find_conversations(svc.store, query.strip())
    if not matches:
        return CommandReply(f"No buyer matches '{query.strip()}'.", ephemeral=True)
    if len(matches) > 1:
        buttons = tuple(ReplyButton(f"{label} → {stage}", "stage_set", f"{cid}:{stage}") for cid, label in matches)
        return CommandReply(f"Several buyers match '{query.strip()}'; which one?", buttons, ephemeral=True)
    return await _set(svc, matches[0][0], stage, request.actor)


@button("stage_menu")
async def stage_menu(svc: Services, press: ButtonPress) -> CommandReply:
    """The card's "Change stage": the current stage and one button per other stage."""
    try:
        info = store_lifecycle.conversation(svc.store, int(press.value))
    except (KeyError, ValueError):
        return CommandReply("Trademate no longer has that conversation.", ephemeral=True)
    contact = svc.store.contact(info.contact_id)
    buttons = tuple(ReplyButton(s, "stage_set", f"{info.id}:{s}") for s in STAGES if s != info.stage)
    return CommandReply(f"{contact.name or contact.phone} is *{info.stage}*. Change to:", buttons, ephemeral=True)


@button("stage_set")
async def stage_set(svc: Services, press: ButtonPress) -> CommandReply:
    conversation, _, stage = press.value.partition(":")
    if not conversation.isdigit():
        return CommandReply("That stage button is not valid.", ephemeral=True)
    return await _set(svc, int(conversation), stage, press.actor)
