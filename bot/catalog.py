"""The product catalog: loading, validation and lookups.

Owns the catalog file formats (YAML with a company block, or a flat CSV of items), their
pydantic schema, and the read-only `Catalog` the drafters ground their replies in. Every
problem in a file becomes one `CatalogError` that names the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from bot.errors import CatalogError
from bot.guardrail import iter_numbers, normalise_number

# --- the schema -------------------------------------------------------------------------------


def _as_list(value: Any) -> Any:
    """Accept "CE;FDA", "CE, FDA" or a list."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
    return [] if value is None else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PriceTierSchema(_Strict):
    min_qty: int = Field(gt=0)
    price: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class ItemSchema(_Strict):
    name: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    description: str = ""
    moq: int = Field(gt=0)
    unit: str = Field("pcs", min_length=1)
    price_tiers: list[PriceTierSchema] = Field(min_length=1)
    lead_time_days: int = Field(ge=0)
    certifications: StrList = []
    keywords: StrList = []  # other names buyers use: "termo", "Thermosflasche", "保温杯"

    @field_validator("price_tiers")
    @classmethod
    def _distinct_tiers(cls, tiers: list[PriceTierSchema]) -> list[PriceTierSchema]:
        quantities = [t.min_qty for t in tiers]
        if len(set(quantities)) != len(quantities):
            raise ValueError("two price tiers have the same min_qty")
        return sorted(tiers, key=lambda t: t.min_qty)


