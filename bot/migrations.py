"""Versioned schema migrations, applied in order at start-up.

Each migration is a decorated function with a unique name; applied names are kept in
`_migrations`, so a database is brought up to date whatever version it was left at.
Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    if any(name == fn.__name__ for name, _ in MIGRATIONS):
        raise ValueError(f"duplicate migration name {fn.__name__}")
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def apply(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet applied; return the names applied now."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied: list[str] = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            fn(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                [name, datetime.now(UTC).isoformat()],
            )
        applied.append(name)
    return applied


@migration
def m001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE contacts (
            id INTEGER PRIMARY KEY,
            address TEXT NOT NULL UNIQUE,
            phone TEXT NOT NULL,
            channel TEXT NOT NULL,
            name TEXT,
            country TEXT,
            timezone TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL UNIQUE REFERENCES contacts(id),
            stage TEXT NOT NULL DEFAULT 'new',
            owner TEXT,
            last_inbound_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            contact_id INTEGER NOT NULL REFERENCES contacts(id),
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            body TEXT NOT NULL,
            media TEXT NOT NULL DEFAULT '[]',
            provider_id TEXT UNIQUE,
            needs_draft INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL
        );
        CREATE INDEX messages_conversation_at ON messages(conversation_id, at);
        CREATE INDEX messages_needs_draft ON messages(needs_draft) WHERE needs_draft = 1;
        CREATE TABLE drafts (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id),
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            version INTEGER NOT NULL DEFAULT 1,
            text TEXT NOT NULL,
            language TEXT NOT NULL,
            translation TEXT NOT NULL,
            back_translation TEXT NOT NULL,
            intent TEXT NOT NULL,
            flags TEXT NOT NULL DEFAULT '[]',
            unknown_numbers TEXT NOT NULL DEFAULT '[]',
            source TEXT NOT NULL,
            notice TEXT,
            state TEXT NOT NULL DEFAULT 'pending',
            card_ref TEXT,
            sent_text TEXT,
            created_at TEXT NOT NULL,
            decided_at TEXT
        );
        CREATE INDEX drafts_conversation_state ON drafts(conversation_id, state);
        CREATE INDEX drafts_state_created ON drafts(state, created_at);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            draft_id INTEGER NOT NULL REFERENCES drafts(id),
            idem_key TEXT NOT NULL UNIQUE,
            to_address TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            provider_id TEXT UNIQUE,
            error_code TEXT,
            error_message TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX outbox_state ON outbox(state);
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            draft_id INTEGER NOT NULL REFERENCES drafts(id),
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            surface TEXT NOT NULL,
            policy TEXT NOT NULL DEFAULT 'manual',
            text TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX decisions_draft ON decisions(draft_id);
        CREATE INDEX decisions_at ON decisions(at);
        """
    )


