"""Which language a buyer writes in.

Owns the lingua detector (built once, lazily, for the trade languages below only: loading
every language model costs seconds and memory) and the rules for texts too short to judge:
a tiny lexicon of greetings and thanks, then "en" when nothing is convincing.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

# ISO 639-1 codes of the languages export buyers most often write in, with English names.
TRADE_LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "ru": "Russian",
    "ar": "Arabic",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "tr": "Turkish",
    "pl": "Polish",
    "vi": "Vietnamese",
    "id": "Indonesian",
}

FALLBACK = "en"
_MIN_LETTERS = 2  # fewer letters than this: nothing to judge ("ok", "👍", "5000?")
_SHORT_LETTERS = 12  # up to this many letters lingua's guess must be clear to count
_MIN_CONFIDENCE = 0.5

# Short messages lingua cannot judge alone ("Merci" reads as Italian, "Hi" as Vietnamese).
_LEXICON: dict[str, str] = {
    word: lang
    for lang, words in {
        "en": "hi hello hey thanks thank thx dear",  # not "ok", "moq", "pcs": every trade chat uses them
        "es": "hola gracias buenas buenos buen precio muestra cuánto cuanto",
        "fr": "bonjour bonsoir salut merci prix échantillon combien",
        "de": "hallo danke guten tag preis muster",
        "pt": "olá oi obrigado obrigada preço amostra quanto",
        "it": "ciao buongiorno grazie prezzo campione",
        "nl": "hoi dag bedankt dank prijs",
        "tr": "merhaba teşekkürler teşekkür fiyat numune",
        "pl": "dzień dobry dziękuję cena",
        "id": "halo terima kasih harga",
        "vi": "chào cảm ơn giá",
    }.items()
    for word in words.split()
}

@cache
def _detector() -> LanguageDetector:
    """Built on first use; lingua then loads each language model the first time it needs it."""
    codes = [getattr(IsoCode639_1, code.upper()) for code in TRADE_LANGUAGES]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()


def language_name(code: str) -> str:
    """English name of a language code for prompts and notices ("es" -> "Spanish")."""
    return TRADE_LANGUAGES.get(code, code)


def detect_language(text: str, default: str = FALLBACK) -> str:
    """ISO 639-1 code of the language `text` is written in; `default` ("en") when too short or
    unclear (a drafter passes the language of earlier buyer messages instead)."""
    words = re.findall(r"[^\W\d_]+", text.casefold())
    letters = sum(len(w) for w in words)
    if letters < _MIN_LETTERS:
        return default
    if letters <= _SHORT_LETTERS:
        votes = [_LEXICON[w] for w in words if w in _LEXICON]
        if votes:
            return max(votes, key=votes.count)  # first-seen wins ties: max keeps the earliest
    values = _detector().compute_language_confidence_values(text)
    if not values:
        return default
    best = values[0]
    if letters <= _SHORT_LETTERS and best.value < _MIN_CONFIDENCE:
        return default
    return best.language.iso_code_639_1.name.lower()
