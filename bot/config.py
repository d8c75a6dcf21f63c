"""Settings from the environment and `.env`, validated once at start-up.

Every problem is collected and reported in one `ConfigError`, so an operator fixes
their `.env` in one pass instead of one restart per mistake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

DEFAULT_CATALOG = Path(__file__).parent / "data" / "catalog.yaml"


class Settings(BaseSettings):
    """All settings; names match `.env.example` (a test keeps the two in step)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    trademate_db: str = Field("trademate.db", description="SQLite file (':memory:' for throwaway runs)")
    trademate_public_url: str = Field("", description="Public base URL Twilio/Slack/Telegram call, no slash")
    trademate_model: str = Field("", description="langchain 'provider:model'; empty = template drafter")
    trademate_model_timeout: float = Field(30.0, description="Seconds before the LLM call falls back")
    trademate_catalog: str = Field("", description="catalog.yaml or .csv; empty = the bundled sample")
    trademate_rep_language: str = Field("en", description="Language the rep reads (ISO 639-1)")
    trademate_history: int = Field(12, description="How many earlier messages ground a draft")
    trademate_team: str = Field("", description="Team YAML file (reps, roles, routing)")
    trademate_max_body: int = Field(1_048_576, description="Largest webhook body accepted, bytes")

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = Field("", description="Sender: 'whatsapp:+14155238886' or '+14155550100'")
    twilio_api_url: str = "https://api.twilio.com"

    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str = ""

    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    telegram_chat_id: str = ""

    whatsapp_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_verify_token: str = ""
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"

    trademate_bgcheck_cache_hours: float = Field(24.0, description="How long a /bgcheck report is reused")
    trademate_bgcheck_timeout: float = Field(8.0, description="Seconds each background check may take")
    trademate_dns_server: str = Field("", description="host[:port] of the DNS server for checks; empty = system")
    trademate_whois_server: str = Field("", description="host[:port] WHOIS server; empty = whois.iana.org referral")
    trademate_web_schemes: str = Field("https,http", description="Schemes tried for a buyer's website, in order")
    trademate_web_port: int = Field(0, description="Port for a buyer's website; 0 = the scheme's usual port")
    trademate_bgcheck_allow_private: bool = Field(False, description="Fetch websites at private/loopback addresses")
    trademate_search_provider: str = Field("", description="Web search for /bgcheck: brave | serpapi | empty")
    trademate_search_key: str = ""
    trademate_search_url: str = Field("", description="Search API endpoint; empty = the provider's public API")
    trademate_undo_seconds: float = Field(300.0, ge=0, description="Delay before an automatic send; Cancel stops it")
    trademate_templates: str = Field("", description="templates.yaml of approved WhatsApp templates; empty = "
                                     "./templates.yaml if present")

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.whatsapp_token and self.whatsapp_phone_number_id)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def catalog_path(self) -> Path:
        return Path(self.trademate_catalog) if self.trademate_catalog else DEFAULT_CATALOG

    def problems(self, *, serving: bool) -> list[str]:
        """Everything wrong with these settings for the given use, in plain words."""
        out: list[str] = []
        if not self.catalog_path.is_file():
            out.append(f"TRADEMATE_CATALOG: no file at {self.catalog_path}")
        if self.trademate_model and ":" not in self.trademate_model:
            out.append("TRADEMATE_MODEL: use 'provider:model', e.g. 'openai:gpt-4o-mini'")
        if not serving:
            return out
        twilio = [self.twilio_account_sid, self.twilio_auth_token, self.twilio_from]
        if any(twilio) and not all(twilio):
            out.append("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM go together; some are missing")
        if self.twilio_enabled and not self.trademate_public_url:
            out.append("TRADEMATE_PUBLIC_URL is needed to verify Twilio signatures and receive status callbacks")
        if self.trademate_public_url and not self.trademate_public_url.startswith(("http://", "https://")):
            out.append("TRADEMATE_PUBLIC_URL must start with http:// or https://")
        if self.slack_enabled:
            if not self.slack_signing_secret and not self.slack_app_token:  # Socket Mode needs no signatures
                out.append("SLACK_SIGNING_SECRET is needed to verify Slack requests (or SLACK_APP_TOKEN for "
                           "Socket Mode)")
            if not self.slack_channel:
                out.append("SLACK_CHANNEL: which channel should cards go to?")
        if self.whatsapp_enabled and not (self.whatsapp_app_secret and self.whatsapp_verify_token):
            out.append("WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN are needed to receive WhatsApp webhooks")
        if not (self.twilio_enabled or self.whatsapp_enabled):
            out.append("No buyer channel: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM "
                       "(or WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID for the WhatsApp Cloud API)")
        if not (self.slack_enabled or self.telegram_bot_token):
            out.append("No rep surface: set SLACK_BOT_TOKEN (and SLACK_SIGNING_SECRET, SLACK_CHANNEL)")
        return out


def load_settings(**overrides: Any) -> Settings:
    """Read settings; turn pydantic's errors into one readable ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("Settings are invalid:\n  " + "\n  ".join(lines)) from exc


def check(settings: Settings, *, serving: bool) -> None:
    problems = settings.problems(serving=serving)
    if problems:
        raise ConfigError("Settings need attention:\n  " + "\n  ".join(problems))
