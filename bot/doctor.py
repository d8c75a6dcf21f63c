"""`trademate doctor`: check settings, reach every configured platform, print the webhook URLs."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Settings

Check = tuple[str, bool, str]  # (what, ok, detail)


def _try(what: str, fn: Callable[[], str]) -> Check:
    try:
        return (what, True, fn())
    except Exception as exc:  # every failure becomes a line for the operator
        response = getattr(exc, "response", None)
        if isinstance(getattr(response, "data", None), dict) and response.data.get("error"):  # type: ignore[union-attr]
            return (what, False, f"Slack answered {response.data['error']}")  # type: ignore[union-attr]
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return (what, False, f"{type(exc).__name__}: {text[:400]}")


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = [("setting", False, p) for p in settings.problems(serving=True)]

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
    checks += _team_checks(settings)
    if settings.slack_app_token:
        def socket_mode() -> str:
            from slack_sdk import WebClient

            WebClient(base_url=settings.slack_api_url).apps_connections_open(app_token=settings.slack_app_token)
            return "SLACK_APP_TOKEN opens a Socket Mode connection (no public URL needed for Slack)"

        checks.append(_try("slack socket mode", socket_mode))
    if settings.telegram_bot_token:
        def telegram() -> str:
            import httpx

            base = settings.telegram_api_url.rstrip("/")
            resp = httpx.get(f"{base}/bot{settings.telegram_bot_token}/getMe", timeout=10)
            body = resp.json()
            if not body.get("ok"):
                raise RuntimeError(f"{resp.status_code} {body.get('description', 'refused')}"
                                   " (is TELEGRAM_BOT_TOKEN right?)")
            return f"bot @{body['result'].get('username')}"

        checks.append(_try("telegram getMe", telegram))
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
            # Sync on purpose: langchain-openai caches its async client per process, bound to the first loop.
            reply = model.invoke("Reply with the single word: ok")
            return f"{settings.trademate_model} answered {str(reply.content)[:20]!r}"

        checks.append(_try("language model", llm))
    else:
        checks.append(("language model", True, "none configured: the template drafter answers"))
    return checks


def _team_checks(settings: Settings) -> list[Check]:
    """The team file validates, and every Slack channel cards go to exists for the bot."""
    from bot.team import Team, load_team

    team: Team | None = None

    def load() -> str:
        nonlocal team
        from pathlib import Path

        team = load_team(Path(settings.trademate_team))
        managers = sum(r.is_manager for r in team.reps)
        return f"{len(team.reps)} reps ({managers} manager(s)), {len(team.routing)} routing rule(s)"

    if not settings.trademate_team:
        checks: list[Check] = [("team", True, "no TRADEMATE_TEAM: everyone in the channel may decide")]
    else:
        checks = [_try("team file", load)]
    if not settings.slack_enabled:
        return checks
    channels = {settings.slack_channel: "SLACK_CHANNEL"} if settings.slack_channel else {}
    for rep in team.reps if team else ():
        if rep.slack_channel:
            channels.setdefault(rep.slack_channel, f"{rep.name}'s slack_channel")
    for channel, whose in channels.items():
        def info(channel: str = channel) -> str:
            from slack_sdk import WebClient

            resp = WebClient(settings.slack_bot_token, base_url=settings.slack_api_url).conversations_info(
                channel=channel)
            found = resp["channel"]
            member = "" if found.get("is_member", True) else " (bot not a member: invite it)"
            return f"#{found.get('name', channel)} exists{member}"

        checks.append(_try(f"slack channel {channel} ({whose})", info))
    return checks


def webhook_urls(settings: Settings) -> list[tuple[str, str]]:
    base = settings.trademate_public_url.rstrip("/") or "https://YOUR-PUBLIC-URL"
    return [
        ("Twilio: 'A message comes in' (HTTP POST)", f"{base}/twilio/messages"),
        ("Twilio: status callback (set by Trademate on each send)", f"{base}/twilio/status"),
        ("Slack: Interactivity, Event Subscriptions and slash command URL (slack-manifest.yaml)",
         f"{base}/slack/events"),
        ("Telegram: webhook URL (setWebhook, secret_token = TELEGRAM_WEBHOOK_SECRET)", f"{base}/telegram/webhook"),
        ("WhatsApp Cloud API: callback URL (verify token = WHATSAPP_VERIFY_TOKEN)", f"{base}/whatsapp/webhook"),
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
