"""Phone numbers: normalise a channel address to E.164 and derive country and time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

# When a number maps to several zones (phonenumbers lists them alphabetically), the
# country's main business zone is the better guess for "is it office hours there".
MAIN_ZONE = {
    "ES": "Europe/Madrid", "PT": "Europe/Lisbon", "BR": "America/Sao_Paulo", "RU": "Europe/Moscow",
    "AU": "Australia/Sydney", "CA": "America/Toronto", "MX": "America/Mexico_City", "ID": "Asia/Jakarta",
    "CL": "America/Santiago", "EC": "America/Guayaquil", "AR": "America/Argentina/Buenos_Aires",
    "KZ": "Asia/Almaty", "CD": "Africa/Kinshasa", "US": "America/New_York", "CN": "Asia/Shanghai",
    "MY": "Asia/Kuala_Lumpur", "NZ": "Pacific/Auckland", "FR": "Europe/Paris", "GB": "Europe/London",
    "DE": "Europe/Berlin", "UA": "Europe/Kyiv", "MN": "Asia/Ulaanbaatar",
}


@dataclass(frozen=True)
class PhoneInfo:
    e164: str
    country: str | None  # ISO 3166 alpha-2
    timezone: str | None  # IANA; the first of several when a country spans zones


def split_address(address: str) -> tuple[str, str]:
    """'whatsapp:+34…' -> ('whatsapp', '+34…'); a bare number is SMS."""
    if ":" in address:
        scheme, _, rest = address.partition(":")
        return scheme.lower(), rest
    return "sms", address


def phone_info(address: str) -> PhoneInfo:
    """Best effort: an unparsable number is kept as given, with no country or zone."""
    _, raw = split_address(address)
    try:
        parsed = phonenumbers.parse(raw if raw.startswith("+") else f"+{raw}", None)
    except phonenumbers.NumberParseException:
        return PhoneInfo(e164=raw, country=None, timezone=None)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    country = phonenumbers.region_code_for_number(parsed)
    zones = [z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    zone = zones[0] if zones else None
    main = MAIN_ZONE.get(country or "")
    if len(zones) > 1 and main in zones:
        zone = main
    return PhoneInfo(e164=e164, country=country if country and country != "ZZ" else None, timezone=zone)


def local_time(tz: str | None, now: datetime) -> str:
    """The buyer's wall-clock time for the card, e.g. 'Tue 14:05 (Europe/Madrid)'."""
    if not tz:
        return "local time unknown"
    try:
        local = now.astimezone(ZoneInfo(tz))
    except ZoneInfoNotFoundError:
        return "local time unknown"
    return f"{local:%a %H:%M} ({tz})"
