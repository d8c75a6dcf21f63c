"""The rep's follow-up commands: /followups (with send now / snooze / skip), /pause, /resume, /enroll."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot import store_followups as sf
from bot.business_time import zone
from bot.errors import TrademateError
from bot.models import ButtonPress, CommandReply, CommandRequest, ReplyButton
from bot.services import Services
from handlers import followups, stop_rules
from handlers.commands import button, command

LIST_LIMIT = 8  # three buttons each: stays inside one Slack actions block


class FollowupError(TrademateError):
    """A follow-up command could not be done; the message says why, for the rep."""


def _one_buyer(svc: Services, query: str) -> sf.ConversationView:
    if not query.strip():
        raise FollowupError("Name the buyer: a phone number, a name, or #<conversation id>.")
    found = sf.find_conversations(svc.store, query)
    if not found:
        raise FollowupError(f"No buyer matches “{query}”.")
    if len(found) > 1:
        names = ", ".join(f"{c.buyer} (#{c.id})" for c in found[:5])
        raise FollowupError(f"“{query}” matches several buyers: {names}. Use the #id.")
    return found[0]


def _rep_zone(svc: Services, request: CommandRequest | ButtonPress) -> str:
    rep = svc.team.by_user(request.surface, request.actor)
    return rep.timezone if rep else svc.team.sellers[0].timezone


@command("followups", "/followups", "Follow-ups due today and this week, with send now / snooze / skip.")
async def followups_command(svc: Services, request: CommandRequest) -> CommandReply:
    now = svc.clock.now()
    tz = zone(_rep_zone(svc, request))
    local = now.astimezone(tz)
    end_of_today = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    end_of_week = end_of_today + timedelta(days=6 - local.weekday())
    rows = sf.upcoming(svc.store, end_of_week, 200)
    if not rows:
        return CommandReply("No follow-ups due this week.", ephemeral=True)
    today = [r for r in rows if r.follow_up.due_at < end_of_today]
    week = [r for r in rows if r.follow_up.due_at >= end_of_today]
    lines: list[str] = []
    buttons: list[ReplyButton] = []
    for title, group in (("Due today", today), ("Later this week", week)):
        if not group:
            continue
        lines.append(f"*{title}* ({len(group)})")
        for row in group:
            fu = row.follow_up
            playbook = svc.playbooks.get(row.playbook)
            name = playbook.title if playbook else row.playbook
            when = fu.due_at.astimezone(tz).strftime("%a %H:%M")
            paused = " _(paused)_" if row.paused else ""
            lines.append(f"• {when} · {row.buyer} · {name}, step {fu.step + 1} [#{fu.id}]{paused}")
            if len(buttons) < LIST_LIMIT * 3:
                buttons += [ReplyButton(f"Send now #{fu.id}", "followup_send", str(fu.id)),
                            ReplyButton(f"Snooze 1 day #{fu.id}", "followup_snooze", str(fu.id)),
                            ReplyButton(f"Skip #{fu.id}", "followup_skip", str(fu.id))]
    if len(rows) > LIST_LIMIT:
        lines.append(f"_Buttons for the first {LIST_LIMIT}; the rest can be handled after these._")
    return CommandReply("\n".join(lines), buttons=tuple(buttons), ephemeral=True)


def _pending(svc: Services, value: str) -> sf.FollowUp:
    try:
        row = sf.follow_up(svc.store, int(value))
    except (KeyError, ValueError) as exc:
        raise FollowupError("That follow-up no longer exists.") from exc
    if row.state != "pending":
        raise FollowupError(f"Follow-up #{row.id} is already {row.state}; nothing was done.")
    return row


@button("followup_send")
async def send_now(svc: Services, press: ButtonPress) -> CommandReply:
    row = _pending(svc, press.value)
    now = svc.clock.now()
    if not sf.claim(svc.store, row.id, now):
        raise FollowupError(f"Follow-up #{row.id} was just taken by someone else; nothing was done.")
    outcome = await followups.fire(svc, row.id, now, asked_by_rep=True)
    if outcome == "cancelled":
        note = sf.follow_up(svc.store, row.id).note
        return CommandReply(f"Follow-up #{row.id} was not sent: {note}.", ephemeral=True)
    return CommandReply(f"Follow-up #{row.id} is drafted; the card is ready for your approval.", ephemeral=True)


@button("followup_snooze")
async def snooze(svc: Services, press: ButtonPress) -> CommandReply:
    row = _pending(svc, press.value)
    enrollment = sf.enrollment(svc.store, row.enrollment_id)
    playbook = svc.playbooks.get(enrollment.playbook)
    conv = sf.conversation(svc.store, row.conversation_id)
    later = max(row.due_at, svc.clock.now()) + timedelta(days=1)
    if playbook is not None:
        timezone, country = stop_rules.zone_for(svc, playbook, conv)
        later = playbook.window(timezone, country).next_open(later)
    if not sf.reschedule(svc.store, row.id, later):
        raise FollowupError(f"Follow-up #{row.id} changed meanwhile; nothing was done.")
    tz = zone(_rep_zone(svc, press))
    return CommandReply(f"Follow-up #{row.id} for {conv.buyer} snoozed to {later.astimezone(tz):%a %d %b %H:%M}.",
                        ephemeral=True)


@button("followup_skip")
async def skip(svc: Services, press: ButtonPress) -> CommandReply:
    row = _pending(svc, press.value)
    if not sf.skip(svc.store, row.id, press.actor, svc.clock.now()):
        raise FollowupError(f"Follow-up #{row.id} changed meanwhile; nothing was done.")
    sf.finish_if_done(svc.store, row.enrollment_id, svc.clock.now())
    return CommandReply(f"Follow-up #{row.id} skipped.", ephemeral=True)


@command("pause", "/pause <buyer>", "Pause every follow-up for a buyer until /resume.")
async def pause_command(svc: Services, request: CommandRequest) -> CommandReply:
    conv = _one_buyer(svc, request.args)
    if not sf.pause(svc.store, conv.id, request.actor, svc.clock.now()):
        return CommandReply(f"Follow-ups for {conv.buyer} were already paused.", ephemeral=True)
    return CommandReply(f"Follow-ups for {conv.buyer} are paused. /resume {request.args.strip()} to restart them.",
                        ephemeral=True)


@command("resume", "/resume <buyer>", "Restart a buyer's paused follow-ups (missed ones wait for approval).")
async def resume_command(svc: Services, request: CommandRequest) -> CommandReply:
    conv = _one_buyer(svc, request.args)
    if not sf.resume(svc.store, conv.id):
        return CommandReply(f"Follow-ups for {conv.buyer} were not paused.", ephemeral=True)
    return CommandReply(f"Follow-ups for {conv.buyer} are running again.", ephemeral=True)


@command("enroll", "/enroll <buyer> <playbook>", "Start a follow-up playbook for a buyer now.")
async def enroll_command(svc: Services, request: CommandRequest) -> CommandReply:
    query, _, name = request.args.strip().rpartition(" ")
    playbook = svc.playbooks.get(name.strip())
    if playbook is None:
        known = ", ".join(svc.playbooks.names) or "none loaded"
        raise FollowupError(f"Usage: /enroll <buyer> <playbook>. Playbooks: {known}.")
    conv = _one_buyer(svc, query)
    if sf.is_opted_out(svc.store, conv.contact_id):
        raise FollowupError(f"{conv.buyer} opted out; Trademate will not message them.")
    if followups.enroll_manually(svc, playbook, conv, request.actor) is None:
        raise FollowupError(f"{conv.buyer} is already enrolled in {playbook.name} right now.")
    timezone, country = stop_rules.zone_for(svc, playbook, conv)
    first = playbook.due_times(svc.clock.now(), timezone, country)[0]
    tz = zone(_rep_zone(svc, request))
    return CommandReply(f"{conv.buyer} enrolled in *{playbook.title}* ({len(playbook.steps)} step(s)); "
                        f"first due {first.astimezone(tz):%a %d %b %H:%M}.", ephemeral=True)
