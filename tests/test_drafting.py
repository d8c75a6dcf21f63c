"""bot.drafting: the template drafter, the LLM drafter over a fake chat model, build_drafter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from bot.catalog import Catalog, load_catalog
from bot.config import DEFAULT_CATALOG, Settings
from bot.drafting import (
    INTENTS,
    TEMPLATE_LANGUAGES,
    DraftOutput,
    DraftRequest,
    LLMDrafter,
    TemplateDrafter,
    build_drafter,
    classify_intent,
)
from bot.errors import ConfigError
from bot.guardrail import find_unknown_numbers
from bot.models import Turn

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class FakeChatModel(BaseChatModel):
    """Answers every call with one scripted DraftOutput as a tool call, records what it was sent.

    `error` is raised instead of answering; `delay` holds the async answer back (for timeouts).
    """

    answer: dict[str, Any] = {}
    error: Any = None
    delay: float = 0.0
    calls: list[list[BaseMessage]] = []
    structured_kwargs: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "fake-structured"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        self.structured_kwargs.append(kwargs)
        return super().with_structured_output(schema, **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        if self.error is not None:
            raise self.error
        call = {"name": "DraftOutput", "args": self.answer, "id": "call_1", "type": "tool_call"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=[call]))])

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                         **kwargs: Any) -> ChatResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._generate(messages, stop, **kwargs)


SPANISH_ANSWER = {
    "buyer_language": "es-MX",
    "translation": "How much is the 500 ml flask?",
    "intent": "price_inquiry",
    "reply": "Hola Ana, el VF-500 cuesta 4.20 USD desde 500 pcs (FOB Ningbo). ¿Qué cantidad necesita?",
    "back_translation": "Hi Ana, the VF-500 costs 4.20 USD from 500 pcs (FOB Ningbo). What quantity do you need?",
    "flags": ["price", "made_up_flag"],
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(DEFAULT_CATALOG)


@pytest.fixture()
def template(catalog: Catalog) -> TemplateDrafter:
    return TemplateDrafter(catalog)


def fake(**fields: Any) -> FakeChatModel:
    return FakeChatModel(calls=[], structured_kwargs=[], **fields)


# --- intents ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("Hi!", "greeting"),
        ("Buenos días", "greeting"),
        ("How much for 1000 pcs of VF-500?", "price_inquiry"),
        ("¿Cuál es el precio del termo?", "price_inquiry"),
        ("Quel est votre prix ?", "price_inquiry"),
        ("Сколько стоит термос?", "price_inquiry"),
        ("What is your MOQ?", "moq"),
        ("Qual é o pedido mínimo?", "moq"),
        ("Can you send me a sample?", "sample_request"),
        ("Können Sie mir ein Muster schicken?", "sample_request"),
        ("我们需要样品", "sample_request"),
        ("What is the lead time?", "lead_time"),
        ("Wie lange ist die Lieferzeit?", "lead_time"),
        ("Could you send your catalogue?", "catalog_request"),
        ("Envíeme su catálogo por favor", "catalog_request"),
        ("We want to place an order for 2000 pcs", "order"),
        ("Queremos hacer un pedido", "order"),
        ("The flasks arrived damaged", "complaint"),
        ("Les bouteilles sont arrivées cassées", "complaint"),
        ("Thanks, I'll tell my boss", "other"),
        ("", "follow_up"),
    ],
)
def test_classify_intent(message: str, intent: str) -> None:
    assert classify_intent(message) == intent


# --- the template drafter ---------------------------------------------------------------------


async def test_template_is_deterministic(template: TemplateDrafter) -> None:
    req = DraftRequest("Hola, ¿cuánto cuesta el termo de 500 ml?", buyer_name="Ana")
    assert await template.draft(req) == await template.draft(req)


async def test_price_inquiry_quotes_the_catalog_only(template: TemplateDrafter, catalog: Catalog) -> None:
    req = DraftRequest("Hola, ¿cuánto cuesta el termo de 500 ml?", buyer_name="Ana")
    result = await template.draft(req)
    assert (result.buyer_language, result.intent, result.source) == ("es", "price_inquiry", "template")
    assert result.reply.startswith("Hola Ana")
    assert "VF-500" in result.reply and "4.20 USD" in result.reply and "3.40 USD" in result.reply
    assert "Pedido mínimo 500 pcs" in result.reply and "30% de depósito" in result.reply
    assert "Thank you for your interest" in result.back_translation  # rendered in the rep's language
    assert find_unknown_numbers(result.reply, catalog, [req.message]) == ()
    assert {"price", "payment_terms"} <= set(result.flags)
    assert result.translation == req.message
    assert result.notice and "no translation without a model" in result.notice


@pytest.mark.parametrize("language", TEMPLATE_LANGUAGES)
@pytest.mark.parametrize("message", ["price of VF-750?", "MOQ?", "lead time?", "catalog", "sample", "hello", ""])
@pytest.mark.parametrize("attempt", [1, 2])
def test_every_template_renders_with_catalog_numbers_only(
    template: TemplateDrafter, catalog: Catalog, language: str, message: str, attempt: int
) -> None:
    result = template.compose(DraftRequest(message, attempt=attempt, rep_language=language), language)
    assert "{" not in result.reply and "[" not in result.reply
    assert find_unknown_numbers(result.reply, catalog, []) == ()
    assert result.back_translation == result.reply


async def test_attempt_two_rotates_the_wording(template: TemplateDrafter) -> None:
    first = await template.draft(DraftRequest("Do you have a catalog?", attempt=1))
    second = await template.draft(DraftRequest("Do you have a catalog?", attempt=2))
    third = await template.draft(DraftRequest("Do you have a catalog?", attempt=3))
    assert first.reply != second.reply
    assert third.reply == first.reply


async def test_english_buyer_english_rep(template: TemplateDrafter) -> None:
    result = await template.draft(DraftRequest("Could you send me some samples please?"))
    assert (result.buyer_language, result.intent) == ("en", "sample_request")
    assert result.translation == "Could you send me some samples please?"
    assert result.notice is None
    assert "Up to 2 free stock samples" in result.reply


async def test_language_without_templates_answers_in_english_flagged(template: TemplateDrafter) -> None:
    result = await template.draft(DraftRequest("Сколько стоит термос?"))
    assert result.buyer_language == "ru"
    assert result.reply.startswith("Hello") and "4.20 USD" in result.reply
    assert "translate_before_sending" in result.flags
    assert result.notice and "Russian" in result.notice and "translate it before sending" in result.notice
    assert "no translation without a model" in result.notice
    assert result.translation == "Сколько стоит термос?"


async def test_short_message_takes_language_and_item_from_history(template: TemplateDrafter) -> None:
    history = (Turn("buyer", "Buenos días, ¿tienen el VF-750 en stock?", AT), Turn("rep", "Sí.", AT))
    result = await template.draft(DraftRequest("¿precio?", history=history))
    assert result.buyer_language == "es" and result.intent == "price_inquiry"
    assert "VF-750" in result.reply and "VF-500" not in result.reply


async def test_follow_up_without_a_message(template: TemplateDrafter) -> None:
    history = (Turn("buyer", "Merci pour le devis, je reviens vers vous.", AT),)
    result = await template.draft(DraftRequest("", history=history, hint="Follow up on the quote"))
    assert (result.intent, result.buyer_language) == ("follow_up", "fr")
    assert "notre dernier échange" in result.reply
    assert result.notice is None


async def test_missing_company_terms_become_placeholders(tmp_path: Path) -> None:
    csv_catalog = load_catalog(DEFAULT_CATALOG.parent / "catalog.example.csv")
    result = await TemplateDrafter(csv_catalog).draft(DraftRequest("Price of the kettle?"))
    assert "[payment terms?]" in result.reply and "[incoterms?]" in result.reply
    assert "needs_rep_input" in result.flags


# --- the LLM drafter --------------------------------------------------------------------------


def spanish_request(**overrides: Any) -> DraftRequest:
    fields: dict[str, Any] = {
        "message": "¿Cuánto cuesta el termo de 500 ml?",
        "history": (
            Turn("buyer", "Hola, somos distribuidores en Madrid.", AT),
            Turn("rep", "¡Hola! Encantados, ¿en qué productos está interesado?", AT),
        ),
        "buyer_name": "Ana",
        "buyer_country": "ES",
    }
    fields.update(overrides)
    return DraftRequest(**fields)


async def test_llm_prompt_is_grounded(catalog: Catalog, template: TemplateDrafter) -> None:
    model = fake(answer=SPANISH_ANSWER)
    drafter = LLMDrafter(model, catalog, template)
    await drafter.draft(spanish_request(hint="Mention the 5000 pcs tier", attempt=2))
    assert model.structured_kwargs == [{"method": "json_schema"}]
    (messages,) = model.calls
    system, user = (str(m.content) for m in messages)
    assert catalog.as_prompt_context() in system
    assert "30% T/T deposit, 70% balance before shipment" in system
    assert "Never invent a price" in system and "[price?]" in system
    assert "Spanish (es)" in system and "English (en)" in system  # buyer guess and rep language
    assert "Hola, somos distribuidores en Madrid." in user and "[2026-03-02 09:30] rep:" in user
    assert "¿Cuánto cuesta el termo de 500 ml?" in user
    assert "Ana (country: ES)" in user
    assert "Mention the 5000 pcs tier" in user
    assert "attempt 2" in user and "different version" in user


async def test_llm_prompt_keeps_the_last_history_turns(catalog: Catalog, template: TemplateDrafter) -> None:
    model = fake(answer=SPANISH_ANSWER)
    history = tuple(Turn("buyer", f"message number {n}", AT) for n in range(30))
    await LLMDrafter(model, catalog, template, max_history=5).draft(spanish_request(history=history))
    user = str(model.calls[0][1].content)
    assert "message number 29" in user and "message number 25" in user and "message number 24" not in user
    assert "attempt" not in user


async def test_llm_result_is_mapped(catalog: Catalog, template: TemplateDrafter) -> None:
    result = await LLMDrafter(fake(answer=SPANISH_ANSWER), catalog, template).draft(spanish_request())
    assert result.source == "llm" and result.notice is None
    assert result.buyer_language == "es"
    assert result.intent == "price_inquiry"
    assert result.reply == SPANISH_ANSWER["reply"]
    assert result.translation == SPANISH_ANSWER["translation"]
    assert result.back_translation == SPANISH_ANSWER["back_translation"]
    assert result.flags == ("price",)  # unknown flags dropped, detect_flags merged


async def test_llm_flags_are_merged_with_the_guardrail(catalog: Catalog, template: TemplateDrafter) -> None:
    answer = {**SPANISH_ANSWER, "intent": "haggling", "flags": [],
              "reply": "Podemos hacer un descuento, entrega en [fecha?]. Pago 30% por adelantado."}
    result = await LLMDrafter(fake(answer=answer), catalog, template).draft(spanish_request())
    assert result.intent == "other"
    assert result.flags == ("discount", "delivery_date", "payment_terms", "needs_rep_input")


@pytest.mark.parametrize("error", [RuntimeError("boom"), ValueError("bad json")])
async def test_llm_error_falls_back_to_the_template(
    catalog: Catalog, template: TemplateDrafter, error: Exception
) -> None:
    req = spanish_request()
    result = await LLMDrafter(fake(error=error), catalog, template).draft(req)
    expected = await template.draft(req)
    assert result.source == "template"
    assert result.reply == expected.reply and result.intent == "price_inquiry"
    assert result.notice is not None
    assert result.notice.startswith(f"The language model failed ({type(error).__name__}); this is a template draft.")
    assert "no translation without a model" in result.notice


async def test_llm_timeout_falls_back_to_the_template(catalog: Catalog, template: TemplateDrafter) -> None:
    drafter = LLMDrafter(fake(answer=SPANISH_ANSWER, delay=5), catalog, template, timeout=0.05)
    result = await asyncio.wait_for(drafter.draft(spanish_request()), 3)
    assert result.source == "template"
    assert result.notice and result.notice.startswith("The language model failed (timeout after 0.05s)")


async def test_llm_empty_reply_falls_back(catalog: Catalog, template: TemplateDrafter) -> None:
    result = await LLMDrafter(fake(answer={**SPANISH_ANSWER, "reply": "  "}), catalog, template).draft(
        spanish_request()
    )
    assert result.source == "template" and "ValueError" in (result.notice or "")


def test_draft_output_schema_is_strict_friendly() -> None:
    schema = DraftOutput.model_json_schema()
    assert set(schema["required"]) == set(schema["properties"])  # OpenAI strict mode wants all required
    assert all(intent in schema["properties"]["intent"]["description"] for intent in INTENTS)


# --- build_drafter ----------------------------------------------------------------------------


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_build_drafter_without_model_is_the_template(catalog: Catalog) -> None:
    assert isinstance(build_drafter(settings(trademate_model=""), catalog), TemplateDrafter)


def test_build_drafter_with_model(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    drafter = build_drafter(settings(trademate_model="openai:gpt-4o-mini", trademate_model_timeout=7), catalog)
    assert isinstance(drafter, LLMDrafter)
    assert drafter.timeout == 7
    assert isinstance(drafter.fallback, TemplateDrafter)


def test_build_drafter_unknown_provider_is_a_config_error(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="TRADEMATE_MODEL='nosuchprovider:model'"):
        build_drafter(settings(trademate_model="nosuchprovider:model"), catalog)


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("Perfecto, gracias. ¿Y cuánto tarda la producción?", "lead_time"),
        ("¿Cuánto cuesta el termo?", "price_inquiry"),
        ("Wie lange dauert die Produktion?", "lead_time"),
    ],
)
def test_lead_time_questions_are_not_mistaken_for_price(message: str, intent: str) -> None:
    assert classify_intent(message) == intent
