"""Phone: validity, country, line type, original carrier and time zone (phonenumbers' offline data)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType, carrier, timezone

from bot.checks import CheckResult, Status

_TYPES = {
    PhoneNumberType.MOBILE: "mobile", PhoneNumberType.FIXED_LINE: "fixed line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed line or mobile", PhoneNumberType.TOLL_FREE: "toll free",
    PhoneNumberType.PREMIUM_RATE: "premium rate", PhoneNumberType.SHARED_COST: "shared cost",
    PhoneNumberType.VOIP: "VoIP", PhoneNumberType.PERSONAL_NUMBER: "personal number",
    PhoneNumberType.PAGER: "pager", PhoneNumberType.UAN: "UAN", PhoneNumberType.VOICEMAIL: "voicemail",
}


def check_phone(raw: str, claimed_country: str | None = None) -> CheckResult:
    number_text = raw.split(":", 1)[1] if raw.lower().startswith(("whatsapp:", "tel:")) else raw
    try:
        number = phonenumbers.parse(number_text if number_text.startswith("+") else f"+{number_text}", None)
    except phonenumbers.NumberParseException:
        return CheckResult("phone", Status.WARNING, f"{raw} is not a phone number", {"phone.valid": False},
                           ("not a phone number",))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        return CheckResult("phone", Status.WARNING, f"{e164} is not a valid number in any numbering plan",
                           {"phone.number": e164, "phone.valid": False}, ("invalid phone number",))
    country = phonenumbers.region_code_for_number(number)
    kind = _TYPES.get(phonenumbers.number_type(number), "unknown type")
    operator = carrier.name_for_number(number, "en")
    zones = [z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    evidence: dict[str, object] = {"phone.number": e164, "phone.valid": True, "phone.country": country,
                                   "phone.type": kind, "phone.timezones": zones}
    if operator:
        evidence["phone.carrier"] = operator
    parts = [f"{e164}: {country}, {kind}"]
    if operator:
        parts.append(f"carrier {operator}")
    if zones:
        parts.append("time zone " + ", ".join(zones[:3]) + (" …" if len(zones) > 3 else ""))
    notes = []
    if kind in ("VoIP", "premium rate", "pager"):
        notes.append(f"{kind} number")
    if claimed_country:
        evidence["claimed.country"] = claimed_country.upper()
        if claimed_country.upper() != country:
            notes.append(f"phone country {country} differs from the claimed country {claimed_country.upper()}")
    return CheckResult("phone", Status.WARNING if notes else Status.OK, "; ".join(parts), evidence, tuple(notes))
