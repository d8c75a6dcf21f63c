"""templates.yaml: validation errors that name file, template and field; matching; variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.config import DEFAULT_CATALOG
from bot.errors import ConfigError
from bot.models import Contact
from bot.templates import load_templates, render_preview, variables_for

ROOT = Path(__file__).resolve().parent.parent
CATALOG = load_catalog(DEFAULT_CATALOG)
SID = "HX" + "ab" * 16


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "templates.yaml"
    path.write_text(body)
    return path


def test_the_shipped_file_is_valid_and_matches_intents() -> None:
    templates = load_templates(ROOT / "templates.yaml", CATALOG)
    assert templates.for_intent("price_inquiry").name == "quote_follow_up"  # type: ignore[union-attr]
    assert templates.for_intent("sample_request").name == "sample_check"  # type: ignore[union-attr]
    assert templates.for_intent("complaint").name == "reopen_conversation"  # type: ignore[union-attr]
    assert all(t.content_sid.startswith("HX") for t in templates.items)


@pytest.mark.parametrize(("entry", "words"), [
    (f"name: a\n    content_sid: XX{'ab' * 16}\n    intents: ['*']", "(a).content_sid"),
    (f"name: a\n    content_sid: {SID}\n    intents: [haggling]", "unknown intents"),
    (f"name: a\n    content_sid: {SID}\n    intents: ['*']\n    variables: {{'1': contact.salary}}", "contact.salary"),
    (f"name: a\n    content_sid: {SID}\n    intents: ['*']\n    variables: {{'1': catalog.NOPE-1.name}}",
     "no catalog item 'NOPE-1'"),
    (f"name: a\n    content_sid: {SID}\n    intents: ['*']\n    preview: 'Hi {{{{2}}}}'", "preview uses {{2}}"),
    (f"name: a\n    content_sid: {SID}\n    intents: ['*']\n    colour: red", "colour"),
])
def test_invalid_entries_are_named(tmp_path: Path, entry: str, words: str) -> None:
    path = _write(tmp_path, "templates:\n  - " + entry + "\n")
    with pytest.raises(ConfigError) as info:
        load_templates(path, CATALOG)
    assert str(path) in str(info.value) and words in str(info.value)


def test_duplicate_names_and_unreadable_files(tmp_path: Path) -> None:
    entry = f"  - name: a\n    content_sid: {SID}\n    intents: ['*']\n"
    with pytest.raises(ConfigError, match="defined twice"):
        load_templates(_write(tmp_path, "templates:\n" + entry + entry), CATALOG)
    with pytest.raises(ConfigError, match="cannot read"):
        load_templates(tmp_path / "missing.yaml", CATALOG)


def test_variables_come_from_contact_product_catalog_with_fallbacks(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""templates:
  - name: t
    content_sid: {SID}
    intents: ['*']
    preview: "Hi {{{{1}}}}, about the {{{{2}}}} (MOQ {{{{3}}}}) from {{{{4}}}}"
    variables:
      "1": contact.first_name|there
      "2": product.name|our products
      "3": catalog.VF-500.moq
      "4": company.name
""")
    template = load_templates(path, CATALOG).items[0]
    lucia = Contact(1, "whatsapp:+34612345678", "+34612345678", "whatsapp", name="Lucía Romero")
    values = variables_for(template, lucia, CATALOG, "¿precio del termo de 500 ml?")
    assert values["1"] == "Lucía" and values["2"] == "Vacuum Flask 500 ml" and values["3"] == "500"
    assert values["4"] == CATALOG.company.name
    anonymous = Contact(2, "whatsapp:+1555", "+1555", "whatsapp")
    values = variables_for(template, anonymous, CATALOG, "hello")
    assert values["1"] == "there" and values["2"] == "our products"
    assert render_preview(template, values).startswith("Hi there, about the our products (MOQ 500)")


def test_doctor_reports_the_templates_file(tmp_path: Path) -> None:
    from bot.config import Settings
    from bot.doctor import run_checks

    def templates_check(path: Path) -> tuple[str, bool, str]:
        settings = Settings(_env_file=None, trademate_db=str(tmp_path / "t.db"),  # type: ignore[call-arg]
                            trademate_templates=str(path))
        return next(c for c in run_checks(settings) if c[0] == "templates")

    assert templates_check(ROOT / "templates.yaml") == ("templates", True, "3 approved WhatsApp templates")
    bad = _write(tmp_path, "templates:\n  - name: x\n")
    ok, detail = templates_check(bad)[1:]
    assert not ok and "content_sid" in detail and str(bad) in detail
