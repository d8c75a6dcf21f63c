"""`trademate doctor`: check settings, reach every configured platform, print the webhook URLs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.config import Settings

Check = tuple[str, bool, str]  # (what, ok, detail)


def _try(what: str, fn: Callable[[], str]) -> Check:
    try:
        return (what, True, fn())
    except Exception as exc:  # every failure becomes a line for the operator
        return (what, False, f"{type(exc).__name__}: {exc}")


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = [(f"setting: {p.split(':')[0]}", False, p) for p in settings.problems(serving=True)]

    def catalog() -> str:
        from bot.catalog import load_catalog

        cat = load_catalog(settings.catalog_path)
        return f"{len(cat.items)} items from {settings.catalog_path}"

    def database() -> str:
        from bot.store import Store

        Store(settings.trademate_db).close()
        return f"{settings.trademate_db} opens, schema up to date"

    def templates() -> str:
        from bot.catalog import load_catalog
        from bot.templates import templates_from

        found = templates_from(settings, load_catalog(settings.catalog_path))
        return f"{len(found.items)} approved WhatsApp templates" + ("" if found.items else
                                                                    " (outside the 24-hour window nothing can be sent)")

    checks += [_try("catalog", catalog), _try("database", database), _try("templates", templates)]

    if settings.slack_enabled:
        def slack() -> str:
            from slack_sdk import WebClient

            resp = WebClient(settings.slack_bot_token, base_url=settings.slack_api_url).auth_test()
            return f"bot {resp.get('user')} in team {resp.get('team')}"

        checks.append(_try("slack auth.test", slack))
    if settings.twilio_enabled:
        def twilio() -> str:
            from bot.channels.twilio import build_client

            client = build_client(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url)
            account = client.api.v2010.accounts(settings.twilio_account_sid).fetch()
            return f"account {account.friendly_name!r} is {account.status}"

        checks.append(_try("twilio account", twilio))
    if settings.trademate_model:
        def llm() -> str:
            from langchain.chat_models import init_chat_model

            model = init_chat_model(settings.trademate_model, temperature=0, timeout=20, max_retries=0)
            reply = asyncio.run(model.ainvoke("Reply with the single word: ok"))
            return f"{settings.trademate_model} answered {str(reply.content)[:20]!r}"

        checks.append(_try("language model", llm))
    else:
        checks.append(("language model", True, "none configured: the template drafter answers"))
    return checks


def webhook_urls(settings: Settings) -> list[tuple[str, str]]:
    base = settings.trademate_public_url.rstrip("/") or "https://YOUR-PUBLIC-URL"
    return [
        ("Twilio: 'A message comes in' (HTTP POST)", f"{base}/twilio/messages"),
        ("Twilio: status callback (set by Trademate on each send)", f"{base}/twilio/status"),
        ("Slack: Interactivity and Event Subscriptions request URL", f"{base}/slack/events"),
    ]


def main(settings: Settings) -> int:
    checks = run_checks(settings)
    for what, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'}  {what}: {detail}")
    print("\nWebhook URLs to paste:")
    for where, url in webhook_urls(settings):
        print(f"  {where}\n    {url}")
    failed = [c for c in checks if not c[1]]
    print(f"\n{len(failed)} problem(s)." if failed else "\nAll checks passed.")
    return 1 if failed else 0
