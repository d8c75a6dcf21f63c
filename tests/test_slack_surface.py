"""The Slack surface: renderers and translators against recorded payloads, then the real bolt app
served by uvicorn on 127.0.0.1, fed signed requests, calling a FakeSlack Web API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from bot.errors import ConfigError, TrademateError
from bot.models import (
    Action,
    Card,
    Contact,
    Decision,
    DecisionRequest,
    Draft,
    DraftState,
    Message,
    Outbound,
    OutboxState,
)
from bot.ports import ChatSurface
from bot.surfaces.slack import (
    SlackSurface,
    build_client,
    create_slack_app,
    edit_modal,
    render_card,
    starlette_route_handler,
    translate_action,
    translate_edit_submission,
)
from bot.surfaces.slack_blocks import SECTION_LIMIT, clip, flag
from tests.fakes.slack import SLACK_TOKEN, FakeSlack
from tests.serving import serve

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AT = datetime(2024, 6, 4, 14, 2, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def make_card(*, body: str = "Hola, ¿cuál es el precio de 500 kg de cúrcuma?", **changes: Any) -> Card:
    draft_changes = changes.pop("draft", {})
    contact = Contact(
        id=1,
        address="whatsapp:+34600123456",
        phone="+34600123456",
        channel="whatsapp",
        name="Carlos Ruiz",
        country="ES",
        timezone="Europe/Madrid",
    )
    message = Message(
        id=7,
        conversation_id=3,
        contact_id=1,
        direction="in",
        body=body,
        at=AT,
        provider_id="SM0001",
        media=changes.pop("media", ()),
    )
    draft = Draft(
        id=42,
        message_id=7,
        conversation_id=3,
        text="Hola Carlos, 500 kg de cúrcuma cuestan 4,20 USD/kg FOB Chennai.",
        language="es",
        translation="Hello, what is the price of 500 kg of turmeric?",
        back_translation="Hi Carlos, 500 kg of turmeric cost 4.20 USD/kg FOB Chennai.",
        intent="price_request",
        flags=("price",),
        unknown_numbers=(),
        source="llm",
        notice=None,
        state=DraftState.PENDING,
        created_at=AT,
        card_ref="C0SALES001:1700000000.000100",
    )
    return Card(
        contact=contact,
        message=message,
        draft=replace(draft, **draft_changes),
        local_time="Tue 14:05 (Europe/Madrid)",
        **changes,
    )


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every string shown by the blocks (section/context/header text, button labels)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return out


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def sent(state: OutboxState, body: str | None = None, action: Action = Action.SEND, **card: Any) -> Card:
    base = make_card(draft={"state": DraftState.SENT}, **card)
    outbound = Outbound(
        id=5,
        draft_id=42,
        idem_key="draft-42",
        to="whatsapp:+34600123456",
        body=body or base.draft.text,
        state=state,
        attempts=1,
    )
    decision = Decision(id=9, draft_id=42, action=action, actor="U0REP00001", surface="slack", at=AT)
    return replace(base, outbound=outbound, decision=decision)


# --- renderers -------------------------------------------------------------------------------------


def test_pending_card_has_four_buttons_carrying_the_draft_id() -> None:
    text, blocks = render_card(make_card())
    found = buttons(blocks)
    assert [b["action_id"] for b in found] == ["tm_send", "tm_edit", "tm_regenerate", "tm_discard"]
    assert {b["value"] for b in found} == {"42"}
    assert found[0]["style"] == "primary" and found[3]["style"] == "danger"
    assert found[3]["confirm"]["confirm"]["text"] == "Discard"
    assert "Carlos Ruiz" in text
    shown = "\n".join(texts(blocks))
    for part in (
        "🇪🇸 Carlos Ruiz",
        "+34600123456",
        "Tue 14:05 (Europe/Madrid)",
        "precio de 500 kg",
        "Hello, what is the price",
        "4,20 USD/kg",
        "4.20 USD/kg",
        ":label: price",
    ):
        assert part in shown


def test_decided_card_has_no_buttons_and_says_who_and_delivery() -> None:
    _, blocks = render_card(sent(OutboxState.DELIVERED))
    assert buttons(blocks) == []
    assert blocks[-1]["type"] == "context"
    assert blocks[-1]["elements"][0]["text"] == "Sent by <@U0REP00001> at 14:02 UTC · ✓✓ delivered"


@pytest.mark.parametrize(
    ("state", "tick"),
    [
        (OutboxState.SENDING, ":hourglass: sending"),
        (OutboxState.QUEUED, "✓ sent"),
        (OutboxState.SENT, "✓ sent"),
        (OutboxState.READ, "✓✓ read"),
    ],
)
def test_delivery_ticks(state: OutboxState, tick: str) -> None:
    _, blocks = render_card(sent(state))
    assert blocks[-1]["elements"][0]["text"].endswith(tick)


def test_edited_send_shows_the_text_actually_sent() -> None:
    _, blocks = render_card(sent(OutboxState.SENT, body="Hola Carlos, 4,10 USD/kg.", action=Action.EDIT))
    shown = "\n".join(texts(blocks))
    assert "*Text sent*\n>Hola Carlos, 4,10 USD/kg." in shown
    assert "Edited and sent by <@U0REP00001>" in shown


def test_discarded_and_superseded_lines() -> None:
    discarded = replace(
        make_card(draft={"state": DraftState.DISCARDED}),
        decision=Decision(1, 42, Action.DISCARD, "U0REP00002", "slack", AT),
    )
    assert render_card(discarded)[1][-1]["elements"][0]["text"] == "Discarded by <@U0REP00002> at 14:02 UTC"
    superseded = make_card(draft={"state": DraftState.SUPERSEDED})
    assert render_card(superseded)[1][-1]["elements"][0]["text"] == "Replaced by a newer draft"
    # An actor from another surface is not turned into a Slack mention.
    console = replace(discarded, decision=Decision(1, 42, Action.DISCARD, "<!here>", "console", AT))
    assert "Discarded by &lt;!here&gt;" in render_card(console)[1][-1]["elements"][0]["text"]


def test_failed_send_shows_the_problem_first_and_in_the_status() -> None:
    problem = "Twilio refused: outside the 24-hour WhatsApp window; only a template can be sent now (63016)"
    card = replace(sent(OutboxState.REFUSED), problem=problem)
    _, blocks = render_card(card)
    assert blocks[2]["text"]["text"] == f":rotating_light: *{problem}*"  # right under the header
    assert blocks[-1]["elements"][0]["text"].endswith(f":x: {problem}")


def test_hostile_buyer_text_is_escaped_everywhere() -> None:
    hostile = "<!channel> <http://evil|click> & <@U0BOSS>"
    card = make_card(body=hostile, draft={"text": hostile, "translation": hostile, "notice": hostile})
    text, blocks = render_card(replace(card, problem=hostile))
    for shown in [text, *texts(blocks)]:
        assert "<!channel>" not in shown and "<http://evil" not in shown and "<@U0BOSS>" not in shown
    assert "&lt;!channel&gt; &lt;http://evil|click&gt; &amp; &lt;@U0BOSS&gt;" in "\n".join(texts(blocks))


def test_unknown_numbers_notice_and_flags() -> None:
    card = make_card(
        draft={
            "unknown_numbers": ("4.50", "30%"),
            "flags": ("price", "delivery_date"),
            "notice": "The model did not answer in time; this is the template reply.",
        }
    )
    shown = "\n".join(texts(render_card(card)[1]))
    assert ":warning: Review numbers: 4.50, 30%" in shown
    assert ":label: price, delivery date" in shown
    assert ":information_source: The model did not answer in time" in shown


def test_media_links_appear() -> None:
    media = (
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2?a=1&b=2",
    )
    shown = "\n".join(texts(render_card(make_card(body="", media=media))[1]))
    assert f"<{media[0]}|attachment 1>" in shown
    assert f"<{media[1].replace('&', '&amp;')}|attachment 2>" in shown
    assert "_(no text)_" in shown


def test_translation_and_back_translation_omitted_when_identical() -> None:
    card = make_card(
        body="Price for 500 kg?",
        draft={
            "translation": "Price for 500 kg?",
            "language": "en",
            "text": "It is 4.20 USD/kg.",
            "back_translation": "It is 4.20 USD/kg.",
        },
    )
    shown = "\n".join(texts(render_card(card)[1]))
    assert "*Translation*" not in shown and "*Back-translation*" not in shown


def test_every_text_stays_within_slack_limits() -> None:
    long = "&" * 5000
    card = make_card(body=long, draft={"text": "x" * 9000, "notice": "n" * 4000})
    text, blocks = render_card(card)
    assert len(text) <= 300
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
        if block["type"] == "context":
            assert all(len(e["text"]) <= 2000 for e in block["elements"])
    buyer = next(b for b in blocks if b["type"] == "section" and "Buyer wrote" in b["text"]["text"])
    assert buyer["text"]["text"].endswith("&amp;…")  # clipped whole entities only


def test_clip_and_flag() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("ab&amp;cd", 6) == "ab…"
    assert flag("in") == "🇮🇳" and flag(None) == "" and flag("XYZ") == ""


def test_edit_modal_is_prefilled_with_the_draft() -> None:
    view = edit_modal(make_card())
    assert view["callback_id"] == "tm_edit_submit" and view["private_metadata"] == "42"
    element = view["blocks"][-1]["element"]
    assert element["type"] == "plain_text_input" and element["multiline"] is True
    assert element["initial_value"] == "Hola Carlos, 500 kg de cúrcuma cuestan 4,20 USD/kg FOB Chennai."
    assert len(view["title"]["text"]) <= 24


# --- translators -----------------------------------------------------------------------------------


def test_translate_recorded_button_tap() -> None:
    req = translate_action(payload("slack_block_actions.json"))
    assert req == DecisionRequest(
        draft_id=42,
        action=Action.SEND,
        actor="U0REP00001",
        surface="slack",
        extra={
            "channel": "C0SALES001",
            "message_ts": "1700000000.000100",
            "trigger_id": "6170000000001.5000000000001.6f9d2d4a7c1e3b8a0f5e2d1c9b8a7f6e",
        },
    )


@pytest.mark.parametrize(
    ("action_id", "action"),
    [("tm_edit", Action.EDIT), ("tm_regenerate", Action.REGENERATE), ("tm_discard", Action.DISCARD)],
)
def test_translate_other_buttons(action_id: str, action: Action) -> None:
    body = payload("slack_block_actions.json")
    body["actions"][0]["action_id"] = action_id
    req = translate_action(body)
    assert req is not None and req.action is action and req.draft_id == 42


def test_translate_unknown_or_malformed_action_is_none() -> None:
    body = payload("slack_block_actions.json")
    body["actions"][0]["action_id"] = "someone_elses_button"
    assert translate_action(body) is None
    body = payload("slack_block_actions.json")
    body["actions"][0]["value"] = "not-a-number"
    assert translate_action(body) is None
    assert translate_action(payload("slack_view_submission.json")) is None


def test_translate_recorded_edit_submission() -> None:
    req = translate_edit_submission(payload("slack_view_submission.json"))
    assert req == DecisionRequest(
        draft_id=42,
        action=Action.EDIT,
        actor="U0REP00001",
        surface="slack",
        text="Hola Carlos, 500 kg de cúrcuma cuestan 4,10 USD/kg FOB Chennai. ¿Le envío la proforma?",
    )


# --- the surface against FakeSlack -------------------------------------------------------------------



def test_slack_surface_is_a_chat_surface(fake_slack: FakeSlack) -> None:
    client = build_client(SLACK_TOKEN, fake_slack.url + "/api")  # no trailing slash: build_client adds it
    assert isinstance(SlackSurface(client, "C0SALES001"), ChatSurface)


async def test_request_approval_then_update_card(fake_slack: FakeSlack) -> None:
    surface = SlackSurface(build_client(SLACK_TOKEN, fake_slack.url + "/api/"), "C0SALES001")
    card = make_card()
    ref = await surface.request_approval(card)
    (posted,) = fake_slack.messages()
    (ts,) = fake_slack.posted
    assert ref == f"C0SALES001:{ts}"
    assert posted["channel"] == "C0SALES001" and posted["blocks"] == render_card(card)[1]
    assert posted["unfurl_links"] is False

    done = sent(OutboxState.DELIVERED)
    await surface.update_card(ref, done)
    (update,) = fake_slack.updates()
    assert (update["channel"], update["ts"]) == tuple(ref.split(":"))
    assert update["blocks"] == render_card(done)[1] and update["text"]
    assert fake_slack.posted[update["ts"]]["blocks"] == render_card(done)[1]

    await surface.post("Good morning: 3 buyers waiting.")
    assert fake_slack.messages()[-1]["text"] == "Good morning: 3 buyers waiting."


async def test_card_ref_uses_the_channel_id_slack_returns(fake_slack: FakeSlack) -> None:
    # Slack resolves a channel name to its ID in the answer; the canned answer plays that part.
    answer = {"ok": True, "channel": "C0SALES001", "ts": "1700000001.000200"}
    fake_slack.fail_next("/api/chat.postMessage", 200, answer)
    surface = SlackSurface(build_client(SLACK_TOKEN, fake_slack.url + "/api/"), "#export-sales")
    assert await surface.request_approval(make_card()) == "C0SALES001:1700000001.000200"
    assert fake_slack.messages()[0]["channel"] == "#export-sales"


async def test_client_retries_rate_limits_and_server_errors(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("/api/chat.postMessage", 429, headers={"Retry-After": "0"})
    fake_slack.fail_next("/api/chat.update", 503)
    surface = SlackSurface(build_client(SLACK_TOKEN, fake_slack.url + "/api/"), "C0SALES001")
    ref = await surface.request_approval(make_card())
    await surface.update_card(ref, make_card())
    assert [r.status for r in fake_slack.calls("/api/chat.postMessage")] == [429, 200]
    assert [r.status for r in fake_slack.calls("/api/chat.update")] == [503, 200]


async def test_slack_refusal_becomes_a_readable_error(fake_slack: FakeSlack) -> None:
    fake_slack.error_next("chat.postMessage", "not_in_channel")
    surface = SlackSurface(build_client(SLACK_TOKEN, fake_slack.url + "/api/"), "C0SALES001")
    with pytest.raises(TrademateError, match=r"not_in_channel \(invite the Trademate bot"):
        await surface.request_approval(make_card())


def test_app_refuses_an_empty_signing_secret(fake_slack: FakeSlack) -> None:
    async def decide(req: DecisionRequest) -> str | None:
        return None

    with pytest.raises(ConfigError):
        create_slack_app(
            signing_secret="",
            client=build_client(SLACK_TOKEN, fake_slack.url + "/api/"),
            decide=decide,
            get_card=lambda draft_id: make_card(),
        )


# --- the real bolt app over HTTP ---------------------------------------------------------------------


class Rep:
    """The collaborators the app is given: a `decide` and a `get_card` that record their calls."""

    def __init__(self) -> None:
        self.decisions: list[DecisionRequest] = []
        self.answer: str | None = None
        self.hold: threading.Event | None = None  # when set, decide() waits for it (a slow send)
        self.cards: dict[int, Card] = {42: make_card()}

    async def decide(self, req: DecisionRequest) -> str | None:
        self.decisions.append(req)
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait, 10)
        return self.answer

    def get_card(self, draft_id: int) -> Card:
        return self.cards[draft_id]


class Served:
    def __init__(self, url: str, rep: Rep, fake: FakeSlack) -> None:
        self.url, self.rep, self.fake = url, rep, fake

    async def post(
        self, body: dict[str, Any], *, signature: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST a payload the way Slack does: form-encoded `payload=<json>`, v0-signed."""
        raw = urlencode({"payload": json.dumps(body)})
        ts = str(int(time.time()))
        expected = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{raw}".encode(), hashlib.sha256).hexdigest()
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            return await http.post(
                "/slack/events",
                content=raw,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": signature or expected,
                    **(headers or {}),
                },
            )


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def served(fake_slack: FakeSlack) -> Iterator[Served]:
    rep = Rep()
    client = build_client(SLACK_TOKEN, fake_slack.url + "/api/")
    app = create_slack_app(signing_secret=SECRET, client=client, decide=rep.decide, get_card=rep.get_card)
    web = Starlette(routes=[Route("/slack/events", starlette_route_handler(app), methods=["POST"])])
    with serve(web, lifespan="off") as url:
        yield Served(url, rep, fake_slack)
        if rep.hold is not None:
            rep.hold.set()


