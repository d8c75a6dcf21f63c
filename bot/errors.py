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


def describe_twilio_error(code: str | None, fallback: str = "") -> str:
    """Plain words for a Twilio error code, with the code kept for support."""
    if not code:
        return fallback or "the provider reported a failure"
    words = TWILIO_ERRORS.get(str(code), fallback or "the provider refused the message")
    return f"Twilio refused: {words} ({code})"
