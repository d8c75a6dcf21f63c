"""Drafts that learn from the rep, and answer the same question the same way.

Owns two steps around the one drafting call: `add_examples` fills `DraftRequest.examples` with the
closest replies the conversation's owner approved earlier (same language, never another rep's),
and `cached_draft` answers an identical request from the SQLite draft cache. The cache key covers
everything the model sees except timestamps: model, prompt text version, catalog, the conversation
(roles and texts), the message, the examples and the attempt number, so Regenerate (attempt + 1)
always asks the model again. Only model drafts are cached: a template fallback after a model
failure must not stick.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import asdict, replace
from functools import cache

from bot import store_intel
from bot.catalog import Catalog
from bot.drafting import SYSTEM_PROMPT, DraftRequest, buyer_language
from bot.models import DraftResult
from bot.services import Services

EXAMPLES = 3


async def add_examples(svc: Services, request: DraftRequest, conversation_id: int) -> DraftRequest:
    """The request with up to EXAMPLES approved replies of this conversation's owner as few-shot examples."""
    if not request.message.strip():
        return request  # a follow-up has no buyer message to match
    if not getattr(svc.drafter, "model_id", None):
        return request  # templates cannot follow examples: skip the lookup
    conv = store_intel.conversation(svc.store, conversation_id)
    owner = conv.owner if conv else None
    language = await asyncio.to_thread(buyer_language, request)
    examples = store_intel.similar_approved(svc.store, request.message, owner=owner, language=language,
                                            limit=EXAMPLES)
    return replace(request, examples=tuple(examples))


@cache
def _catalog_digest(catalog: Catalog) -> str:
    return hashlib.sha256(catalog.as_prompt_context().encode()).hexdigest()


def cache_key(model_id: str, catalog: Catalog, request: DraftRequest) -> str:
    """A hash of every prompt input but timestamps (they change while the question does not)."""
    state = {
        "model": model_id,
        "prompt": hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest(),
        "catalog": _catalog_digest(catalog),
        "rep_language": request.rep_language,
        "buyer": [request.buyer_name, request.buyer_country],
        "history": [[t.role, t.text] for t in request.history],
        "message": request.message,
        "hint": request.hint,
        "examples": [list(e) for e in request.examples],
        "attempt": request.attempt,
    }
    raw = json.dumps(state, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


async def cached_draft(svc: Services, request: DraftRequest) -> DraftResult:
    """The drafter's answer, from the cache when this exact request was answered by the model before."""
    model_id = getattr(svc.drafter, "model_id", None)
    if not model_id:
        return await svc.drafter.draft(request)  # the template drafter is deterministic already
    key = cache_key(str(model_id), svc.catalog, request)
    hit = store_intel.cache_get(svc.store, key)
    if hit is not None:
        data = json.loads(hit)
        data["flags"] = tuple(data["flags"])
        return DraftResult(**data)
    result = await svc.drafter.draft(request)
    if result.source == "llm":
        store_intel.cache_put(svc.store, key, json.dumps(asdict(result), ensure_ascii=False), svc.clock.now())
    return result
