"""/bgcheck end to end: target reading, concurrent checks with timeouts, the cache, the evidence-bound
summary (a fabricated claim is dropped), the CLI, and a signed Slack slash command through the real app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_runtime
from bot.background import BackgroundChecker, BgCheckError, BgQuery, classify, parse_query, self_description
from bot.background_report import Report, render
from bot.background_summary import ModelClaim, risk_flags, verify
from bot.checks import Status
from bot.cli import main as cli_main
from bot.config import Settings
from bot.errors import ConfigError
from bot.models import IncomingMessage
from bot.phones import phone_info
from bot.store import Store
from bot.web import create_web_app
from tests.bgworld import NOW, SEARCH_KEY, BgWorld, bg_world
from tests.fakes import (
    BUSINESS_WHATSAPP,
    SLACK_TOKEN,
    TEST_ACCOUNT_SID,
    TEST_AUTH_TOKEN,
    FakeLLM,
    FakeSlack,
    FakeTwilio,
)
from tests.serving import serve, slack_command

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(scope="module")
def shared_world() -> Iterator[BgWorld]:
    with bg_world() as w:
        yield w


@pytest.fixture
def world(shared_world: BgWorld) -> BgWorld:
    shared_world.reset()
    return shared_world


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store(":memory:")
    yield s
    s.close()


def checker(world: BgWorld, **extra: Any) -> BackgroundChecker:
    return BackgroundChecker.from_settings(Settings(_env_file=None, **world.settings_values(**extra)))  # type: ignore[call-arg]


def buyer_writes(store: Store, address: str, body: str, name: str | None, sid: str, days_ago: int = 0) -> None:
    store.add_inbound(IncomingMessage(sid, address, body, "whatsapp", profile_name=name), phone_info(address),
                      NOW - timedelta(days=days_ago))


def by_name(report: Report) -> dict[str, Any]:
    return {r.name: r for r in report.results}


# -- reading the request --------------------------------------------------------------------

def test_classify_and_parse() -> None:
    assert classify("https://www.Example-Buyer.test/about") == classify("example-buyer.test")
    assert classify("example-buyer.test").kind == "domain"
    assert classify("<mailto:Ana@Gmail.com|Ana@Gmail.com>").value == "ana@gmail.com"
    assert classify("+49 40 1234 5678").kind == "phone" and classify("whatsapp:+919876543210").kind == "phone"
    assert classify("#12").value == "12" and classify("conv:7").kind == "conversation"
    assert classify("Nordic Flask Trading").kind == "name"
    assert parse_query('ana@gmail.com --company "Ana Imports Ltd" --country de -r') == BgQuery(
        "ana@gmail.com", True, "Ana Imports Ltd", "DE")
    for bad in ("", "--refresh", "x.test --country Germany", "x.test --company"):
        with pytest.raises(BgCheckError):
            parse_query(bad)


def test_settings_problems_are_config_errors() -> None:
    for bad in ({"trademate_dns_server": "127.0.0.1:port"}, {"trademate_web_schemes": "ftp"},
                {"trademate_search_provider": "altavista", "trademate_search_key": "k"}):
        with pytest.raises(ConfigError):
            BackgroundChecker.from_settings(Settings(_env_file=None, **bad))  # type: ignore[call-arg]


# -- the checks together --------------------------------------------------------------------

async def test_domain_report_runs_every_check_and_reads_clean(world: BgWorld, store: Store) -> None:
    report = await checker(world).check(store, BgQuery("example-buyer.test"), NOW)
    results = by_name(report)
    assert set(results) == {"dns", "whois", "website", "history", "search"}
    assert [results[n].status for n in ("dns", "whois", "website", "history")] == [Status.OK] * 4
    assert results["search"].status is Status.SKIPPED
    assert report.level == "low" and report.flags == () and report.summary.source == "rules"
    text = render(report)
    assert "Example Registrar AG" in text and "Thermoskannen" in text and "failed to check" not in text
    assert "web search not configured" in text


async def test_new_domain_without_mx_or_website_raises_flags(world: BgWorld, store: Store) -> None:
    report = await checker(world).check(store, BgQuery("new-buyer.test", country="IN"), NOW)
    keys = {f.key for f in report.flags}
    assert {"new_domain", "no_mx"} <= keys
    assert "country_mismatch" not in keys  # nothing but the claim names a country here
    assert report.level == "high"
    assert "new domain: registered 2026-10-16 (40 days ago)" in render(report)


async def test_one_silent_source_fails_alone_within_its_timeout(world: BgWorld, store: Store) -> None:
    world.whois.silent.add("example-buyer.test")
    world.sites.slow.add("example-buyer.test")
    started = time.monotonic()
    report = await checker(world, trademate_bgcheck_timeout=0.5).check(store, BgQuery("example-buyer.test"), NOW)
    elapsed = time.monotonic() - started
    results = by_name(report)
    assert results["whois"].status is Status.FAILED and results["website"].status is Status.FAILED
    assert results["dns"].status is Status.OK and results["history"].status is Status.OK
    assert elapsed < 1.5, f"checks ran one after another ({elapsed:.2f}s)"
    assert "WHOIS: ❌ failed to check" in render(report)
    world.sites.slow.discard("example-buyer.test")
    world.whois.silent.clear()
    again = await checker(world).check(store, BgQuery("example-buyer.test"), NOW)
    assert not again.cached and by_name(again)["whois"].status is Status.OK  # the incomplete report was not kept


async def test_free_mail_for_a_large_importer_with_a_foreign_phone(world: BgWorld, store: Store) -> None:
    buyer_writes(store, "whatsapp:+919876543210", "Hello, we are a large importer. Mail ravi.imports@gmail.com",
                 "Ravi", "SM1", days_ago=3)
    buyer_writes(store, "whatsapp:+919876543211", "my mail is anil@example-buyer.test", "Anil", "SM2")
    report = await checker(world).check(store, BgQuery("+91 98765 43210", company="Ravi Global Importers Ltd",
                                                       country="AE"), NOW)
    assert report.kind == "buyer"
    results = by_name(report)
    assert results["email"].evidence["email.address"] == "ravi.imports@gmail.com"
    assert results["history"].evidence["history.messages_in"] == 1
    assert results["history"].evidence["history.first_contact"] == (NOW - timedelta(days=3)).date().isoformat()
    keys = {f.key for f in report.flags}
    assert {"free_mail_company", "country_mismatch"} <= keys
    assert "dns" not in results  # gmail.com says nothing about the buyer


async def test_a_buyer_who_calls_themselves_a_large_importer_writing_from_free_mail(world: BgWorld,
                                                                                     store: Store) -> None:
    buyer_writes(store, "whatsapp:+2348031234567", "Somos un gran importador de termos en Lagos", "Chidi", "SM6")
    buyer_writes(store, "whatsapp:+2348031234567", "escriba a chidi.trade@yahoo.com", "Chidi", "SM7")
    report = await checker(world).check(store, BgQuery("Chidi"), NOW)
    assert report.evidence["claimed.role"] == "gran importador"
    flag = next(f for f in report.flags if f.key == "free_mail_company")
    assert flag.evidence == ("email.free_mail", "claimed.role") and "gran importador" in flag.text
    assert self_description(["we are a leading distributor", "hello"]) == "leading distributor"
    assert self_description(["hello, price please"]) is None
    by_email = await checker(world).check(store, BgQuery("Chidi.Trade@yahoo.com"), NOW)
    assert by_email.kind == "email" and by_email.evidence["history.name"] == "Chidi"
    assert by_email.evidence["phone.country"] == "NG" and by_email.evidence["claimed.role"] == "gran importador"


async def test_company_name_checks_history_and_search_only(world: BgWorld, store: Store) -> None:
    world.search.results["Nordic Flask Trading"] = [("Nordic Flask Trading AB", "http://nft.test/", "Flasks")]
    chk = checker(world, trademate_search_provider="brave", trademate_search_key=SEARCH_KEY,
                  trademate_search_url=world.search.url + "/res/v1/web/search")
    report = await chk.check(store, BgQuery("Nordic Flask Trading"), NOW)
    assert report.kind == "company" and "Give its domain or an email" in (report.note or "")
    results = by_name(report)
    assert results["search"].status is Status.OK and results["search"].evidence["search.count"] == 1
    assert results["history"].evidence == {"history.known": False}


async def test_buyer_by_conversation_id_and_unknown_conversation(world: BgWorld, store: Store) -> None:
    buyer_writes(store, "whatsapp:+4915123456789", "Hallo, einkauf@example-buyer.test", "Jonas", "SM3")
    report = await checker(world).check(store, BgQuery("#1"), NOW)
    results = by_name(report)
    assert report.kind == "buyer" and results["phone"].evidence["phone.country"] == "DE"
    assert results["website"].status is Status.OK  # the domain of the email the buyer gave us
    assert results["history"].evidence["history.stage"] == "new"
    with pytest.raises(BgCheckError):
        await checker(world).check(store, BgQuery("#99"), NOW)


async def test_history_reads_opt_outs_orders_and_same_domain_contacts(world: BgWorld, store: Store) -> None:
    buyer_writes(store, "whatsapp:+4915123456789", "Hallo, einkauf@example-buyer.test", "Jonas", "SM3", days_ago=9)
    buyer_writes(store, "whatsapp:+4915123456789", "Preis?", "Jonas", "SM4", days_ago=2)
    buyer_writes(store, "whatsapp:+4915199999999", "ich bin lena@example-buyer.test", "Lena", "SM5")
    before = await checker(world).check(store, BgQuery("Jonas"), NOW)
    history = by_name(before)["history"].evidence
    assert history["history.messages_in"] == 2 and history["history.same_domain_contacts"] == 1
    assert "history.opted_out" not in history and "history.orders" not in history  # no such columns yet
    # Columns other features add later are read when they exist.
    store.db.execute("ALTER TABLE contacts ADD COLUMN opted_out_at TEXT")
    store.db.execute("UPDATE contacts SET opted_out_at = '2026-11-24' WHERE name = 'Jonas'")
    store.db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, contact_id INTEGER)")
    store.db.execute("INSERT INTO orders (contact_id) VALUES (1), (1)")
    after = await checker(world).check(store, BgQuery("Jonas", refresh=True), NOW)
    history = by_name(after)["history"].evidence
    assert history["history.opted_out"] is True and history["history.orders"] == 2
    assert "opted_out" in {f.key for f in after.flags}


async def test_reports_are_cached_until_refresh(world: BgWorld, store: Store) -> None:
    chk = checker(world)
    first = await chk.check(store, BgQuery("example-buyer.test"), NOW)
    queries = len(world.whois.queries)
    again = await chk.check(store, BgQuery("example-buyer.test"), NOW + timedelta(hours=2))
    assert again.cached and not first.cached and len(world.whois.queries) == queries
    assert "cached; add --refresh" in render(again) and render(again).split("\n")[2:] == render(first).split("\n")[2:]
    fresh = await chk.check(store, BgQuery("example-buyer.test", refresh=True), NOW + timedelta(hours=2))
    assert not fresh.cached and len(world.whois.queries) == queries + 1
    stale = await chk.check(store, BgQuery("example-buyer.test"), NOW + timedelta(hours=30))
    assert not stale.cached


# -- the summary never states what the evidence does not --------------------------------------

EVIDENCE = {"whois.created": "2015-06-01", "whois.registrar": "Example Registrar AG", "whois.age_days": 4195,
            "web.country": "DE", "web.title": "Example Buyer GmbH", "dns.mx": ["mx.example-buyer.test"]}


def test_verify_keeps_supported_claims_and_drops_invented_ones() -> None:
    claims = [
        ModelClaim(text="The domain was registered on 2015-06-01 through Example Registrar AG.",
                   evidence=["whois.created", "whois.registrar"]),
        ModelClaim(text="Its website says the company is in Germany.", evidence=["web.country"]),
        ModelClaim(text="The registrar is in France.", evidence=["whois.registrar"]),
        ModelClaim(text="The company has 500 employees and sells on Alibaba.", evidence=["web.title"]),
        ModelClaim(text="The buyer paid 3 invoices on time.", evidence=["orders.paid"]),
        ModelClaim(text="Mail goes to mx.fraud-host.test.", evidence=["dns.mx"]),
        ModelClaim(text="A trustworthy buyer.", evidence=[]),
    ]
    kept, dropped = verify(claims, EVIDENCE)
    assert [c.text for c in kept] == [claims[0].text, claims[1].text]
    assert len(dropped) == 5
    assert "France" in dropped[0]
    assert "500" in dropped[1] and "Alibaba" in dropped[1]
    assert "orders.paid" in dropped[2] and "mx.fraud-host.test" in dropped[3] and "cites no evidence" in dropped[4]


def test_rule_flags_cite_only_existing_evidence() -> None:
    ev = {"whois.created": "2026-10-01", "whois.age_days": 55, "email.free_mail": True, "email.domain": "qq.com",
          "claimed.company": "Big Import Co", "phone.country": "CN", "web.country": "DE", "web.answers": True}
    flags = risk_flags(ev)
    assert {f.key for f in flags} == {"new_domain", "free_mail_company", "country_mismatch"}
    assert all(k in ev for f in flags for k in f.evidence)


async def test_model_summary_drops_a_fabricated_claim_and_says_so(world: BgWorld, store: Store, fake_llm: FakeLLM,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    fake_llm.reply_json({"claims": [
        {"text": "The domain was registered on 2015-06-01.", "evidence": ["whois.created"]},
        {"text": "The website answers with the title Example Buyer GmbH – Thermoskannen Import.",
         "evidence": ["web.title"]},
        {"text": "The buyer has ordered 40000 units from Vietnam before.", "evidence": ["history.orders"]},
        {"text": "Dun & Bradstreet rates the company 5A1.", "evidence": ["whois.registrar"]},
    ]})
    chk = checker(world, trademate_model="openai:gpt-4o-mini", trademate_model_timeout=5)
    report = await chk.check(store, BgQuery("example-buyer.test"), NOW)
    assert report.summary.source == "model"
    assert [c.evidence for c in report.summary.claims] == [("whois.created",), ("web.title",)]
    text = render(report)
    assert "2 claim(s) dropped" in text and "40000" not in text.split("dropped")[0]
    assert "history.orders" in text  # named as the missing evidence behind the dropped claim
    prompt = fake_llm.last_prompt_text()
    assert "Example Registrar AG" in prompt and "whois.created" in prompt  # the model saw the evidence keys


async def test_model_failure_falls_back_to_the_rule_summary(world: BgWorld, store: Store, fake_llm: FakeLLM,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    fake_llm.fail_next(status=500, times=3)
    chk = checker(world, trademate_model="openai:gpt-4o-mini", trademate_model_timeout=5)
    report = await chk.check(store, BgQuery("new-buyer.test"), NOW)
    assert report.summary.source == "rules" and "model failed" in (report.summary.notice or "")
    assert "Risk high" in report.summary.claims[0].text


# -- the CLI and Slack ----------------------------------------------------------------------

def test_cli_prints_the_report_and_uses_the_cache(world: BgWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRADEMATE_DB", str(tmp_path / "t.db"))
    monkeypatch.setenv("TRADEMATE_MODEL", "")
    for key, value in world.settings_values().items():
        monkeypatch.setenv(key.upper(), str(value))
    assert cli_main(["bgcheck", "example-buyer.test"]) == 0
    out = capsys.readouterr().out
    assert "*Background check: example-buyer.test* (domain)" in out and "Example Registrar AG" in out
    assert cli_main(["bgcheck", "example-buyer.test"]) == 0
    assert "cached" in capsys.readouterr().out
    assert cli_main(["bgcheck", "example-buyer.test", "--refresh"]) == 0
    assert "cached" not in capsys.readouterr().out
    assert cli_main(["bgcheck", "x.test", "--country", "Germany"]) == 2
    assert "two-letter code" in capsys.readouterr().err


def test_slash_bgcheck_through_the_real_app_posts_the_report(world: BgWorld, tmp_path: Path, fake_slack: FakeSlack,
                                                             fake_twilio: FakeTwilio) -> None:
    settings = Settings(_env_file=None, trademate_db=str(tmp_path / "t.db"),  # type: ignore[call-arg]
                        trademate_public_url="https://trademate.test", twilio_account_sid=TEST_ACCOUNT_SID,
                        twilio_auth_token=TEST_AUTH_TOKEN, twilio_from=BUSINESS_WHATSAPP,
                        twilio_api_url=fake_twilio.url, slack_bot_token=SLACK_TOKEN, slack_signing_secret=SECRET,
                        slack_api_url=fake_slack.url + "/api/", slack_channel="C0SALES001",
                        **world.settings_values())
    runtime = build_runtime(settings)
    try:
        with serve(create_web_app(runtime)) as url:
            raw, headers = slack_command("/bgcheck", "example-buyer.test --refresh", SECRET)
            resp = httpx.post(url + "/slack/events", content=raw, headers=headers, timeout=10)
            assert resp.status_code == 200 and "Working on /bgcheck" in resp.text
            posted = fake_slack.wait_for("chat.postMessage").args
            assert posted["channel"] == "C0SALES001"
            assert "Background check: example-buyer.test" in posted["text"]
            assert "Example Registrar AG" in posted["text"] and "Risk: low" in posted["text"]
            assert world.whois.queries == ["example-buyer.test"]

            raw, headers = slack_command("/bgcheck", "", SECRET)
            httpx.post(url + "/slack/events", content=raw, headers=headers, timeout=10)
            note = fake_slack.wait_for("chat.postEphemeral").args
            assert "What should I check?" in note["text"]
    finally:
        runtime.close()
