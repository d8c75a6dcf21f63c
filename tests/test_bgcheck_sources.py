"""Each background-check source against its local server: answers, garbage, silence and refusals."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import phonenumbers
import pytest

from bot.checks import Status
from bot.checks.dns import Lookup, check_dns, parse_server
from bot.checks.email import check_email, domain_matches_company
from bot.checks.phone import check_phone
from bot.checks.search import BraveSearch, SerpApiSearch, build_search, check_search
from bot.checks.website import WebConfig, check_website, read_page
from bot.checks.whois import check_whois, parse_whois, registered_name
from bot.errors import ConfigError
from tests.bgworld import NOW, SEARCH_KEY, BgWorld, bg_world
from tests.fakes.website import BUYER_PAGE


@pytest.fixture(scope="module")
def shared_world() -> Iterator[BgWorld]:
    with bg_world() as w:
        yield w


@pytest.fixture
def world(shared_world: BgWorld) -> BgWorld:
    shared_world.reset()
    return shared_world


def lookup(world: BgWorld, timeout: float = 0.5) -> Lookup:
    return Lookup(parse_server(world.dns.server), timeout)


def web(world: BgWorld, **kw: object) -> WebConfig:
    values: dict[str, object] = {"schemes": ("http",), "port": world.site_port, "timeout": 1.0,
                                 "allow_private": True}
    values.update(kw)
    return WebConfig(**values)  # type: ignore[arg-type]


# -- DNS ------------------------------------------------------------------------------------

def test_parse_server_forms() -> None:
    assert parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_server("1.1.1.1") == ("1.1.1.1", 53)
    assert parse_server("[::1]:5300") == ("::1", 5300)
    assert parse_server(" ") is None
    assert parse_server("whois.denic.de", default_port=43) == ("whois.denic.de", 43)


async def test_dns_reports_a_and_mx_from_the_configured_server(world: BgWorld) -> None:
    result = await check_dns(lookup(world), "example-buyer.test")
    assert result.status is Status.OK
    assert result.evidence == {"dns.exists": True, "dns.a": ["127.0.0.1"], "dns.mx": ["mx.example-buyer.test"]}
    assert ("example-buyer.test", "A") in world.dns.queries and ("example-buyer.test", "MX") in world.dns.queries


async def test_dns_missing_mx_and_missing_domain_are_warnings(world: BgWorld) -> None:
    no_mx = await check_dns(lookup(world), "new-buyer.test")
    assert no_mx.status is Status.WARNING and "cannot receive email" in no_mx.notes[0]
    missing = await check_dns(lookup(world), "nowhere.test")
    assert missing.status is Status.WARNING and missing.evidence == {"dns.exists": False}


@pytest.mark.parametrize("mode", ["silent", "garbage"])
async def test_dns_silence_or_garbage_is_failed_to_check_within_the_timeout(world: BgWorld, mode: str) -> None:
    getattr(world.dns, mode).add("example-buyer.test")
    started = time.monotonic()
    result = await check_dns(lookup(world, 0.4), "example-buyer.test")
    assert result.status is Status.FAILED and result.evidence == {}
    assert time.monotonic() - started < 2


# -- WHOIS ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "created", "registrar"), [
    ("Domain Name: A.COM\nCreation Date: 2019-03-04T05:06:07Z\nRegistrar: GoDaddy.com, LLC\n", "2019-03-04",
     "GoDaddy.com, LLC"),
    ("Domain name:\n    a.co.uk\nRegistrar:\n    Tucows Inc [Tag = TUCOWS]\nRegistered on: 04-Mar-2019\n", "2019-03-04",
     "Tucows Inc [Tag = TUCOWS]"),  # Nominet puts values on the next line
    ("Domain Name: a.cn\nRegistration Time: 2019-03-04 10:11:12\nSponsoring Registrar: 阿里云计算有限公司\n",
     "2019-03-04", "阿里云计算有限公司"),
    ("domain:        A.RU\nregistrar:     RU-CENTER-RU\ncreated:       2019.03.04\n", "2019-03-04",
     "RU-CENTER-RU"),
    ("[Domain Name]  A.JP\n[Created on]   2019/03/04\n", "2019-03-04", None),
])
def test_whois_parser_reads_common_layouts(text: str, created: str, registrar: str | None) -> None:
    record = parse_whois(text)
    assert record.created is not None and record.created.date().isoformat() == created
    assert record.registrar == registrar


def test_registered_name_is_what_the_registry_knows() -> None:
    assert registered_name("shop.acme.co.uk") == "acme.co.uk"
    assert registered_name("mail.acme.de") == "acme.de"
    assert registered_name("acme.com.cn") == "acme.com.cn"
    assert registered_name("acme.test") == "acme.test"


def test_whois_parser_sees_unregistered_domains() -> None:
    assert parse_whois('No match for "FREE-NAME.COM".\r\n').registered is False
    assert parse_whois("%% NOT FOUND\n").registered is False


async def test_whois_from_the_local_server(world: BgWorld) -> None:
    server = parse_server(world.whois.server)
    old = await check_whois("example-buyer.test", server, 1.0, NOW)
    assert old.status is Status.OK
    assert old.evidence["whois.created"] == "2015-06-01" and old.evidence["whois.registrar"] == "Example Registrar AG"
    assert old.evidence["whois.country"] == "DE" and old.evidence["whois.age_days"] > 4000
    new = await check_whois("new-buyer.test", server, 1.0, NOW)
    assert new.status is Status.WARNING and new.evidence["whois.age_days"] == 40
    assert world.whois.queries == ["example-buyer.test", "new-buyer.test"]
    free = await check_whois("free-name.test", server, 1.0, NOW)
    assert free.status is Status.WARNING and free.evidence == {"whois.registered": False}


async def test_whois_silence_garbage_and_refusal_are_failed_to_check(world: BgWorld) -> None:
    server = parse_server(world.whois.server)
    world.whois.silent.add("example-buyer.test")
    world.whois.garbage.add("new-buyer.test")
    started = time.monotonic()
    silent = await check_whois("example-buyer.test", server, 0.3, NOW)
    assert silent.status is Status.FAILED and "did not answer" in silent.line
    assert time.monotonic() - started < 2
    garbage = await check_whois("new-buyer.test", server, 0.3, NOW)
    assert garbage.status is Status.FAILED
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = ("127.0.0.1", s.getsockname()[1])
    refused = await check_whois("example-buyer.test", closed, 0.3, NOW)
    assert refused.status is Status.FAILED and "could not reach" in refused.line


# -- website --------------------------------------------------------------------------------

def test_read_page_finds_title_description_contacts_and_country() -> None:
    page = read_page(BUYER_PAGE)
    assert page["web.title"] == "Example Buyer GmbH – Thermoskannen Import"
    assert "vacuum flasks" in str(page["web.description"])
    assert page["web.emails"] == ["einkauf@example-buyer.test", "sales@example-buyer.test"]
    assert page["web.phones"] == ["+4940123456789"]
    assert page["web.country"] == "DE"


def test_read_page_falls_back_to_the_country_of_listed_phones_and_survives_garbage() -> None:
    assert read_page("<p>Call +91 98765 43210</p>")["web.country"] == "IN"
    garbage = read_page("<<<\x00\xff<title>unclosed <script type='application/ld+json'>{not json")
    assert "web.country" not in garbage


async def test_website_answers_through_the_configured_resolver(world: BgWorld) -> None:
    result = await check_website(lookup(world), web(world), "example-buyer.test")
    assert result.status is Status.OK, result.line
    assert result.evidence["web.title"] == "Example Buyer GmbH – Thermoskannen Import"
    assert result.evidence["web.country"] == "DE" and result.evidence["web.status"] == 200
    assert world.sites.requests == [("example-buyer.test", "/")]  # the Host header carried the domain


async def test_website_redirects_are_resolved_hop_by_hop(world: BgWorld) -> None:
    result = await check_website(lookup(world), web(world), "old-buyer.test")
    assert result.status is Status.OK
    assert result.evidence["web.url"] == "http://example-buyer.test/"
    assert [h for h, _ in world.sites.requests] == ["old-buyer.test", "example-buyer.test"]


async def test_website_at_a_private_address_is_not_fetched_by_default(world: BgWorld) -> None:
    result = await check_website(lookup(world), web(world, allow_private=False), "example-buyer.test")
    assert result.status is Status.FAILED and "private address" in result.line
    assert world.sites.requests == []


async def test_website_timeout_fails_to_check_and_a_closed_port_means_no_website(world: BgWorld) -> None:
    slow = await check_website(lookup(world), web(world, timeout=0.3), "slow-site.test")
    assert slow.status is Status.FAILED and "did not answer" in slow.line
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = await check_website(lookup(world), web(world, port=closed), "example-buyer.test")
    assert down.status is Status.WARNING and down.evidence["web.answers"] is False
    nxdomain = await check_website(lookup(world), web(world), "nowhere.test")
    assert nxdomain.status is Status.WARNING and nxdomain.evidence["web.answers"] is False


# -- email and phone ------------------------------------------------------------------------

async def test_email_free_mail_for_a_company_and_company_domains(world: BgWorld) -> None:
    free = await check_email(lookup(world), "lucia.imports@gmail.com", "Lucia Imports Ltd")
    assert free.status is Status.WARNING
    assert free.evidence["email.free_mail"] is True and free.evidence["email.mx"] == ["gmail-smtp-in.l.google.com"]
    assert "free-mail address for a company" in free.notes[0]
    company = await check_email(lookup(world), "einkauf@example-buyer.test", "Example Buyer GmbH")
    assert company.status is Status.OK and company.evidence["email.matches_company"] is True
    other = await check_email(lookup(world), "einkauf@example-buyer.test", "Nordic Flask Trading")
    assert other.status is Status.WARNING and other.evidence["email.matches_company"] is False
    no_mx = await check_email(lookup(world), "x@new-buyer.test", None)
    assert no_mx.status is Status.WARNING and no_mx.evidence["email.mx"] == []
    bad = await check_email(lookup(world), "not an@address", None)
    assert bad.status is Status.WARNING and bad.evidence["email.valid"] is False


def test_domain_matches_company_by_word_or_initials() -> None:
    assert domain_matches_company("acme-imports.de", "ACME Imports GmbH")
    assert domain_matches_company("nft.com", "Nordic Flask Trading")
    assert domain_matches_company("globex.cn", "Acme Ltd") is False
    assert domain_matches_company("x.com", "Ltd") is None


def test_phone_country_type_carrier_zone_and_claimed_country() -> None:
    result = check_phone("whatsapp:+919876543210", "DE")
    assert result.evidence["phone.country"] == "IN" and result.evidence["phone.type"] == "mobile"
    assert result.evidence["phone.timezones"] == ["Asia/Calcutta"]
    assert result.status is Status.WARNING and "differs from the claimed country DE" in result.notes[0]
    uk = check_phone("+447400123456")
    assert uk.status is Status.OK and uk.evidence["phone.carrier"]  # phonenumbers knows the original carrier
    voip = phonenumbers.format_number(phonenumbers.example_number_for_type("GB", phonenumbers.PhoneNumberType.VOIP),
                                      phonenumbers.PhoneNumberFormat.E164)
    assert check_phone(voip).status is Status.WARNING
    assert check_phone("+1 555 0100").evidence == {"phone.number": "+15550100", "phone.valid": False}
    assert check_phone("hello").status is Status.WARNING


# -- search ---------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["brave", "serpapi"])
async def test_search_providers_against_the_local_api(world: BgWorld, provider: str) -> None:
    world.search.results["example-buyer.test"] = [
        ("Example Buyer GmbH", "http://example-buyer.test/", "Importer of flasks"),
        ("Example Buyer scam warning", "http://forum.test/123", "Reports of fraud by example-buyer"),
    ]
    path = "/res/v1/web/search" if provider == "brave" else "/search.json"
    client = build_search(provider, SEARCH_KEY, world.search.url + path, 1.0)
    assert isinstance(client, BraveSearch if provider == "brave" else SerpApiSearch)
    result = await check_search(client, "example-buyer.test")
    assert result.status is Status.WARNING and result.evidence["search.count"] == 2
    assert result.evidence["search.alarms"] == ["http://forum.test/123"]
    wrong_key = build_search(provider, "wrong", world.search.url + path, 1.0)
    assert (await check_search(wrong_key, "example-buyer.test")).status is Status.FAILED


async def test_search_not_configured_and_misconfigured() -> None:
    assert (await check_search(None, "x")).status is Status.SKIPPED
    with pytest.raises(ConfigError):
        build_search("bing", "k", "", 1.0)
    with pytest.raises(ConfigError):
        build_search("brave", "", "", 1.0)


def test_now_is_timezone_aware() -> None:
    assert NOW.tzinfo is UTC and datetime.now(UTC) > NOW.replace(year=2020)
