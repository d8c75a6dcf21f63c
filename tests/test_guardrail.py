"""bot.guardrail: number normalisation, unknown numbers in drafts, sensitive-topic flags."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.catalog import Catalog, Company, Item, PriceTier
from bot.guardrail import detect_flags, extract_numbers, find_unknown_numbers


@pytest.fixture()
def catalog() -> Catalog:
    flask = Item(
        name="Vacuum Flask 500 ml",
        sku="VF-500",
        description="Keeps drinks hot 12 h.",
        moq=500,
        unit="pcs",
        price_tiers=(PriceTier(500, Decimal("4.20"), "USD"), PriceTier(5000, Decimal("3.80"), "USD")),
        lead_time_days=25,
    )
    return Catalog(items=(flask,), company=Company(name="Acme", payment_terms="30% T/T deposit, 70% before shipment"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$4.20 each", ("4.2",)),
        ("4,20 € la unidad", ("4.2",)),
        ("USD 3.80", ("3.8",)),
        ("5000 pcs", ("5000",)),
        ("5,000 pcs", ("5000",)),
        ("5.000 Stück", ("5000",)),
        ("5 000 pièces", ("5000",)),
        ("5\u202f000 pièces", ("5000",)),
        ("1,234.56", ("1234.56",)),
        ("1.234,56", ("1234.56",)),
        ("0.125 USD", ("0.125",)),
        ("10,000.00", ("10000",)),
        ("30% deposit", ("30",)),
        ("25 days", ("25",)),
        ("25-30 days", ("25", "30")),
        ("15/12", ("--12-15",)),
        ("12/15", ("--12-15",)),
        ("March 3", ("--03-03",)),
        ("3rd of March", ("--03-03",)),
        ("Dec. 15th, 2026", ("2026-12-15",)),
        ("3 de marzo de 2026", ("2026-03-03",)),
        ("le 15 décembre", ("--12-15",)),
        ("am 3. März", ("--03-03",)),
        ("15 декабря", ("--12-15",)),
        ("12月15日", ("--12-15",)),
        ("2026-12-15", ("2026-12-15",)),
        ("15.12.2026", ("2026-12-15",)),
        ("30/70", ("30", "70")),
        ("٤٫٢٠ دولار", ("4.2",)),
        ("５０００個", ("5000",)),
        ("4.20, 3.80 and 4.20 again", ("4.2", "3.8")),
        ("no numbers here", ()),
    ],
)
def test_extract_numbers(text: str, expected: tuple[str, ...]) -> None:
    assert extract_numbers(text) == expected


def test_catalog_numbers_in_any_format_are_known(catalog: Catalog) -> None:
    draft = "Precio: 4,20 $ desde 500 uds; 3.80 USD from 5,000 pcs. 30% deposit, 70% later. 25 days."
    assert find_unknown_numbers(draft, catalog, []) == ()


def test_invented_numbers_are_returned_normalised_deduped_in_order(catalog: Catalog) -> None:
    draft = "Special price USD 3.60 for 8,000 pcs, ready in 20 days; 3.60 is our best."
    assert find_unknown_numbers(draft, catalog, []) == ("3.6", "8000", "20")


def test_numbers_from_the_conversation_are_known(catalog: Catalog) -> None:
    conversation = ["We need 8000 pcs", "Can you do 3,60?"]
    draft = "For 8.000 pcs we can offer 3.60 USD, ready in 20 days."
    assert find_unknown_numbers(draft, catalog, conversation) == ("20",)


def test_dates_match_across_formats(catalog: Catalog) -> None:
    conversation = ["Can you ship by 15/12/2026?", "Or March 3?"]
    assert find_unknown_numbers("Yes, by December 15.", catalog, conversation) == ()
    assert find_unknown_numbers("Yes, by 2026-12-15.", catalog, conversation) == ()
    assert find_unknown_numbers("Sí, el 3 de marzo.", catalog, conversation) == ()
    assert find_unknown_numbers("Ready on 20/12.", catalog, conversation) == ("--12-20",)
    assert find_unknown_numbers("Ready by 15 December 2027.", catalog, conversation) == ("2027-12-15",)


def test_a_date_without_a_year_does_not_vouch_for_one(catalog: Catalog) -> None:
    assert find_unknown_numbers("Delivery 2026-12-15", catalog, ["by 15/12 please"]) == ("2026-12-15",)


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ("Our price is $4.20 per piece.", ("price",)),
        ("We can give you a 5% discount.", ("discount",)),
        ("Delivery in 25 days after deposit.", ("delivery_date", "payment_terms")),
        ("We guarantee the quality.", ("promise",)),
        ("El precio es 4,20 € con un descuento especial.", ("price", "discount")),
        ("Le délai de livraison est de 25 jours.", ("delivery_date",)),
        ("Zahlung: 30% Anzahlung, Lieferzeit 25 Tage.", ("delivery_date", "payment_terms")),
        ("Garantimos o prazo de entrega.", ("delivery_date", "promise")),
        ("Цена 4.20, скидка 5%, оплата 30%.", ("price", "discount", "payment_terms")),
        ("السعر 4.20 دولار مع خصم", ("price", "discount")),
        ("价格 4.20 美元，交货期 25 天，我们保证质量。", ("price", "delivery_date", "promise")),
        ("Fiyat 4.20, indirim var, ödeme peşin.", ("price", "discount", "payment_terms")),
        ("Total: 4.200 €", ("price",)),
        ("We can ship by 15/12.", ("delivery_date",)),
        ("Hello Maria, thank you for your message!", ()),
    ],
)
def test_detect_flags(text: str, flags: tuple[str, ...]) -> None:
    assert detect_flags(text) == flags
