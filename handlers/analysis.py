"""`/analyze <buyer>` (deal coaching plus a reply draft on the usual approval card) and
`/pipeline` (the asking rep's buyers by stage, hottest first)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot import ownership, store_intel
from bot.analysis import DealAnalysis, build_messages, model_analysis, prompt_tokens, render, rule_analysis
from bot.analysis_context import TOKEN_BUDGET, WINDOW_TOKENS, ConversationView, conversation_view
from bot.cards import refresh_card
from bot.errors import TrademateError
from bot.guardrail import find_unknown_numbers
from bot.language import detect_language
from bot.leads import pipeline_text, score_conversation
from bot.models import Action, CommandReply, CommandRequest, Draft, DraftState, Message
from bot.services import Services
from bot.store_intel import ConversationRow
from handlers.commands import command
from handlers.inbound import present_draft, write_draft

log = logging.getLogger(__name__)

RULE_MESSAGES = 300  # the rule-based reading looks at this many latest messages


class BuyerNotFound(TrademateError):
    """The words after /analyze match no buyer, or several."""


def _who(conv: ConversationRow) -> str:
    name = conv.contact.name
    return f"{name} ({conv.contact.phone})" if name else conv.contact.phone


def resolve_buyer(svc: Services, text: str) -> ConversationRow:
    """A conversation from a phone number, a buyer name or a conversation id ("12" or "#12")."""
    needle = text.strip()
    if not needle:
        raise BuyerNotFound("Usage: /analyze <phone | name | conversation id>")
    plain = needle.lstrip("#")
    if plain.isdigit() and len(plain) < 6:
        conv = store_intel.conversation(svc.store, int(plain))
        if conv is None:
            raise BuyerNotFound(f"There is no conversation #{plain}.")
        return conv
    found = store_intel.find_conversations(svc.store, needle)
    if not found:
        raise BuyerNotFound(f"No buyer matches “{needle}”. Try the phone number or /pipeline.")
    if len(found) > 1:
        options = "; ".join(f"#{c.id} {_who(c)}" for c in found[:5])
        raise BuyerNotFound(f"“{needle}” matches {len(found)} buyers: {options}. Use the #id.")
    return found[0]


def _check_access(svc: Services, req: CommandRequest, conv: ConversationRow) -> None:
    """A rep analyses their own buyers (and unowned ones); managers and a team-less setup see all."""
    team = svc.team
    if team.implicit or req.surface in ("cli", "console"):
        return
    rep = team.by_user(req.surface, req.actor)
    if rep is None:
        raise TrademateError("You are not in the team file (TRADEMATE_TEAM), so Trademate cannot tell which "
                             "buyers are yours; ask a manager to add your user id.")
    if rep.is_manager or conv.owner is None or conv.owner.lower() == rep.name.lower():
        return
    raise BuyerNotFound(f"{_who(conv)} is {conv.owner}'s buyer; ask them or a manager.")


async def _analyse(svc: Services, conv: ConversationRow, latest: Message,
                   view: ConversationView) -> tuple[DealAnalysis, ConversationView]:
    model = getattr(svc.drafter, "model", None)
    score = score_conversation(svc, conv.id)
    rep_language = ownership.rep_language(svc, ownership.ensure_owner(svc, conv.id))
    if model is not None:
        recent = " ".join(m.body for m in view.window if m.direction == "in")[-600:] or latest.body
        language = await asyncio.to_thread(detect_language, recent)
        window = WINDOW_TOKENS
        while True:
            messages = build_messages(view, svc.catalog, buyer=_who(conv), stage=conv.stage, score=score,
                                      buyer_language=language, rep_language=rep_language)
            if prompt_tokens(messages) <= TOKEN_BUDGET or len(view.window) <= 1:
                break
            window //= 2  # very long recent messages: fold more of them into the summary
            view = conversation_view(svc.store, conv.id, svc.clock.now(), window_tokens=window)
        try:
            seconds = float(getattr(svc.drafter, "timeout", 30.0))
            return await model_analysis(model, messages, latest, seconds), view
        except Exception as exc:
            log.warning("analysis model call failed; using the rule-based analysis", exc_info=True)
            reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            notice = f"The language model failed ({reason}), so this is the rule-based analysis."
    else:
        notice = "No language model is configured (TRADEMATE_MODEL), so this is the rule-based analysis."
    history = svc.store.history(conv.id, latest.id + 1, RULE_MESSAGES)
    base = rule_analysis(history, svc.catalog)
    return replace(base, notice=notice), view


async def _store_reply(svc: Services, conv: ConversationRow, latest: Message, analysis: DealAnalysis) -> Draft:
    store, now = svc.store, svc.clock.now()
    version = store_intel.next_draft_version(store, latest.id)
    if analysis.reply is None:
        draft = await write_draft(svc, latest, attempt=version)
    else:
        texts = [m.body for m in store.history(conv.id, latest.id + 1, 1000)]
        unknown = find_unknown_numbers(analysis.reply.reply, svc.catalog, texts)
        draft = store.add_draft(latest, analysis.reply, unknown, now, version=version)
    # Exactly one reply goes out: the analysis draft replaces the cards waiting on this or earlier
    # messages (a buyer message that arrived during the model call keeps its own card).
    for old in store.pending_drafts(conv.id):
        if old.id == draft.id or old.message_id > latest.id:
            continue
        if store.close_draft(old.id, DraftState.SUPERSEDED, Action.DISCARD, "trademate", "system", now):
            await refresh_card(svc, old.id)
    return await present_draft(svc, draft.id)


@command("analyze", "/analyze <phone | name | #id>",
         "Deal coaching for one buyer (needs, objections, promises, next move) and a reply draft to approve.")
async def analyze_command(svc: Services, req: CommandRequest) -> CommandReply:
    conv = resolve_buyer(svc, req.args)
    _check_access(svc, req, conv)
    latest = store_intel.last_buyer_message(svc.store, conv.id)
    if latest is None:
        raise BuyerNotFound(f"{_who(conv)} has not written yet; there is nothing to analyse.")
    view = conversation_view(svc.store, conv.id, svc.clock.now())
    analysis, view = await _analyse(svc, conv, latest, view)
    if analysis.source == "llm" and analysis.summary:
        state = store_intel.load_summary(svc.store, conv.id)
        state.model_summary = analysis.summary
        store_intel.save_summary(svc.store, conv.id, state, svc.clock.now())
    draft = await _store_reply(svc, conv, latest, analysis)
    text = render(analysis, who=_who(conv), score=score_conversation(svc, conv.id), total=view.total,
                  folded=view.summary.folded, draft_ref=f"#{draft.id}")
    return CommandReply(text, ephemeral=True)


@command("pipeline", "/pipeline", "Your buyers grouped by stage, hottest first, with the reasons for each score.")
async def pipeline_command(svc: Services, req: CommandRequest) -> CommandReply:
    team = svc.team
    if team.implicit or req.surface in ("cli", "console"):
        return CommandReply(pipeline_text(svc, None, "Pipeline: all buyers"), ephemeral=True)
    rep = team.by_user(req.surface, req.actor)
    if rep is None:
        raise TrademateError("You are not in the team file (TRADEMATE_TEAM), so Trademate cannot tell which "
                             "buyers are yours; ask a manager to add your user id.")
    if rep.is_manager:
        return CommandReply(pipeline_text(svc, None, "Pipeline: all buyers"), ephemeral=True)
    return CommandReply(pipeline_text(svc, rep.name, f"Pipeline: {rep.name}'s buyers"), ephemeral=True)
