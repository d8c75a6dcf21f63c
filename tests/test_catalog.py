"""bot.catalog: the bundled sample, both file formats, lookups, and errors that name file, line, field."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bot.catalog import Catalog, load_catalog
from bot.config import DEFAULT_CATALOG
from bot.errors import CatalogError

DATA = Path(__file__).resolve().parent.parent / "bot" / "data"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(DEFAULT_CATALOG)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_sample_loads(catalog: Catalog) -> None:
    assert len(catalog.items) == 6
    flask = catalog.items[0]
    assert (flask.sku, flask.moq, flask.unit, flask.lead_time_days) == ("VF-500", 500, "pcs", 25)
    assert [t.min_qty for t in flask.price_tiers] == [500, 1000, 5000]
    assert flask.price_tiers[0].price == Decimal("4.20")
    assert flask.price_tiers[0].price_text == "4.20"
    assert flask.certifications == ("LFGB", "FDA")
    company = catalog.company
    assert company.payment_terms == "30% T/T deposit, 70% balance before shipment"
    assert company.incoterms == ("FOB", "CIF", "EXW")
    assert company.terms == "FOB Ningbo / CIF / EXW"
    assert "2 free" in company.sample_policy


def test_csv_example_has_the_same_items(catalog: Catalog) -> None:
    from_csv = load_catalog(DATA / "catalog.example.csv")
    assert [replace(i, keywords=()) for i in catalog.items] == list(from_csv.items)
    assert from_csv.company.payment_terms == ""  # a CSV has no company block


def test_company_texts_in_the_buyer_language(catalog: Catalog) -> None:
    assert catalog.company.text("payment_terms", "es").startswith("30% de depósito")
    assert catalog.company.text("payment_terms", "ja") == catalog.company.payment_terms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("price of VF-500?", ["VF-500"]),
        ("vf500 please", ["VF-500"]),
        ("How much is the electric kettle", ["KT-17"]),
        ("Vacuum flasks 750ml", ["VF-750", "VF-500"]),
        ("precio del termo", ["VF-500", "VF-750"]),
        ("Preis für den Wasserkocher", ["KT-17"]),
        ("这个电水壶多少钱", ["KT-17"]),
        ("VF-500 and the kettle", ["VF-500", "KT-17"]),
        ("hello there", []),
    ],
)
def test_find(catalog: Catalog, text: str, expected: list[str]) -> None:
    assert [i.sku for i in catalog.find(text)] == expected


def test_numbers_are_normalised(catalog: Catalog) -> None:
    numbers = catalog.numbers()
    assert {"4.2", "3.8", "500", "5000", "25", "30", "70", "50", "3000", "28.5", "1.7"} <= numbers
    assert "4.20" not in numbers and "3.80" not in numbers
    assert "--08-18" in numbers  # "18/8 stainless" reads as a date, the same way in drafts


def test_prompt_context_is_compact_and_complete(catalog: Catalog) -> None:
    text = catalog.as_prompt_context()
    assert "Ningbo Everbright" in text and "30% T/T deposit" in text and "FOB Ningbo" in text
    for item in catalog.items:
        assert item.sku in text
    assert "500+ pcs: 4.20 USD" in text and "MOQ 300 sets" in text
    assert len(text) < 3000


YAML_OK_HEAD = """\
company:
  name: Acme
items:
  - name: Flask
    sku: F-1
    moq: 100
    price_tiers:
      - {min_qty: 100, price: 2.5, currency: usd}
    lead_time_days: 20
"""


def test_yaml_missing_field_names_file_line_item_and_field(tmp_path: Path) -> None:
    mug = "  - name: Mug\n    sku: M-1\n    moq: 50\n    lead_time_days: 10\n"
    path = write(tmp_path, "cat.yaml", YAML_OK_HEAD + mug)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 10" in message  # the second item starts on line 10
    assert "item 2 (M-1)" in message and "field 'price_tiers'" in message


def test_yaml_bad_value_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.yaml", YAML_OK_HEAD.replace("price: 2.5", "price: -1"))
    with pytest.raises(CatalogError, match=r"line 8, item 1 \(F-1\), field 'price_tiers\[0\]\.price'"):
        load_catalog(path)


def test_yaml_reports_every_problem(tmp_path: Path) -> None:
    text = YAML_OK_HEAD.replace("moq: 100", "moq: lots").replace("currency: usd", "currency: dollars")
    with pytest.raises(CatalogError) as info:
        load_catalog(write(tmp_path, "cat.yaml", text))
    assert "field 'moq'" in str(info.value) and "field 'price_tiers[0].currency'" in str(info.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.yaml", "items:\n  - name: [unclosed\n    sku: X\n")
    with pytest.raises(CatalogError, match=r"cat\.yaml: line \d+: not valid YAML"):
        load_catalog(path)


def test_yaml_duplicate_sku(tmp_path: Path) -> None:
    second = YAML_OK_HEAD.split("items:\n", 1)[1].replace("name: Flask", "name: Other")
    path = write(tmp_path, "cat.yaml", YAML_OK_HEAD + second)
    with pytest.raises(CatalogError, match=r"line 11, item 2, field 'sku': F-1 already used at line 5, item 1"):
        load_catalog(path)


def test_yaml_unknown_field_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.yaml", YAML_OK_HEAD + "    colour: red\n")
    with pytest.raises(CatalogError, match=r"line 10, item 1 \(F-1\), field 'colour'"):
        load_catalog(path)


CSV_HEAD = "name,sku,description,moq,unit,price_tiers,currency,lead_time_days,certifications\n"


def test_csv_bad_price_tiers_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.csv", CSV_HEAD + "A,A-1,,100,pcs,100:1.5,USD,10,CE\nB,B-1,,100,pcs,100-4.20,USD,10,\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert f"{path}: line 3 (row 2), field 'price_tiers'" in str(info.value)
    assert "'100-4.20'" in str(info.value)


def test_csv_bad_number_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.csv", CSV_HEAD + "A,A-1,,many,pcs,100:1.5,USD,10,CE\n")
    with pytest.raises(CatalogError, match=r"line 2 \(row 1\), field 'moq'"):
        load_catalog(path)


def test_csv_decimal_comma_and_certifications(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.csv", CSV_HEAD + 'A,A-1,,100,pcs,"100:4,20;500:3,80",eur,10,CE;FDA\n')
    item = load_catalog(path).items[0]
    tiers = [(t.min_qty, t.price_text, t.currency) for t in item.price_tiers]
    assert tiers == [(100, "4.20", "EUR"), (500, "3.80", "EUR")]
    assert item.certifications == ("CE", "FDA")


def test_csv_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.csv", "name,sku,moq,price_tiers,lead_time_days\nA,A-1,1,1:1,1\n")
    with pytest.raises(CatalogError, match=r"line 1, field 'currency': missing column"):
        load_catalog(path)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"nowhere\.yaml: cannot read"):
        load_catalog(tmp_path / "nowhere.yaml")
    with pytest.raises(CatalogError, match=r"unknown catalog format '\.json'"):
        load_catalog(write(tmp_path, "cat.json", "{}"))
