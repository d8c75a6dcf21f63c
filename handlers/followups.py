"""Follow-ups falling due: one scheduler tick takes due rows from SQLite, claims each once, drafts, presents.

Rule for follow-ups that fell due while Trademate was down (or paused): a follow-up fired more
than `LATE_AFTER` after its due time proceeds as its step says only if the buyer's send window
is open now and it is less than `LATE_LIMIT` late; otherwise it is presented for approval, with
"was due at …" on the card, whatever autonomy the step allows.

A claimed row that was never finished (the process died mid-way, or drafting failed) is picked
up again by a later tick: a draft it already wrote is reused, never written twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import store_followups as sf
from bot.business_time import Window
from bot.playbooks import Playbook, Silence, StageEntered, Step
from bot.services import Services
from handlers import stop_rules
from handlers.inbound import present_draft, write_draft

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=10)
LATE_LIMIT = timedelta(hours=24)
STALE_CLAIM = timedelta(minutes=5)
SCAN_MARGIN = timedelta(minutes=10)  # a claim older than this belongs to a process that stopped
BATCH = 500
MAX_PER_TICK = 2000


@dataclass
class TickReport:
    enrolled: int = 0
    fired: int = 0
    stopped: int = 0
    resumed: int = 0
    errors: list[int] = field(default_factory=list)


class FollowupRunner:
    """What the scheduler calls: `tick` every minute, `scan_silence` hourly."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.started_at = svc.clock.now()
        self.ticks = 0  # completed ticks, for operators and tests

    async def tick(self) -> TickReport:
        svc, report = self.svc, TickReport()
        now = svc.clock.now()
        report.resumed = await self._resume_stale(now, report)
        for _ in range(MAX_PER_TICK // BATCH):
            ids = sf.due_ids(svc.store, now, BATCH)
            for follow_up_id in ids:
                if sf.claim(svc.store, follow_up_id, now):
                    await _fire_safely(svc, follow_up_id, now, report)
            if len(ids) < BATCH:
                break
        # Enrolling comes after firing: due work first. Only stage changes since the last scan (less a margin,
        # kept in the database across restarts) are looked at, so the scan stays small at any size; the
        # very first scan looks back each trigger's `within_days`.
        scanned_to = sf.mark(svc.store, "stage_scan")
        report.enrolled = enroll_stage_triggers(svc, now, scanned_to - SCAN_MARGIN if scanned_to else None)
        sf.set_mark(svc.store, "stage_scan", now)
        self.ticks += 1
        return report

    async def scan_silence(self) -> int:
        return enroll_silence_triggers(self.svc, self.svc.clock.now())

    async def _resume_stale(self, now: datetime, report: TickReport) -> int:
        cutoff = max(self.started_at, now - STALE_CLAIM)
        count = 0
        for follow_up_id in sf.stale_claims(self.svc.store, cutoff):
            row = sf.follow_up(self.svc.store, follow_up_id)
            if sf.reclaim(self.svc.store, follow_up_id, row.claimed_at, now):
                await _fire_safely(self.svc, follow_up_id, now, report, adopt_since=row.claimed_at)
                count += 1
        return count


async def _fire_safely(svc: Services, follow_up_id: int, now: datetime, report: TickReport,
                       adopt_since: datetime | None = None) -> None:
    try:
        outcome = await fire(svc, follow_up_id, now, adopt_since=adopt_since)
    except Exception:
        # The row stays claimed; a later tick retries it once the claim is stale.
        log.exception("follow-up %s failed; it is retried in %s", follow_up_id, STALE_CLAIM)
        report.errors.append(follow_up_id)
        return
    if outcome == "presented":
        report.fired += 1
    else:
        report.stopped += 1


async def fire(svc: Services, follow_up_id: int, now: datetime, *, asked_by_rep: bool = False,
               adopt_since: datetime | None = None) -> str:
    """Fire one claimed follow-up: "presented", or "cancelled" when a stop rule holds.

    `adopt_since`: resuming a claim made then by a process that stopped; a draft it wrote for this
    conversation after that moment (but had not linked yet) is reused instead of drafting again.
    """
    store = svc.store
    row = sf.follow_up(store, follow_up_id)
    enrollment = sf.enrollment(store, row.enrollment_id)
    playbook = svc.playbooks.get(enrollment.playbook)
    conv = sf.conversation(store, row.conversation_id)
    reason = (f"playbook {enrollment.playbook!r} is no longer loaded" if playbook is None
              or row.step >= len(playbook.steps) else stop_rules.stop_reason(svc, enrollment, conv))
    if enrollment.state != "active":
        reason = reason or f"the enrollment is {enrollment.state}"
    if reason is not None or playbook is None:
        sf.finish(store, row.id, "cancelled", now, note=reason)
        sf.stop_enrollment(store, enrollment.id, reason or "stopped", now)
        return "cancelled"
    step = playbook.steps[row.step]
    timezone, country = stop_rules.zone_for(svc, playbook, conv)
    window = playbook.window(timezone, country)
    autonomy, note = _autonomy_and_note(playbook, row.step, step, row.due_at, now, window, asked_by_rep)
    if step.is_nudge:
        waited = sf.first_unanswered(store, conv.id)
        since = f" since {_local(waited[1], window)}" if waited else ""
        await svc.surface.post(f":alarm_clock: *{conv.buyer}* is waiting for an answer{since}. {step.nudge} "
                               f"({playbook.title})")
    else:
        draft_id = row.draft_id
        if draft_id is None and adopt_since is not None:
            draft_id = sf.unlinked_draft_since(store, conv.id, adopt_since)
        if draft_id is None:
            message_id = sf.last_message_id(store, conv.id)
            if message_id is None:
                sf.finish(store, row.id, "cancelled", now, note="the conversation has no messages")
                return "cancelled"
            draft = await write_draft(svc, store.message(message_id), hint=step.prompt or playbook.title,
                                      follow_up=True)
            draft_id = draft.id
        sf.link_draft(store, row.id, draft_id)
        if row.draft_id is None:
            sf.annotate_draft(store, draft_id, note, playbook.name)
        if store.draft(draft_id).card_ref is None:
            await present_draft(svc, draft_id, autonomy=autonomy, template=step.template)
    sf.finish(store, row.id, "presented", now, note=note)
    sf.finish_if_done(store, enrollment.id, now)
    return "presented"


def _autonomy_and_note(playbook: Playbook, index: int, step: Step, due: datetime, now: datetime,
                       window: Window, asked_by_rep: bool) -> tuple[str, str]:
    note = f"Follow-up {index + 1}/{len(playbook.steps)}: {playbook.title}."
    if asked_by_rep:
        return "approve", note + " Sent for approval now at your request."
    late = now - due
    if late <= LATE_AFTER or (window.contains(now) and late <= LATE_LIMIT):
        return step.autonomy, note
    return "approve", note + f" Was due at {_local(due, window)}; waiting for your approval."


def _local(moment: datetime, window: Window) -> str:
    return moment.astimezone(window.tz).strftime("%a %d %b %H:%M ") + str(window.tz.key)


# -- triggers read from the conversations table ------------------------------------------------

def enroll_stage_triggers(svc: Services, now: datetime, changed_since: datetime | None = None) -> int:
    """Enroll conversations that entered a playbook's stage (idempotent per stage change)."""
    count = 0
    for playbook in svc.playbooks.by_trigger("stage_entered"):
        trigger = playbook.trigger
        assert isinstance(trigger, StageEntered)
        since = now - timedelta(days=trigger.within_days)
        if changed_since is not None:
            since = max(since, changed_since)
        for conversation_id, changed_at in sf.stage_entered(svc.store, trigger.stage, since, playbook.name):
            conv = sf.conversation(svc.store, conversation_id)
            anchor = datetime.fromisoformat(changed_at)
            if stop_rules.enroll(svc, playbook, conv, f"stage:{trigger.stage}@{changed_at}", anchor,
                                 stage=trigger.stage):
                count += 1
    return count


def enroll_silence_triggers(svc: Services, now: datetime) -> int:
    count = 0
    for playbook in svc.playbooks.by_trigger("silence"):
        trigger = playbook.trigger
        assert isinstance(trigger, Silence)
        quiet = timedelta(days=trigger.days)
        for conversation_id, last_at in sf.silent_since(svc.store, now - quiet, trigger.stages, playbook.name):
            conv = sf.conversation(svc.store, conversation_id)
            # Found by an hourly scan: the steps count from now, not from the hour the silence began.
            anchor = max(datetime.fromisoformat(last_at) + quiet, now)
            if stop_rules.enroll(svc, playbook, conv, f"silence@{last_at}", anchor):
                count += 1
    return count


def enroll_manually(svc: Services, playbook: Playbook, conv: sf.ConversationView, actor: str) -> int | None:
    now = svc.clock.now()
    return stop_rules.enroll(svc, playbook, conv, f"manual@{sf.ts(now)}", now, actor=actor, manual=True)


@dataclass(frozen=True)
class FollowupOrigin:
    """The follow-up a draft was written for, so Regenerate writes the same kind of message."""

    follow_up_id: int
    playbook: str
    hint: str

    def adopt(self, svc: Services, draft_id: int) -> None:
        sf.link_draft(svc.store, self.follow_up_id, draft_id)
        note = sf.follow_up(svc.store, self.follow_up_id).note
        sf.annotate_draft(svc.store, draft_id, note or f"Follow-up ({self.playbook}).", self.playbook)


def followup_origin(svc: Services, draft_id: int) -> FollowupOrigin | None:
    found = sf.follow_up_of_draft(svc.store, draft_id)
    if found is None:
        return None
    follow_up_id, name, step_index = found
    playbook = svc.playbooks.get(name)
    if playbook is None or step_index >= len(playbook.steps):
        return FollowupOrigin(follow_up_id, name, name)
    step = playbook.steps[step_index]
    return FollowupOrigin(follow_up_id, name, step.prompt or playbook.title)
