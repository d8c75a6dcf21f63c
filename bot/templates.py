"""Approved WhatsApp templates (`templates.yaml`): schema, start-up validation, matching, variables.

Outside the 24-hour window WhatsApp only delivers pre-approved templates, which Twilio sends
by `ContentSid` with `ContentVariables` ({"1": "Lucía", ...}). Each entry names the intents it
fits ("*" = any), so a draft outside the window is offered the matching template instead.

Variable sources (optionally `source|fallback` for when the value is empty):
`contact.name`, `contact.first_name`, `contact.phone`, `contact.country`, `company.name`,
`product.<field>` (the catalog item the conversation is about) and `catalog.<SKU>.<field>`,
where field is one of name, sku, moq, unit, lead_time_days.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.catalog import Catalog, Item
from bot.config import Settings
from bot.drafting import INTENTS
from bot.errors import ConfigError
from bot.models import Contact, SendReceipt
from bot.yamlfile import read_yaml

ITEM_FIELDS = ("name", "sku", "moq", "unit", "lead_time_days")
_SOURCE = re.compile(
    r"^(?:contact\.(?:name|first_name|phone|country)|company\.name|product\.(?P<pf>\w+)|"
    r"catalog\.(?P<sku>[^.|]+)\.(?P<cf>\w+))$"
)
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


@runtime_checkable
class TemplateChannel(Protocol):
    """A buyer channel that can send an approved template (Twilio, the console)."""

    async def send_template(self, to: str, content_sid: str, variables: Mapping[str, str], *,
                            idem_key: str) -> SendReceipt: ...


class TemplateSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    preview: str = Field("", description="The approved text with {{1}} placeholders, shown on the card")
    variables: dict[str, str] = Field(default_factory=dict)
    intents: list[str] = Field(min_length=1)

    @field_validator("variables")
    @classmethod
    def _sources(cls, value: dict[str, str]) -> dict[str, str]:
        for key, spec in value.items():
            if not key.isdigit():
                raise ValueError(f"variable names are the template's positions (\"1\", \"2\"), not {key!r}")
            match = _SOURCE.match(spec.split("|", 1)[0].strip())
            field = match and (match["pf"] or match["cf"])
            if match is None or (field and field not in ITEM_FIELDS):
                raise ValueError(f"variable {key}: unknown source {spec!r}")
        return value

    @field_validator("intents")
    @classmethod
    def _intents(cls, value: list[str]) -> list[str]:
        unknown = [i for i in value if i != "*" and i not in INTENTS]
        if unknown:
            raise ValueError(f"unknown intents {unknown}; use {', '.join(INTENTS)} or '*'")
        return value


class TemplatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    templates: list[TemplateSchema] = Field(default_factory=list)


@dataclass(frozen=True)
class Template:
    name: str
    content_sid: str
    preview: str
    variables: tuple[tuple[str, str], ...]
    intents: tuple[str, ...]


@dataclass(frozen=True)
class Templates:
    items: tuple[Template, ...] = ()

    def by_name(self, name: str) -> Template | None:
        return next((t for t in self.items if t.name == name), None)

    def for_intent(self, intent: str) -> Template | None:
        """The first template made for `intent`, else the first catch-all ("*")."""
        return (next((t for t in self.items if intent in t.intents), None)
                or next((t for t in self.items if "*" in t.intents), None))


def load_templates(path: Path, catalog: Catalog) -> Templates:
    """Read and validate templates.yaml; every problem names the file, the template and the field."""
    raw = read_yaml(path, "TRADEMATE_TEMPLATES")
    try:
        parsed = TemplatesFile.model_validate(raw or {})
    except ValidationError as exc:
        problems = [f"{path}: {_where(raw, e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("Templates file is invalid:\n  " + "\n  ".join(problems)) from exc
    skus = {item.sku for item in catalog.items}
    problems = []
    names = [t.name for t in parsed.templates]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{path}: template {dup!r} is defined twice")
    for t in parsed.templates:
        for key, spec in t.variables.items():
            match = _SOURCE.match(spec.split("|", 1)[0].strip())
            if match and match["sku"] and match["sku"] not in skus:
                problems.append(f"{path}: template {t.name!r}: variables.{key}: no catalog item {match['sku']!r}")
        missing = sorted(set(_PLACEHOLDER.findall(t.preview)) - set(t.variables), key=int)
        if missing:
            problems.append(f"{path}: template {t.name!r}: preview uses {{{{{missing[0]}}}}} but variables "
                            f"has no {missing[0]!r}")
    if problems:
        raise ConfigError("Templates file is invalid:\n  " + "\n  ".join(problems))
    return Templates(tuple(
        Template(t.name, t.content_sid, t.preview, tuple(sorted(t.variables.items(), key=lambda kv: int(kv[0]))),
                 tuple(t.intents))
        for t in parsed.templates
    ))


def _where(raw: object, loc: Sequence[int | str]) -> str:
    """'templates[2] (quote_follow_up).content_sid' from pydantic's location tuple."""
    out, node = "", raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and node.get("name"):
                out += f" ({node['name']})"
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _item_value(item: Item | None, field: str) -> str:
    return "" if item is None else str(getattr(item, field, ""))


def variables_for(template: Template, contact: Contact, catalog: Catalog, conversation_text: str) -> dict[str, str]:
    """The ContentVariables for one buyer: each position filled from its source (or fallback)."""
    found = catalog.find(conversation_text)
    product = found[0] if found else None
    by_sku = {item.sku: item for item in catalog.items}
    out: dict[str, str] = {}
    for key, spec in template.variables:
        source, _, fallback = (part.strip() for part in spec.partition("|"))
        match = _SOURCE.match(source)
        assert match is not None  # validated at load
        if source == "contact.first_name":
            value = (contact.name or "").split(" ")[0]
        elif source.startswith("contact."):
            value = getattr(contact, source.split(".", 1)[1]) or ""
        elif source == "company.name":
            value = catalog.company.name
        elif match["pf"]:
            value = _item_value(product, match["pf"])
        else:
            value = _item_value(by_sku.get(match["sku"]), match["cf"])
        out[key] = value or fallback
    return out


def render_preview(template: Template, variables: Mapping[str, str]) -> str:
    """The approved text as the buyer will read it (for the card and the outbox row)."""
    if not template.preview:
        return f"[template {template.name}]"
    return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), template.preview)


def templates_from(settings: Settings, catalog: Catalog) -> Templates:
    """TRADEMATE_TEMPLATES if set (it must exist), else ./templates.yaml when present, else none."""
    if settings.trademate_templates:
        return load_templates(Path(settings.trademate_templates), catalog)
    default = Path("templates.yaml")
    return load_templates(default, catalog) if default.is_file() else Templates()
