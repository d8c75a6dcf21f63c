"""Drive the real app as a buyer (Twilio webhooks) and as a rep on Slack or Telegram.

`SlackDriver` and `TelegramDriver` answer the same questions (where is the card, tap it, what does
it say now, how many refusals), so `test_surface_contract.py` runs one scenario list over both.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx

from bot.app import Runtime, build_runtime
from bot.catalog import Catalog, load_catalog
from bot.config import Settings
from bot.models import Action
from bot.surfaces.telegram_render import CALLBACK_LIMIT, units
from bot.web import create_web_app
from tests.fakes import (
    BUSINESS_WHATSAPP,
    BUYER_WHATSAPP,
    REP_CHAT_ID,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeSlack,
    FakeTelegram,
    FakeTwilio,
    callback_update,
    inbound_form,
    sign_twilio,
    status_form,
    text_update,
)
from tests.fakes.telegram import normalize_args
from tests.serving import eventually, serve, slack_signed

PUBLIC = "https://trademate.test"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TELEGRAM_SECRET = "tg-webhook-secret_0123456789abcdef"
CHANNEL = "C0SALES001"
PAYLOADS = Path(__file__).parent / "payloads"
LLM_ANSWER = {
    "buyer_language": "es",
    "translation": "Hello, what is the price of the 500 ml flask for 1000 units?",
    "intent": "price_inquiry",
    "reply": "Hola, el termo de 500 ml cuesta 3.80 USD por unidad desde 1000 unidades.",
    "back_translation": "Hello, the 500 ml flask costs 3.80 USD per unit from 1000 units.",
    "flags": ["price"],
}


def base_settings(tmp_path: Path, twilio: FakeTwilio, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "trademate_db": str(tmp_path / "trademate.db"),
        "trademate_public_url": PUBLIC,
        "twilio_account_sid": TEST_ACCOUNT_SID,
        "twilio_auth_token": TEST_AUTH_TOKEN,
        "twilio_from": BUSINESS_WHATSAPP,
        "twilio_api_url": twilio.url,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def telegram_settings(tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram, **extra: Any) -> Settings:
    return base_settings(tmp_path, twilio, telegram_bot_token=TELEGRAM_TOKEN, telegram_api_url=telegram.url,
                         telegram_webhook_secret=TELEGRAM_SECRET, telegram_chat_id=str(REP_CHAT_ID), **extra)


def slack_settings(tmp_path: Path, twilio: FakeTwilio, slack: FakeSlack, **extra: Any) -> Settings:
    slack_values: dict[str, Any] = {"slack_bot_token": SLACK_TOKEN, "slack_signing_secret": SLACK_SECRET,
                                    "slack_api_url": slack.url + "/api/", "slack_channel": CHANNEL}
    return base_settings(tmp_path, twilio, **{**slack_values, **extra})


@dataclass
class Driver:
    url: str
    runtime: Runtime
    twilio: FakeTwilio
    public: str = PUBLIC

    def twilio_post(self, path: str, form: dict[str, Any], *, signature: str | None = None) -> httpx.Response:
        sig = signature if signature is not None else sign_twilio(self.public + path, form, TEST_AUTH_TOKEN)
        headers = {"X-Twilio-Signature": sig} if sig else {}
        return httpx.post(self.url + path, data=form, headers=headers, timeout=10)

    def buyer_writes(self, body: str, **kw: Any) -> httpx.Response:
        form = inbound_form(body, from_=kw.pop("from_", BUYER_WHATSAPP), to=BUSINESS_WHATSAPP, **kw)
        return self.twilio_post("/twilio/messages", form)

    def delivery(self, status: str) -> httpx.Response:
        sid = self.db("SELECT provider_id FROM outbox")[0][0]
        return self.twilio_post("/twilio/status", status_form(sid, status))

    def db(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.runtime.settings.trademate_db)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


# --- Slack ---------------------------------------------------------------------------------------


def _slack_card_text(args: dict[str, Any]) -> str:
    return json.dumps(args.get("blocks", []), ensure_ascii=False) + args.get("text", "")


@dataclass
class SlackDriver(Driver):
    slack: FakeSlack | None = None

    def card(self, n: int = 1) -> dict[str, Any]:
        assert self.slack is not None
        self.slack.wait_for("chat.postMessage", timeout=10, count=n)
        return self.slack.args("chat.postMessage")[n - 1]

    def actions(self, card: dict[str, Any]) -> list[str]:
        return [e["action_id"].removeprefix("tm_") for b in card["blocks"] for e in b.get("elements", [])
                if str(e.get("action_id", "")).startswith("tm_")]

    def tap(self, action: Action, card: dict[str, Any], *, user: str = "U0REP00001") -> int:
        payload = json.loads((PAYLOADS / "slack_block_actions.json").read_text())
        value = next(e["value"] for b in card["blocks"] for e in b.get("elements", [])
                     if e.get("action_id") == f"tm_{action.value}")
        payload["user"]["id"] = user
        payload["actions"][0].update(action_id=f"tm_{action.value}", value=value)
        payload["channel"]["id"] = CHANNEL
        payload["container"]["channel_id"] = CHANNEL
        raw, headers = slack_signed(payload, SLACK_SECRET)
        return httpx.post(self.url + "/slack/events", content=raw, headers=headers, timeout=10).status_code

    def wait_card_saying(self, words: str) -> str:
        assert self.slack is not None
        found = self.slack.wait_for(lambda r: r.path.endswith("chat.update") and words in _slack_card_text(r.args))
        return _slack_card_text(found.args)

    def refusals(self) -> int:
        assert self.slack is not None
        return len(self.slack.calls("chat.postEphemeral"))

    def surface_calls(self) -> int:
        assert self.slack is not None
        return len(self.slack.requests)


# --- Telegram --------------------------------------------------------------------------------------

# What Telegram's HTML parse mode accepts; anything else is refused with "can't parse entities".
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
                 "pre", "blockquote", "tg-emoji"}


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"tag <{tag}> is not allowed")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def telegram_html(text: str) -> str:
    """Check `text` the way Telegram's HTML parser would (allowed tags, balanced, `&`/`<` escaped);
    return the visible text."""
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    assert not re.search(r"&(?!(lt|gt|amp|quot|#\d+);)", text), f"bare & in {text[:200]!r}"
    assert not parser.problems and not parser.stack, (parser.problems, parser.stack, text[:300])
    return "".join(parser.text)


@dataclass
class TelegramDriver(Driver):
    telegram: FakeTelegram | None = None
    secret: str = TELEGRAM_SECRET
    polling: bool = False
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(900_000_001))

    @property
    def fake(self) -> FakeTelegram:
        assert self.telegram is not None
        return self.telegram

    def push(self, update: dict[str, Any], *, secret: str | None = None) -> int:
        """Deliver an update: into getUpdates when polling, else POSTed to the webhook."""
        update = {"update_id": next(self._ids), **update}
        if self.polling:
            self.fake.push_update(update)
            return 200
        headers = {} if secret == "" else {"X-Telegram-Bot-Api-Secret-Token": secret or self.secret}
        return httpx.post(self.url + "/telegram/webhook", json=update, headers=headers, timeout=10).status_code

    def sent_messages(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(sendMessage args, the message as it is now) for every message the bot sent, in order."""
        sends = [normalize_args(r) for r in self.fake.requests if r.path.endswith("/sendMessage") and r.status == 200]
        with self.fake.lock:
            messages = [dict(m) for m in self.fake.sent.values()]
        return list(zip(sends, messages, strict=False))

    def cards(self) -> list[dict[str, Any]]:
        """Messages that carried the card keyboard when sent (the last part of each card)."""
        return [m for a, m in self.sent_messages() if _callbacks(a.get("reply_markup")) and
                all(c.startswith("tm:") for c in _callbacks(a.get("reply_markup")))]

    def card(self, n: int = 1) -> dict[str, Any]:
        eventually(lambda: len(self.cards()) >= n, within=10, what=f"card {n} on Telegram")
        return self.cards()[n - 1]

    def actions(self, card: dict[str, Any]) -> list[str]:
        codes = {"s": "send", "e": "edit", "r": "regenerate", "d": "discard"}
        return [codes[c.split(":")[1]] for c in _callbacks(card.get("reply_markup"))]

    def tap(self, action: Action, card: dict[str, Any], *, user: dict[str, Any] | None = None,
            secret: str | None = None) -> int:
        data = next(c for c in _callbacks(card.get("reply_markup")) if c.startswith(f"tm:{action.value[0]}:"))
        return self.push(callback_update(data, card, user=user), secret=secret)

    def say(self, text: str, *, reply_to: dict[str, Any] | None = None) -> int:
        update = text_update(text, message_id=next(self._ids) % 100_000)
        if reply_to is not None:
            update["message"]["reply_to_message"] = reply_to
        return self.push(update)

    def wait_card_saying(self, words: str) -> str:
        found = self.fake.wait_for(lambda r: r.path.endswith("/editMessageText") and words in r.args.get("text", ""))
        return str(found.args["text"])

    def refusals(self) -> int:
        return sum(1 for a in self.fake.args("answerCallbackQuery") if a.get("show_alert"))

    def surface_calls(self) -> int:
        return len(self.fake.requests)


def _callbacks(markup: Any) -> list[str]:
    if not isinstance(markup, dict):
        return []
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row if "callback_data" in b]


def check_callbacks(markup: Any) -> list[str]:
    data = _callbacks(markup)
    assert all(len(d.encode()) <= CALLBACK_LIMIT for d in data), data
    return data


def check_part(text: str) -> str:
    assert units(text) <= 4096, units(text)
    return telegram_html(text)


@functools.cache
def _catalog(path: Path) -> Catalog:
    return load_catalog(path)  # parsing the sample YAML costs ~0.25 s; every test reads the same file


@contextmanager
def running(settings: Settings, make: Callable[[str, Runtime], Driver]) -> Iterator[Driver]:
    runtime = build_runtime(settings, catalog=_catalog(settings.catalog_path))
    try:
        with serve(create_web_app(runtime)) as url:
            yield make(url, runtime)
    finally:
        runtime.close()
