"""bot.language: trade languages, short texts, the fallback."""

from __future__ import annotations

import pytest

from bot.language import _detector, detect_language, language_name


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hello, I need a price for your vacuum flask", "en"),
        ("Hola, ¿cuánto cuesta el termo de 500 ml?", "es"),
        ("Bonjour, pouvez-vous m'envoyer votre catalogue ?", "fr"),
        ("Guten Tag, wie lange ist die Lieferzeit?", "de"),
        ("Bom dia, qual o preço do VF-500?", "pt"),
        ("Buongiorno, quanto costa il thermos?", "it"),
        ("Goedemiddag, wat is de prijs per stuk?", "nl"),
        ("Сколько стоит термос?", "ru"),
        ("كم سعر الترمس؟", "ar"),
        ("这个保温杯多少钱？", "zh"),
        ("この水筒はいくらですか？", "ja"),
        ("Bu termosun fiyatı nedir?", "tr"),
        ("Dzień dobry, ile kosztuje termos?", "pl"),
    ],
)
def test_detects_trade_languages(text: str, code: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [("Hola", "es"), ("Merci!", "fr"), ("Danke", "de"), ("Obrigado", "pt"), ("Hi", "en"), ("Merhaba", "tr")],
)
def test_short_greetings(text: str, code: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["", "ok", "👍", "5000?", "MOQ?", "500 pcs"])
def test_too_short_or_unclear_falls_back(text: str) -> None:
    assert detect_language(text) == "en"
    assert detect_language(text, default="es") == "es"


def test_detector_is_built_once() -> None:
    assert _detector() is _detector()


def test_language_name() -> None:
    assert language_name("es") == "Spanish"
    assert language_name("xx") == "xx"
