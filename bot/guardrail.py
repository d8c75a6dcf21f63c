"""The number guardrail and sensitive-topic flags for drafts.

Owns what counts as "a number" in any text (prices, quantities, percentages, dates,
durations) and its normalised form, so the catalog, the conversation and a draft are
compared on equal terms: "5,000", "5.000" and "5 000" are all "5000"; "4,20" and
"$4.20" are "4.2"; "15/12", "15 December" and "12月15日" are "--12-15" (ISO 8601
month-day); "2026-12-15" and "15.12.2026" are "2026-12-15".

Percent signs, currencies and units are not part of a token: "30%" is "30", "25 days"
is "25". Ambiguous slashes read day/month first ("3/4" is 3 April) unless only
month/day is a valid date ("12/15").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.catalog import Catalog

FLAG_NAMES: tuple[str, ...] = ("price", "discount", "delivery_date", "payment_terms", "promise")

# Month names (en, es, fr, de, pt, it, ru genitive, tr) and English abbreviations.
_MONTHS: dict[str, int] = {}
for _month, _names in enumerate(
    [
        "january jan enero janvier januar janeiro gennaio января ocak",
        "february feb febrero février fevrier februar fevereiro febbraio февраля şubat subat",
        "march mar marzo mars märz maerz março marco марта mart",
        "april apr abril avril aprile апреля nisan",
        "may mayo mai maio maggio мая mayıs mayis",
        "june jun junio juin juni junho giugno июня haziran",
        "july jul julio juillet juli julho luglio июля temmuz",
        "august aug agosto août aout августа ağustos agustos",
        "september sep sept septiembre setiembre septembre setembro settembre сентября eylül eylul",
        "october oct octubre octobre oktober outubro ottobre октября ekim",
        "november nov noviembre novembre novembro ноября kasım kasim",
        "december dec diciembre décembre decembre dezember dezembro dicembre декабря aralık aralik",
    ],
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _month

_MONTH_RE = "|".join(sorted((re.escape(n) for n in _MONTHS), key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th|er|º|ª|\.)?"

_TOKEN_RE = re.compile(
    rf"""
    (?P<iso>(?<!\d)\d{{4}}-\d{{1,2}}-\d{{1,2}}(?!\d))
  | (?P<dmy>(?<![\d.,/])\d{{1,2}}[./-]\d{{1,2}}[./-](?:\d{{4}}|\d{{2}})(?![\d/]|[.,]\d))
  | (?P<dm>(?<![\d.,/])\d{{1,2}}/\d{{1,2}}(?![\d/]))
  | (?P<zh>(?:(?P<zy>\d{{4}})\s*年\s*)?(?P<zm>\d{{1,2}})\s*月\s*(?P<zd>\d{{1,2}})\s*[日号])
  | (?P<dname>(?<!\d)(?P<dn_d>\d{{1,2}})(?!\d){_ORD}\s+(?:de\s+|of\s+)?(?P<dn_m>{_MONTH_RE})(?!\w)\.?
        (?:,?\s+(?:de\s+)?(?P<dn_y>\d{{4}})(?!\d))?)
  | (?P<named>(?<!\w)(?P<nd_m>{_MONTH_RE})\.?\s+(?P<nd_d>\d{{1,2}})(?!\d){_ORD}
        (?:,?\s+(?P<nd_y>\d{{4}})(?!\d))?)
  | (?P<num>\d+(?:[.,'’\u00a0\u202f\u2009]\d+|\x20\d{{3}}(?!\d))*)
    """,
    re.IGNORECASE | re.VERBOSE,
)

_SEPS = "[.,'’\u00a0\u202f\u2009 ]"
_SPACES = "'’\u00a0\u202f\u2009 "


def _ascii_digits(text: str) -> str:
    """Arabic-Indic, full-width and other Unicode digits become ASCII; Arabic separators too."""
    out = []
    for ch in text:
        if ch.isdigit() and not ("0" <= ch <= "9"):
            value = unicodedata.decimal(ch, None)
            out.append(str(value) if value is not None else ch)
        elif ch == "\u066b":  # Arabic decimal separator
            out.append(".")
        elif ch == "\u066c":  # Arabic thousands separator
            out.append(",")
        else:
            out.append(ch)
    return "".join(out)


def normalise_number(raw: str) -> str:
    """Canonical text of one plain number: '05' -> '5', '4.20' -> '4.2', '5000.00' -> '5000'."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return raw
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def _split_number(raw: str) -> list[str]:
    """Read digit groups and separators the way people write them; see the module docstring."""
    groups = re.split(_SEPS, raw)
    seps = re.findall(_SEPS, raw)
    if not seps:
        return [normalise_number(raw)]
    thousands_like = len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
    kinds = set(seps)
    if len(kinds) == 1:
        sep = seps[0]
        if sep in _SPACES or len(seps) > 1:
            return [normalise_number("".join(groups))] if thousands_like else _each(groups)
        # one "." or ",": thousands only for exactly three digits after a non-zero lead
        if thousands_like and groups[0].strip("0"):
            return [normalise_number("".join(groups))]
        return [normalise_number(f"{groups[0]}.{groups[1]}")]
    last = seps[-1]
    head, tail = groups[:-1], groups[-1]
    head_ok = len(head[0]) <= 3 and all(len(g) == 3 for g in head[1:])
    if last in ".," and all(s != last for s in seps[:-1]) and len(set(seps[:-1])) == 1 and head_ok:
        return [normalise_number(f"{''.join(head)}.{tail}")]
    return _each(groups)


def _each(groups: list[str]) -> list[str]:
    return [normalise_number(g) for g in groups if g]


def _date(year: int | None, month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if year is not None:
        if year < 100:
            year += 2000
        return f"{year:04d}-{month:02d}-{day:02d}"
    return f"--{month:02d}-{day:02d}"


def _day_month(first: int, second: int, year: int | None) -> str | None:
    """Day/month first, month/day when only that reading is a date."""
    return _date(year, second, first) or _date(year, first, second)


def iter_numbers(text: str) -> Iterator[str]:
    """Every number and date in `text`, normalised, in order (duplicates kept)."""
    text = unicodedata.normalize("NFC", _ascii_digits(text))
    for match in _TOKEN_RE.finditer(text):
        raw = match.group(0)
        token: str | None = None
        if match.group("iso"):
            y, m, d = (int(p) for p in raw.split("-"))
            token = _date(y, m, d)
        elif match.group("dmy"):
            a, b, y = (int(p) for p in re.split(r"[./-]", raw))
            token = _day_month(a, b, y)
        elif match.group("dm"):
            a, b = (int(p) for p in raw.split("/"))
            token = _day_month(a, b, None)
        elif match.group("zh"):
            zy = match.group("zy")
            token = _date(int(zy) if zy else None, int(match.group("zm")), int(match.group("zd")))
        elif match.group("dname"):
            dn_y = match.group("dn_y")
            month = _MONTHS[match.group("dn_m").lower()]
            token = _date(int(dn_y) if dn_y else None, month, int(match.group("dn_d")))
        elif match.group("named"):
            nd_y = match.group("nd_y")
            month = _MONTHS[match.group("nd_m").lower()]
            token = _date(int(nd_y) if nd_y else None, month, int(match.group("nd_d")))
        if token is not None:
            yield token
        elif match.group("num"):
            yield from _split_number(raw)
        else:  # something date-shaped that is not a date, e.g. "30/70": its plain numbers
            for part in re.findall(r"\d+", raw):
                yield normalise_number(part)


def extract_numbers(text: str) -> tuple[str, ...]:
    """Normalised numbers and dates in `text`, deduplicated, in order of appearance."""
    return tuple(dict.fromkeys(iter_numbers(text)))


def _expand_known(tokens: Iterable[str]) -> set[str]:
    """A known full date also makes its month-day and its year known."""
    known = set(tokens)
    for token in list(known):
        if len(token) == 10 and token[4] == "-" and token[:4].isdigit():
            known.add("--" + token[5:])
            known.add(normalise_number(token[:4]))
    return known


def _is_known(token: str, known: set[str]) -> bool:
    if token in known:
        return True
    if len(token) == 10 and token[4] == "-" and token[:4].isdigit():
        return ("--" + token[5:]) in known and normalise_number(token[:4]) in known
    return False


def find_unknown_numbers(text: str, catalog: Catalog, conversation: Iterable[str]) -> tuple[str, ...]:
    """Numbers and dates in a draft found neither in the catalog nor in any conversation text."""
    known = set(catalog.numbers())
    for line in conversation:
        known.update(iter_numbers(line))
    known = _expand_known(known)
    return tuple(token for token in extract_numbers(text) if not _is_known(token, known))


# --- sensitive topics -------------------------------------------------------------------------

# Latin/Cyrillic entries are regex stems matched at a word start; CJK/Arabic entries anywhere.
_FLAG_WORDS: dict[str, tuple[str, ...]] = {
    "price": (
        r"price", r"pricing", r"cost", r"quot(?:e|ation)", r"how much", r"unit price", r"fob\b", r"cif\b",
        r"precio", r"cotiza", r"cuánto cuesta", r"cuanto cuesta", r"prix", r"tarif", r"devis", r"combien",
        r"preis", r"kostet", r"kosten", r"angebot", r"preço", r"preco", r"orçamento", r"orcamento",
        r"quanto custa", r"prezzo", r"цен", r"стоимост", r"прайс", r"fiyat", r"ücret", r"usd\b", r"eur\b",
        r"rmb\b", r"cny\b", r"gbp\b", r"us\$",
        "سعر", "أسعار", "اسعار", "تكلفة", "价格", "报价", "单价", "价钱", "多少钱",
        "$", "€", "£", "¥", "₹", "₽", "₺", "﷼",
    ),
    "discount": (
        r"discount", r"%\s*off", r"special price", r"best price", r"cheaper", r"rebate",
        r"lower (?:the )?price",
        r"descuento", r"rebaja", r"mejor precio", r"remise", r"réduction", r"rabais", r"meilleur prix",
        r"rabatt", r"nachlass", r"skonto", r"günstiger", r"desconto", r"abatimento", r"melhor preço",
        r"sconto", r"скидк", r"indirim", r"iskonto",
        "خصم", "تخفيض", "折扣", "优惠", "打折", "便宜",
    ),
    "delivery_date": (
        r"deliver", r"lead ?time", r"dispatch", r"eta\b", r"arriv", r"ship(?:ping)? date", r"ready by",
        r"production time", r"entrega", r"plazo", r"env[ií]o", r"despacho", r"llegada", r"livraison",
        r"livrer", r"délai", r"delai", r"expédi", r"liefer", r"versand", r"ankunft", r"prazo",
        r"consegna", r"доставк", r"срок", r"отгрузк", r"поставк", r"teslim", r"sevkiyat", r"termin",
        "تسليم", "توصيل", "شحن", "交货", "交期", "发货", "到货", "货期",
    ),
    "payment_terms": (
        r"payment", r"pay\b", r"deposit", r"balance\b", r"t/t\b", r"l/c\b", r"letter of credit", r"paypal",
        r"western union", r"advance payment", r"pago", r"depósito", r"deposito", r"anticipo", r"saldo",
        r"carta de crédito", r"paiement", r"acompte", r"solde\b", r"virement", r"zahlung", r"anzahlung",
        r"vorkasse", r"akkreditiv", r"pagamento", r"sinal\b", r"оплат", r"предоплат", r"аккредитив",
        r"депозит", r"ödeme", r"peşin", r"kapora", r"akreditif",
        "دفع", "دفعة", "عربون", "付款", "定金", "订金", "尾款", "信用证", "预付",
    ),
    "promise": (
        r"guarantee", r"promise", r"assure", r"ensure", r"commit", r"definitely", r"for sure",
        r"no problem", r"certainly", r"garantiz", r"garantía", r"promet", r"asegur", r"sin problema",
        r"seguro que", r"garanti", r"assur", r"sans problème", r"certainement", r"versprech",
        r"zusicher", r"gewährleist", r"kein problem", r"garant", r"assegur", r"sem problema",
        r"com certeza", r"гарант", r"обеща", r"обязательно", r"без проблем", r"kesinlikle", r"söz veri",
        r"sorun değil", "نضمن", "ضمان", "نعد", "نتعهد", "بالتأكيد", "保证", "承诺", "确保", "一定", "没问题",
    ),
}

_DURATION_RE = re.compile(
    r"\d+\s*(?:-\s*\d+\s*)?(?:days?|weeks?|días|dias|semanas?|jours?|semaines?|tage?n?|wochen?|"
    r"giorni|settimane|дн|недел|gün|hafta|天|周|يوم|أيام|أسابيع)",
    re.IGNORECASE,
)


def _is_plain(stem: str) -> bool:
    """Scripts without reliable word boundaries (CJK, Arabic) and symbols match anywhere."""
    return not any(ch.isalpha() and ord(ch) < 0x0590 for ch in stem)


def keyword_pattern(stems: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive pattern: regex stems anchored at a word start, CJK/Arabic/symbols anywhere."""
    parts = [
        re.escape(s) if _is_plain(s) else (r"(?<!\w)" if s[0].isalnum() else "") + s for s in stems
    ]
    return re.compile("|".join(parts), re.IGNORECASE)


_FLAG_RES: dict[str, re.Pattern[str]] = {flag: keyword_pattern(words) for flag, words in _FLAG_WORDS.items()}


def detect_flags(text: str) -> tuple[str, ...]:
    """Which sensitive topics a draft touches, in the fixed order of FLAG_NAMES."""
    folded = unicodedata.normalize("NFC", text).lower()
    found = {flag for flag, pattern in _FLAG_RES.items() if pattern.search(folded)}
    if _DURATION_RE.search(folded) or any(t.startswith("--") or t[4:5] == "-" for t in extract_numbers(text)):
        found.add("delivery_date")
    return tuple(flag for flag in FLAG_NAMES if flag in found)