class CompanySchema(_Strict):
    name: str = ""
    payment_terms: str = ""
    incoterms: StrList = []
    port: str = ""
    sample_policy: str = ""
    # per-language wording of the texts above, e.g. {"es": {"sample_policy": "..."}}
    translations: dict[str, dict[str, str]] = {}

    @field_validator("translations")
    @classmethod
    def _known_fields(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for lang, texts in value.items():
            unknown = set(texts) - {"payment_terms", "sample_policy"}
            if unknown:
                raise ValueError(f"{lang}: only payment_terms and sample_policy can be translated")
        return value


class CatalogSchema(_Strict):
    company: CompanySchema = CompanySchema()
    items: list[ItemSchema] = Field(min_length=1)


# --- the runtime records ----------------------------------------------------------------------


@dataclass(frozen=True)
class PriceTier:
    min_qty: int
    price: Decimal
    currency: str

    @property
    def price_text(self) -> str:
        """The price as a rep writes it: at least two decimals ("4.20", "0.125")."""
        exponent = self.price.as_tuple().exponent
        places = max(2, -exponent) if isinstance(exponent, int) else 2
        return f"{self.price:.{places}f}"


@dataclass(frozen=True)
class Item:
    name: str
    sku: str
    description: str
    moq: int
    unit: str
    price_tiers: tuple[PriceTier, ...]
    lead_time_days: int
    certifications: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def tiers_text(self) -> str:
        return "; ".join(f"{t.min_qty}+ {self.unit}: {t.price_text} {t.currency}" for t in self.price_tiers)


@dataclass(frozen=True)
class Company:
    name: str = ""
    payment_terms: str = ""
    incoterms: tuple[str, ...] = ()
    port: str = ""
    sample_policy: str = ""
    translations: tuple[tuple[str, str, str], ...] = ()  # (language, field, text)

    def text(self, field_name: str, language: str) -> str:
        """`payment_terms` or `sample_policy` in `language` when the catalog has it, else as written."""
        for lang, name, text in self.translations:
            if lang == language and name == field_name:
                return text
        return str(getattr(self, field_name))

    @property
    def terms(self) -> str:
        """Delivery terms as quoted, e.g. "FOB Ningbo / CIF"; empty when the catalog has none."""
        if not self.incoterms:
            return ""
        first = f"{self.incoterms[0]} {self.port}".strip()
        return " / ".join([first, *self.incoterms[1:]])


_STOPWORDS = frozenset("and with for the set of per pcs piece pieces".split())


@dataclass(frozen=True)
class Catalog:
    items: tuple[Item, ...]
    company: Company = field(default_factory=Company)

    def find(self, text: str) -> list[Item]:
        """Items the text is about, best first: SKUs, name words and keywords score; weak matches
        (under half the best score) are dropped, so "thermos 750" puts VF-750 before VF-500."""
        folded = text.casefold()
        words = re.findall(r"\w+", folded)
        compact = {re.sub(r"[^0-9a-z]", "", w) for w in re.findall(r"[\w-]+", folded)}
        digits = set(re.findall(r"\d+", folded))
        scored: list[tuple[int, int, Item]] = []
        for index, item in enumerate(self.items):
            score = 3 if re.sub(r"[^0-9a-z]", "", item.sku.casefold()) in compact else 0
            for term in _name_terms(item.name):
                if term.isdigit():
                    score += term in digits
                else:
                    score += any(w.startswith(term) for w in words)
            score += sum(2 for keyword in item.keywords if _mentions(folded, keyword.casefold()))
            if score:
                scored.append((score, index, item))
        if not scored:
            return []
        best = max(score for score, _, _ in scored)
        ranked = sorted((s for s in scored if 2 * s[0] >= best), key=lambda s: (-s[0], s[1]))
        return [item for _, _, item in ranked]

    def numbers(self) -> frozenset[str]:
        """Every number in the catalog, normalised as `bot.guardrail` normalises drafts."""
        return self._numbers

    @cached_property
    def _numbers(self) -> frozenset[str]:
        found: set[str] = set()
        for item in self.items:
            found.update(normalise_number(str(n)) for n in (item.moq, item.lead_time_days))
            for tier in item.price_tiers:
                found.update({normalise_number(str(tier.min_qty)), normalise_number(str(tier.price))})
            for text in (item.name, item.sku, item.description, *item.certifications):
                found.update(iter_numbers(text))
        company = self.company
        texts = [company.name, company.payment_terms, company.port, company.sample_policy]
        texts += [text for _, _, text in company.translations]
        for text in texts:
            found.update(iter_numbers(text))
        return frozenset(found)

    def as_prompt_context(self) -> str:
        """Compact text of the whole catalog for an LLM prompt."""
        c = self.company
        lines = [
            f"Company: {c.name or '[not in catalog]'}",
            f"Payment terms: {c.payment_terms or '[not in catalog: ask the rep]'}",
            f"Incoterms: {c.terms or '[not in catalog: ask the rep]'}",
            f"Samples: {c.sample_policy or '[not in catalog: ask the rep]'}",
            "Products (price tiers are per unit, from the given quantity up):",
        ]
        for item in self.items:
            certs = f" Certifications: {', '.join(item.certifications)}." if item.certifications else ""
            desc = f" {item.description}" if item.description else ""
            lines.append(
                f"- {item.sku} | {item.name}.{desc} MOQ {item.moq} {item.unit}. Prices: {item.tiers_text()}."
                f" Lead time {item.lead_time_days} days.{certs}"
            )
        return "\n".join(lines)


def _mentions(folded: str, keyword: str) -> bool:
    """Latin/Cyrillic keywords must start a word ("ollas" not in "bollas"); CJK/Arabic match anywhere."""
    if keyword[:1].isalnum() and ord(keyword[0]) < 0x0590:
        return re.search(r"(?<!\w)" + re.escape(keyword), folded) is not None
    return keyword in folded


def _name_terms(name: str) -> list[str]:
    words = re.findall(r"\w+", name.casefold())
    return [w for w in words if (w.isdigit() or len(w) >= 3) and w not in _STOPWORDS]


# --- loading ----------------------------------------------------------------------------------

CSV_REQUIRED = ("name", "sku", "moq", "price_tiers", "currency", "lead_time_days")
CSV_COLUMNS = (*CSV_REQUIRED, "description", "unit", "certifications", "keywords")


def load_catalog(path: Path) -> Catalog:
    """Read and validate a catalog file (.yaml/.yml or .csv); raise `CatalogError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: the catalog is not UTF-8 text ({exc.reason})") from exc
    suffix = path.suffix.lower()
    if suffix in {".yaml", ".yml"}:
        return _load_yaml(path, text)
    if suffix == ".csv":
        return _load_csv(path, text)
    raise CatalogError(f"{path}: unknown catalog format {suffix!r}; use .yaml or .csv")


def _load_yaml(path: Path, text: str) -> Catalog:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{path}: {where}: not valid YAML ({problem})") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: line 1, field 'items': expected a mapping with 'company' and 'items'")
    try:
        schema = CatalogSchema.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _yaml_line(root, loc)
            problems.append(f"{path}: line {line}, {_describe_loc(loc, data)}: {error['msg']}")
        raise CatalogError("\n".join(problems)) from exc
    lines = [_yaml_line(root, ("items", i, "sku")) for i in range(len(schema.items))]
    return _build(path, schema, [f"line {n}, item {i + 1}" for i, n in enumerate(lines)])


def _describe_loc(loc: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    """'item 3 (VF-500), field price_tiers[0].price' for ("items", 2, "price_tiers", 0, "price")."""
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        items = data.get("items")
        sku = ""
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
            sku = f" ({items[loc[1]].get('sku')})" if items[loc[1]].get("sku") else ""
        rest = loc[2:]
        prefix = f"item {loc[1] + 1}{sku}, "
    else:
        rest, prefix = loc, ""
    dotted = ""
    for part in rest:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    return f"{prefix}field '{dotted or 'items'}'"


def _yaml_line(node: yaml.Node | None, loc: Sequence[Any]) -> int:
    """1-based line of the node at `loc`, or of its nearest existing parent."""
    line = 1 if node is None else node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            return line
        node, line = child, child.start_mark.line + 1
    return line


def _load_csv(path: Path, text: str) -> Catalog:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise CatalogError(f"{path}: line 1, field '{missing[0]}': missing column(s) {', '.join(missing)}")
    rows: list[ItemSchema] = []
    where: list[str] = []
    problems: list[str] = []
    for row_no, raw in enumerate(reader, start=1):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        label = f"line {reader.line_num} (row {row_no})"
        try:
            tiers = _parse_tiers(row.get("price_tiers", ""), row.get("currency", ""))
        except ValueError as exc:
            problems.append(f"{path}: {label}, field 'price_tiers': {exc}")
            continue
        item: dict[str, Any] = {k: v for k, v in row.items() if k in CSV_COLUMNS and k != "currency" and v}
        item["price_tiers"] = tiers
        try:
            rows.append(ItemSchema.model_validate(item))
            where.append(label)
        except ValidationError as exc:
            for error in exc.errors():
                dotted = _describe_loc(tuple(error["loc"]), {})
                problems.append(f"{path}: {label}, {dotted}: {error['msg']}")
    if problems:
        raise CatalogError("\n".join(problems))
    if not rows:
        raise CatalogError(f"{path}: line 2, field 'items': the catalog has no items")
    return _build(path, CatalogSchema(items=rows), where)


def _parse_tiers(text: str, currency: str) -> list[dict[str, str]]:
    """"100:4.20;500:3.80" -> [{"min_qty": "100", "price": "4.20", "currency": ...}, ...]."""
    if not text:
        raise ValueError("no price tiers; write them as 'min_qty:price' pairs separated by ';'")
    tiers = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        qty, sep, price = part.partition(":")
        if not sep or not qty.strip() or not price.strip():
            raise ValueError(f"expected 'min_qty:price' pairs separated by ';', got {part!r}")
        tiers.append({"min_qty": qty.strip(), "price": price.strip().replace(",", "."), "currency": currency})
    return tiers


def _build(path: Path, schema: CatalogSchema, where: list[str]) -> Catalog:
    seen: dict[str, str] = {}
    for item, label in zip(schema.items, where, strict=True):
        key = item.sku.casefold()
        if key in seen:
            raise CatalogError(f"{path}: {label}, field 'sku': {item.sku} already used at {seen[key]}")
        seen[key] = label
    c = schema.company
    company = Company(
        name=c.name,
        payment_terms=c.payment_terms,
        incoterms=tuple(c.incoterms),
        port=c.port,
        sample_policy=c.sample_policy,
        translations=tuple(
            (lang, name, text)
            for lang, texts in sorted(c.translations.items())
            for name, text in texts.items()
        ),
    )
    return Catalog(items=tuple(_item(i) for i in schema.items), company=company)


def _item(s: ItemSchema) -> Item:
    return Item(
        name=s.name,
        sku=s.sku,
        description=s.description,
        moq=s.moq,
        unit=s.unit,
        price_tiers=tuple(PriceTier(t.min_qty, t.price, t.currency) for t in s.price_tiers),
        lead_time_days=s.lead_time_days,
        certifications=tuple(s.certifications),
        keywords=tuple(s.keywords),
    )