async def test_forged_signature_is_rejected_and_nothing_is_decided(served: Served) -> None:
    resp = await served.post(payload("slack_block_actions.json"), signature="v0=" + "0" * 64)
    assert resp.status_code == 401
    stale = await served.post(
        payload("slack_block_actions.json"),
        headers={"X-Slack-Request-Timestamp": str(int(time.time()) - 3600)},
    )
    assert stale.status_code == 401
    await asyncio.sleep(0.2)  # give a wrongly started background task time to show itself
    assert served.rep.decisions == []
    assert served.fake.requests == []


async def test_a_tap_is_acked_at_once_then_decided_once(served: Served) -> None:
    served.rep.hold = threading.Event()  # a send that takes as long as it likes
    started = time.monotonic()
    resp = await served.post(payload("slack_block_actions.json"))
    assert resp.status_code == 200 and time.monotonic() - started < 2
    await eventually(lambda: len(served.rep.decisions) == 1)
    served.rep.hold.set()
    (req,) = served.rep.decisions
    assert (req.draft_id, req.action, req.actor, req.surface) == (42, Action.SEND, "U0REP00001", "slack")
    await asyncio.sleep(0.2)
    assert len(served.rep.decisions) == 1
    assert served.fake.calls("/api/chat.postEphemeral") == []  # None means it took effect: nothing to say