@migration
def m002_stage_changed_at(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE conversations ADD COLUMN stage_changed_at TEXT;
        CREATE INDEX conversations_stage ON conversations(stage, stage_changed_at);
        """
    )


@migration
def m_team_ownership(db: sqlite_utils.Database) -> None:
    """Round-robin cursor for assigning new buyers, and what each decision changed from its draft."""
    db.executescript(
        """
        CREATE TABLE team_state (
            key TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        CREATE INDEX conversations_owner ON conversations(owner);
        ALTER TABLE decisions ADD COLUMN draft_text TEXT;
        ALTER TABLE decisions ADD COLUMN edit_size INTEGER;
        ALTER TABLE decisions ADD COLUMN diff TEXT;
        """
    )


@migration
def m_bgcheck_cache(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE bgcheck_cache (
            target TEXT PRIMARY KEY,
            report TEXT NOT NULL,
            checked_at TEXT NOT NULL
        );
        """
    )


@migration
def m_auto_lifecycle(db: sqlite_utils.Database) -> None:
    """Stage audit, pending automatic sends (the undo delay) and template sends on the outbox."""
    db.executescript(
        """
        CREATE TABLE stage_changes (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            from_stage TEXT NOT NULL,
            to_stage TEXT NOT NULL,
            by TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX stage_changes_conversation ON stage_changes(conversation_id, id);
        CREATE TABLE auto_sends (
            id INTEGER PRIMARY KEY,
            draft_id INTEGER NOT NULL UNIQUE REFERENCES drafts(id),
            policy TEXT NOT NULL,
            due_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            closed_by TEXT,
            closed_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX auto_sends_due ON auto_sends(due_at) WHERE state = 'pending';
        CREATE TABLE draft_templates (
            draft_id INTEGER PRIMARY KEY REFERENCES drafts(id),
            template TEXT NOT NULL
        );
        ALTER TABLE outbox ADD COLUMN content_sid TEXT;
        ALTER TABLE outbox ADD COLUMN content_variables TEXT;
        """
    )


@migration
def m_telegram_edit_prompts(db: sqlite_utils.Database) -> None:
    """Telegram's Edit is a ForceReply prompt; the rep's reply names the prompt, this names the draft.
    Kept on disk so a restart between the prompt and the reply loses nothing."""
    db.executescript(
        """
        CREATE TABLE telegram_edit_prompts (
            chat_id TEXT NOT NULL,
            message_id INTEGER NOT NULL,
            draft_id INTEGER NOT NULL REFERENCES drafts(id),
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (chat_id, message_id)
        );
        """
    )


@migration
def m_telegram_card_parts(db: sqlite_utils.Database) -> None:
    """A card longer than one Telegram message is several messages; the card ref names the set."""
    db.executescript(
        """
        CREATE TABLE telegram_card_parts (
            card_ref TEXT NOT NULL,
            seq INTEGER NOT NULL,
            chat_id TEXT NOT NULL,
            message_id INTEGER NOT NULL,
            PRIMARY KEY (card_ref, seq)
        );
        """
    )


@migration
def m_telegram_buttons(db: sqlite_utils.Database) -> None:
    """Reply buttons whose action and value do not fit Telegram's 64-byte callback_data."""
    db.executescript(
        """
        CREATE TABLE telegram_buttons (
            key TEXT PRIMARY KEY,
            action TEXT NOT NULL,
            value TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )


@migration
def m_intel_learning(db: sqlite_utils.Database) -> None:
    """Approved replies indexed for few-shot retrieval, the draft cache, and draft outcomes.

    The FTS rows are written by a trigger when a draft becomes 'sent', so the approval path needs
    no change; the owner is the conversation's owner at that moment (NULL = the shared pool).
    """
    db.executescript(
        """
        CREATE VIRTUAL TABLE approved_replies USING fts5(
            buyer_text, reply, owner UNINDEXED, language UNINDEXED, draft_id UNINDEXED,
            conversation_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER drafts_approved_reply AFTER UPDATE OF state ON drafts
        WHEN new.state = 'sent' AND old.state != 'sent' AND new.sent_text IS NOT NULL
        BEGIN
            INSERT INTO approved_replies (buyer_text, reply, owner, language, draft_id, conversation_id)
            SELECT m.body, new.sent_text, c.owner, new.language, new.id, new.conversation_id
            FROM messages m JOIN conversations c ON c.id = new.conversation_id
            WHERE m.id = new.message_id AND trim(m.body) != '';
        END;
        INSERT INTO approved_replies (buyer_text, reply, owner, language, draft_id, conversation_id)
            SELECT m.body, d.sent_text, c.owner, d.language, d.id, d.conversation_id
            FROM drafts d JOIN messages m ON m.id = d.message_id JOIN conversations c ON c.id = d.conversation_id
            WHERE d.state = 'sent' AND d.sent_text IS NOT NULL AND trim(m.body) != '';

        CREATE TABLE draft_cache (
            key TEXT PRIMARY KEY,
            result TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE conversation_summaries (
            conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id),
            upto_message_id INTEGER NOT NULL,
            notes TEXT NOT NULL DEFAULT '[]',
            folded INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0,
            model_summary TEXT,
            updated_at TEXT NOT NULL
        );

        CREATE VIEW draft_outcomes AS
        SELECT d.id AS draft_id, d.conversation_id, c.owner, d.language, d.source, d.text, d.sent_text,
               d.created_at, d.decided_at,
               (SELECT x.actor FROM decisions x WHERE x.draft_id = d.id ORDER BY x.id DESC LIMIT 1) AS actor,
               (SELECT x.policy FROM decisions x WHERE x.draft_id = d.id ORDER BY x.id DESC LIMIT 1) AS policy,
               CASE
                   WHEN d.state = 'sent' AND d.sent_text = d.text THEN 'sent_unedited'
                   WHEN d.state = 'sent' THEN 'edited'
                   WHEN d.state = 'discarded' THEN 'discarded'
                   WHEN d.state = 'superseded' AND EXISTS (
                       SELECT 1 FROM decisions x WHERE x.draft_id = d.id AND x.action = 'regenerate')
                       THEN 'regenerated'
                   WHEN d.state = 'superseded' THEN 'superseded'
                   ELSE 'pending'
               END AS outcome
        FROM drafts d JOIN conversations c ON c.id = d.conversation_id;
        """
    )


@migration
def m_digest(db: sqlite_utils.Database) -> None:
    """Sent-digest ledger (one per rep and local date) and the indexes the digest queries use."""
    db.executescript(
        """
        CREATE TABLE digest_sent (
            rep TEXT NOT NULL,
            local_date TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (rep, local_date)
        );
        CREATE INDEX digest_conversations_owner_created ON conversations(owner, created_at);
        CREATE INDEX digest_conversations_created ON conversations(created_at);
        CREATE INDEX digest_conversations_owner_inbound ON conversations(owner, last_inbound_at);
        CREATE INDEX digest_conversations_inbound ON conversations(last_inbound_at);
        CREATE INDEX digest_conversations_owner_stage ON conversations(owner, stage, stage_changed_at);
        CREATE INDEX digest_messages_direction_at ON messages(direction, at, conversation_id);
        CREATE INDEX digest_messages_conversation_direction_at ON messages(conversation_id, direction, at);
        CREATE INDEX digest_outbox_state_updated ON outbox(state, updated_at);
        CREATE INDEX digest_stage_changes_at ON stage_changes(at, to_stage, conversation_id);
        """
    )


@migration
def m_followups(db: sqlite_utils.Database) -> None:
    """Playbook enrollments, their follow-up rows (one per step), rep pauses, buyer opt-outs, scan marks."""
    db.executescript(
        """
        CREATE TABLE enrollments (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            playbook TEXT NOT NULL,
            trigger_key TEXT NOT NULL,
            trigger_type TEXT NOT NULL,
            stage TEXT,
            anchor_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'active',
            stop_reason TEXT,
            actor TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (conversation_id, playbook, trigger_key)
        );
        CREATE INDEX enrollments_conversation ON enrollments(conversation_id, state);
        CREATE TABLE follow_ups (
            id INTEGER PRIMARY KEY,
            enrollment_id INTEGER NOT NULL REFERENCES enrollments(id),
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            step INTEGER NOT NULL,
            due_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            claimed_at TEXT,
            done_at TEXT,
            draft_id INTEGER REFERENCES drafts(id),
            note TEXT,
            UNIQUE (enrollment_id, step)
        );
        CREATE INDEX follow_ups_due ON follow_ups(due_at) WHERE state = 'pending';
        CREATE INDEX follow_ups_conversation ON follow_ups(conversation_id, state);
        CREATE INDEX follow_ups_claimed ON follow_ups(claimed_at) WHERE state = 'claimed';
        CREATE TABLE followup_pauses (
            conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id),
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE TABLE followup_marks (
            name TEXT PRIMARY KEY,
            at TEXT NOT NULL
        );
        CREATE TABLE opt_outs (
            contact_id INTEGER PRIMARY KEY REFERENCES contacts(id),
            message_id INTEGER REFERENCES messages(id),
            phrase TEXT NOT NULL,
            at TEXT NOT NULL
        );
        """
    )


@migration
def m_digest_outcomes(db: sqlite_utils.Database) -> None:
    """Reply times and draft outcomes straight from one index, for the digest's numbers on big databases.

    Each draft gets copies of its buyer message's time and of its decision (one per draft: a draft
    leaves 'pending' once), kept by triggers, so the digest reads "time to reply" and "how drafts
    ended" from a covering index instead of a lookup per draft into messages and decisions.
    """
    db.executescript(
        """
        ALTER TABLE drafts ADD COLUMN message_at TEXT;
        ALTER TABLE drafts ADD COLUMN decision_action TEXT;
        ALTER TABLE drafts ADD COLUMN decision_policy TEXT;
        ALTER TABLE drafts ADD COLUMN decided_by TEXT;
        UPDATE drafts SET message_at = (SELECT m.at FROM messages m WHERE m.id = drafts.message_id);
        UPDATE drafts SET (decision_action, decision_policy, decided_by) = (
            SELECT e.action, e.policy, e.surface || ':' || e.actor FROM decisions e WHERE e.draft_id = drafts.id
            ORDER BY e.id DESC LIMIT 1);
        CREATE TRIGGER digest_drafts_message_at AFTER INSERT ON drafts FOR EACH ROW WHEN NEW.message_at IS NULL
        BEGIN
            UPDATE drafts SET message_at = (SELECT m.at FROM messages m WHERE m.id = NEW.message_id)
            WHERE id = NEW.id;
        END;
        CREATE TRIGGER digest_decisions_outcome AFTER INSERT ON decisions FOR EACH ROW
        BEGIN
            UPDATE drafts SET decision_action = NEW.action, decision_policy = NEW.policy,
                decided_by = NEW.surface || ':' || NEW.actor
            WHERE id = NEW.draft_id;
        END;
        CREATE INDEX digest_drafts_decided ON drafts(
            decided_at, state, message_at, decision_action, decision_policy, decided_by);
        CREATE INDEX digest_drafts_conversation_decided ON drafts(
            conversation_id, decided_at, state, message_at, decision_action, decision_policy, decided_by);
        """
    )


@migration
def m_digest_links(db: sqlite_utils.Database) -> None:
    """Lead scores kept as cards are built (the digest's hot list), and the playbook behind a draft."""
    db.executescript(
        """
        CREATE TABLE lead_scores (
            conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id),
            label TEXT NOT NULL,
            reasons TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX lead_scores_label ON lead_scores(label, updated_at);
        ALTER TABLE drafts ADD COLUMN playbook TEXT;
        """
    )
