"""Drafts that learn from the rep: per-rep few-shot retrieval, the draft cache, draft outcomes.

The drafting model is langchain-openai's ChatOpenAI pointed at the fake OpenAI server; the store
is a real SQLite file; handlers run as the app runs them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI

from bot import store_intel
from bot.catalog import load_catalog
from bot.channels.console import ConsoleChannel
from bot.config import DEFAULT_CATALOG
from bot.drafting import LLMDrafter, TemplateDrafter
from bot.models import Action, DecisionRequest, Draft, IncomingMessage
from bot.phones import phone_info
from bot.services import Services
from bot.store import Store
from bot.surfaces.console import ConsoleSurface
from bot.team import Rep, Team
from handlers.approval import on_decision
from handlers.inbound import on_buyer_message
from tests.fakes import FakeLLM

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class StepClock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(str(tmp_path / "t.db"))
    yield s
    s.close()


def services(store: Store, llm: FakeLLM | None = None) -> Services:
    catalog = load_catalog(DEFAULT_CATALOG)
    template = TemplateDrafter(catalog)
    drafter: Any = template
    if llm is not None:
        model = ChatOpenAI(model="gpt-4o-mini", base_url=llm.url + "/v1", api_key="test", max_retries=0,
                           temperature=0, http_async_client=httpx.AsyncClient())
        drafter = LLMDrafter(model, catalog, template, timeout=5)
    return Services(store=store, drafter=drafter, surface=ConsoleSurface(out=lambda _: None),
                    channel=ConsoleChannel(out=lambda _: None), catalog=catalog, clock=StepClock(), team=TEAM)


def _rep(name: str) -> Rep:
    return Rep(name, "rep", f"U0{name.upper()}", None, None, None, ("en",), "UTC", time(9), time(18), time(8, 30))


TEAM = Team(reps=(_rep("ana"), _rep("ben"), _rep("carla")))


_sids = itertools.count(1)


async def buyer_says(svc: Services, address: str, body: str, *, name: str = "Ana", owner: str | None = None
                     ) -> Draft:
    message, _ = svc.store.add_inbound(IncomingMessage(f"SM{next(_sids)}", address, body, "whatsapp", name),
                                       phone_info(address), svc.clock.now())
    if owner is not None:
        svc.store.db.execute("UPDATE conversations SET owner = ? WHERE id = ?", [owner, message.conversation_id])
    return await on_buyer_message(svc, message.id)


async def rep(svc: Services, draft: Draft, action: Action, text: str | None = None) -> None:
    assert await on_decision(svc, DecisionRequest(draft.id, action, "U1", "console", text)) is None


ANA_REPLY = "¡Hola! El termo VF-500 sale a 4.20 USD desde 500 pcs. Ana (ventas), a su servicio."
BEN_REPLY = "Hola, precio especial solo para usted: 3.10 USD. Ben."


async def test_retrieval_returns_the_reps_own_reply_in_the_same_language_never_another_reps(
        store: Store) -> None:
    svc = services(store)
    ana_first = await buyer_says(svc, "whatsapp:+34600000001", "¿Cuál es el precio del termo de 500 ml?",
                                 owner="ana")
    await rep(svc, ana_first, Action.EDIT, ANA_REPLY)
    english = await buyer_says(svc, "whatsapp:+14155550001", "What is the price of the 500 ml flask?", owner="ana")
    await rep(svc, english, Action.EDIT, "Hi! English reply from Ana.")
    ben_first = await buyer_says(svc, "whatsapp:+34600000002", "¿Precio del termo de 500 ml, por favor?",
                                 owner="ben")
    await rep(svc, ben_first, Action.EDIT, BEN_REPLY)

    question = "Hola, ¿qué precio tiene el termo de 500 ml?"
    for_ana = store_intel.similar_approved(store, question, owner="ana", language="es")
    assert for_ana == [("¿Cuál es el precio del termo de 500 ml?", ANA_REPLY)]
    for_ben = store_intel.similar_approved(store, question, owner="ben", language="es")
    assert for_ben == [("¿Precio del termo de 500 ml, por favor?", BEN_REPLY)]
    assert store_intel.similar_approved(store, question, owner=None, language="es") == []  # nothing shared
    assert store_intel.similar_approved(store, "precio", owner="carla", language="es") == []


async def test_the_reps_examples_reach_the_prompt_and_another_reps_do_not(store: Store, fake_llm: FakeLLM) -> None:
    fake_llm.default = lambda body: {"buyer_language": "es", "translation": "t", "intent": "price_inquiry",
                                     "reply": "Hola, el VF-500 cuesta 4.20 USD.", "back_translation": "b",
                                     "flags": []}
    svc = services(store, fake_llm)
    ana_first = await buyer_says(svc, "whatsapp:+34600000001", "¿Cuál es el precio del termo de 500 ml?",
                                 owner="ana")
    await rep(svc, ana_first, Action.EDIT, ANA_REPLY)
    ben_first = await buyer_says(svc, "whatsapp:+34600000002", "¿Cuál es el precio del termo de 500 ml?",
                                 owner="ben")
    await rep(svc, ben_first, Action.EDIT, BEN_REPLY)

    await buyer_says(svc, "whatsapp:+34600000003", "Buenas, ¿precio del termo de 500 ml?", owner="ana")
    prompt = fake_llm.last_prompt_text()
    assert ANA_REPLY in prompt and "Replies the rep approved earlier" in prompt
    assert BEN_REPLY not in prompt
    await buyer_says(svc, "whatsapp:+34600000004", "Buenas, ¿precio del termo de 500 ml?", owner="ben")
    prompt = fake_llm.last_prompt_text()
    assert BEN_REPLY in prompt and ANA_REPLY not in prompt


async def test_identical_input_gives_the_identical_draft_and_regenerate_asks_again(
        store: Store, fake_llm: FakeLLM) -> None:
    counter = itertools.count(1)
    fake_llm.default = lambda body: {"buyer_language": "es", "translation": "t", "intent": "price_inquiry",
                                     "reply": f"Hola, versión {next(counter)}.", "back_translation": "b",
                                     "flags": []}
    svc = services(store, fake_llm)
    first = await buyer_says(svc, "whatsapp:+34600000001", "¿Hacen envíos a Valencia?", name="Ana")
    second = await buyer_says(svc, "whatsapp:+34600000002", "¿Hacen envíos a Valencia?", name="Ana")
    assert first.text == second.text == "Hola, versión 1."
    assert len(fake_llm.completions()) == 1  # the second came from the cache
    for call in fake_llm.completions():
        assert call["temperature"] == 0

    await rep(svc, second, Action.REGENERATE)
    regenerated = store.pending_drafts(second.conversation_id)[0]
    assert regenerated.version == 2 and regenerated.text == "Hola, versión 2."
    assert len(fake_llm.completions()) == 2

    # A different conversation state (another buyer name) is a different key.
    other = await buyer_says(svc, "whatsapp:+34600000003", "¿Hacen envíos a Valencia?", name="Luis")
    assert other.text == "Hola, versión 3."


async def test_a_failed_model_call_is_not_cached(store: Store, fake_llm: FakeLLM) -> None:
    svc = services(store, fake_llm)
    fake_llm.fail_next(status=500)
    first = await buyer_says(svc, "whatsapp:+34600000001", "¿Hacen envíos a Valencia?")
    assert first.source == "template"
    fake_llm.default = lambda body: {"buyer_language": "es", "translation": "t", "intent": "other",
                                     "reply": "Hola, sí.", "back_translation": "b", "flags": []}
    second = await buyer_says(svc, "whatsapp:+34600000002", "¿Hacen envíos a Valencia?")
    assert (second.source, second.text) == ("llm", "Hola, sí.")


async def test_outcome_counts_per_rep_with_edit_size(store: Store) -> None:
    svc = services(store)
    unedited = await buyer_says(svc, "whatsapp:+34600000001", "Hola", owner="ana")
    await rep(svc, unedited, Action.SEND)
    edited = await buyer_says(svc, "whatsapp:+34600000002", "¿Precio del termo?", owner="ana")
    await rep(svc, edited, Action.EDIT, edited.text + " Saludos, Ana.")
    regenerated = await buyer_says(svc, "whatsapp:+34600000003", "¿Muestras?", owner="ben")
    await rep(svc, regenerated, Action.REGENERATE)
    await rep(svc, store.pending_drafts(regenerated.conversation_id)[0], Action.DISCARD)
    await buyer_says(svc, "whatsapp:+34600000004", "Hola", owner="ben")  # still pending

    everyone = store_intel.outcome_counts(store, T0)
    assert everyone.counts == {"sent_unedited": 1, "edited": 1, "regenerated": 1, "discarded": 1,
                               "superseded": 0, "pending": 1}
    assert everyone.edit_distances == (len(" Saludos, Ana."),)
    assert 0.8 < everyone.edit_ratios[0] < 1
    assert everyone.unedited_rate == 0.5
    ana = store_intel.outcome_counts(store, T0, rep="ana")
    assert (ana.counts["sent_unedited"], ana.counts["edited"], ana.counts["regenerated"]) == (1, 1, 0)
    assert store_intel.outcome_counts(store, svc.clock.now() + timedelta(hours=1)).decided == 0
    outcome_rows = store.db.execute("SELECT outcome FROM draft_outcomes ORDER BY draft_id").fetchall()
    assert [r[0] for r in outcome_rows] == ["sent_unedited", "edited", "regenerated", "discarded", "pending"]


def test_edit_size_counts_changed_characters() -> None:
    assert store_intel.edit_size("Hola Ana", "Hola Ana") == (0, 1.0)
    distance, ratio = store_intel.edit_size("Hola Ana, 4.20 USD", "Hola Ana, 4.10 USD")
    assert distance == 1 and ratio > 0.9


def test_buyer_text_cannot_inject_fts_syntax(store: Store) -> None:
    for text in ['"unbalanced', "NEAR(a b)", "price* OR -x", "^^^", ""]:
        assert store_intel.similar_approved(store, text, owner="ana", language="es") == []



async def test_an_unrelated_reply_is_not_offered_as_an_example(store: Store) -> None:
    svc = services(store)
    first = await buyer_says(svc, "whatsapp:+34600000001", "Hola, ¿tienen el termo en color rojo?", owner="ana")
    await rep(svc, first, Action.EDIT, "Sí, en rojo y azul.")
    question = "Hola, ¿cuál es el plazo de entrega para Valencia?"
    assert store_intel.similar_approved(store, question, owner="ana", language="es") == []


async def test_a_reps_conversation_also_draws_on_the_shared_pool_after_their_own(store: Store) -> None:
    svc = services(store)
    shared = await buyer_says(svc, "whatsapp:+34600000001", "¿Cuál es el precio del termo de 500 ml?")
    # Conversations approved before owners existed have none: they form the shared pool.
    store.db.execute("UPDATE conversations SET owner = NULL WHERE id = ?", [shared.conversation_id])
    await rep(svc, shared, Action.EDIT, "Respuesta del equipo.")
    question = "¿Qué precio tiene el termo de 500 ml?"
    assert store_intel.similar_approved(store, question, owner="ana", language="es") == [
        ("¿Cuál es el precio del termo de 500 ml?", "Respuesta del equipo.")]
    own = await buyer_says(svc, "whatsapp:+34600000002", "Precio del termo de 500 ml", owner="ana")
    await rep(svc, own, Action.EDIT, ANA_REPLY)
    found = store_intel.similar_approved(store, question, owner="ana", language="es")
    assert [reply for _, reply in found] == [ANA_REPLY, "Respuesta del equipo."]  # her own first
    assert store_intel.similar_approved(store, question, owner=None, language="es") == [
        ("¿Cuál es el precio del termo de 500 ml?", "Respuesta del equipo.")]  # unowned: shared only