async def test_a_refusal_reaches_only_the_tapping_rep(served: Served) -> None:
    served.rep.answer = "This draft was already sent by U0REP00002; nothing more was done."
    body = payload("slack_block_actions.json")
    body["actions"][0]["action_id"] = "tm_discard"
    assert (await served.post(body)).status_code == 200
    call = await served.fake.await_for("/api/chat.postEphemeral")
    args = call.args
    assert (args["channel"], args["user"]) == ("C0SALES001", "U0REP00001")
    assert args["text"] == served.rep.answer
    assert call.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert served.rep.decisions[0].action is Action.DISCARD


async def test_a_slack_retry_is_acked_and_not_announced_twice(served: Served) -> None:
    served.rep.answer = "This draft was already sent by U0REP00001; nothing more was done."
    resp = await served.post(
        payload("slack_block_actions.json"),
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert resp.status_code == 200
    await eventually(lambda: len(served.rep.decisions) == 1)
    await asyncio.sleep(0.2)
    assert served.fake.calls("/api/chat.postEphemeral") == []


async def test_edit_opens_a_prefilled_modal(served: Served) -> None:
    body = payload("slack_block_actions.json")
    body["actions"][0]["action_id"] = "tm_edit"
    assert (await served.post(body)).status_code == 200
    call = await served.fake.await_for("/api/views.open")
    assert call.json["trigger_id"] == body["trigger_id"]
    assert call.json["view"] == edit_modal(served.rep.cards[42])
    assert served.rep.decisions == []


async def test_edit_on_a_decided_card_explains_instead(served: Served) -> None:
    served.rep.cards[42] = sent(OutboxState.SENT)
    body = payload("slack_block_actions.json")
    body["actions"][0]["action_id"] = "tm_edit"
    assert (await served.post(body)).status_code == 200
    call = await served.fake.await_for("/api/chat.postEphemeral")
    assert "no longer waiting" in call.args["text"]
    assert served.fake.calls("/api/views.open") == []


async def test_edit_submission_closes_the_modal_and_sends_the_edit(served: Served) -> None:
    resp = await served.post(payload("slack_view_submission.json"))
    assert resp.status_code == 200 and resp.text == ""  # an empty 200 closes the modal
    await eventually(lambda: len(served.rep.decisions) == 1)
    assert served.rep.decisions[0] == translate_edit_submission(payload("slack_view_submission.json"))


async def test_edit_refusal_goes_to_the_cards_channel(served: Served) -> None:
    served.rep.answer = "The edited reply is empty; nothing was sent."
    assert (await served.post(payload("slack_view_submission.json"))).status_code == 200
    call = await served.fake.await_for("/api/chat.postEphemeral")
    assert (call.args["channel"], call.args["user"]) == ("C0SALES001", "U0REP00001")


async def test_blank_edit_keeps_the_modal_open_with_an_error(served: Served) -> None:
    body = payload("slack_view_submission.json")
    body["view"]["state"]["values"]["tm_edit"]["tm_edit_text"]["value"] = "   \n "
    resp = await served.post(body)
    assert resp.status_code == 200
    assert resp.json() == {
        "response_action": "errors",
        "errors": {"tm_edit": "Write the reply to send, or press Cancel."},
    }
    await asyncio.sleep(0.2)
    assert served.rep.decisions == []
