"""Typed business errors: their messages are written for the rep, not for a log."""

from __future__ import annotations


class TrademateError(Exception):
    """Base for errors a rep or an operator should read."""


class ConfigError(TrademateError):
    """Settings are missing or inconsistent; the message lists every problem."""


class ChannelRefused(TrademateError):
    """The provider refused a message for good (no retry will help)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class ChannelUnavailable(TrademateError):
    """The provider could not be reached or kept failing after retries."""


class ChannelCannotVerify(TrademateError):
    """The provider offers no way to tell whether an interrupted send was accepted."""


class CatalogError(TrademateError):
    """The catalog file could not be read; the message names file and field."""


# Plain words for the Twilio error codes a rep meets most.
TWILIO_ERRORS: dict[str, str] = {
    "63016": "outside the 24-hour WhatsApp window; only an approved template can be sent now",
    "21617": "the message is too long for this channel",
    "21211": "the buyer's number is not a valid phone number",
    "21408": "sending to this country is not enabled on the Twilio account",
    "21610": "the buyer has opted out (replied STOP) of messages from this number",
    "21614": "the number cannot receive SMS (probably a landline)",
    "63003": "the WhatsApp number is not reachable",
    "63024": "the WhatsApp recipient is invalid",
    "30003": "the buyer's phone is unreachable or switched off",
    "30005": "the number does not exist or is no longer in service",
    "30006": "the number cannot receive this message (landline or carrier block)",
    "30007": "the carrier filtered the message as spam",
    "30008": "the carrier could not deliver the message",
}


# Plain words for WhatsApp Cloud API (Meta Graph) error codes.
WHATSAPP_ERRORS: dict[str, str] = {
    "131047": "more than 24 hours have passed since the buyer last wrote; only an approved template can be sent",
    "131026": "the message could not be delivered (the number may not use WhatsApp)",
    "131030": "the number is not on the test allow-list of this WhatsApp sender",
    "131051": "WhatsApp does not support this message type",
    "131056": "too many messages to this buyer in a short time; wait and retry",
    "130429": "the WhatsApp sending rate limit was reached",
    "190": "the WhatsApp access token expired or is invalid (WHATSAPP_TOKEN)",
    "100": "WhatsApp rejected a parameter of the message",
}


def describe_provider_error(code: str | None, fallback: str = "") -> str:
    """Plain words for a provider error code (Twilio or WhatsApp), with the code kept for support."""
    if not code:
        return fallback or "the provider reported a failure"
    code = str(code)
    if code in TWILIO_ERRORS:
        return f"Twilio refused: {TWILIO_ERRORS[code]} ({code})"
    if code in WHATSAPP_ERRORS:
        return f"WhatsApp refused: {WHATSAPP_ERRORS[code]} ({code})"
    return f"The provider refused: {fallback or 'no reason given'} ({code})"
