"""`trademate`: the command line. The only module that exits the process."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import Settings, check, load_settings
from bot.errors import TrademateError

Command = Callable[[argparse.Namespace, Settings], int]


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot.app import build_runtime
    from bot.web import create_web_app

    check(settings, serving=True)
    runtime = build_runtime(settings)
    app = create_web_app(runtime)
    print(f"Trademate listening on http://{args.host}:{args.port} (public URL: "
          f"{settings.trademate_public_url or 'not set'})")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower())
    finally:
        runtime.close()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot import demo

    overrides = settings.model_copy(update={"trademate_db": args.db})
    check(overrides, serving=False)
    return demo.main(overrides, auto=args.auto)


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from bot import doctor

    return doctor.main(settings)


def _digest(args: argparse.Namespace, settings: Settings) -> int:
    from bot import digest_cli

    return digest_cli.main(settings, rep_name=args.rep, dry_run=args.dry_run, chart=args.chart)


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from bot import audit

    print(audit.report(settings, args.since))
    return 0


def _bgcheck(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import shlex

    from bot.background import BackgroundChecker, parse_query
    from bot.background_report import render
    from bot.ports import SystemClock
    from bot.store import Store

    check(settings, serving=False)
    words = list(args.target) + (["--refresh"] if args.refresh else [])
    words += ["--company", args.company] if args.company else []
    words += ["--country", args.country] if args.country else []
    query = parse_query(shlex.join(words))  # the same reading, and the same errors, as /bgcheck in Slack
    store = Store(settings.trademate_db)
    try:
        report = asyncio.run(BackgroundChecker.from_settings(settings).check(store, query, SystemClock().now()))
    finally:
        store.close()
    print(render(report))
    return 0


def _playbooks(args: argparse.Namespace, settings: Settings) -> int:
    from bot.playbooks import PlaybookError, load_playbooks

    directory = Path(args.dir) if args.dir else settings.playbooks_dir
    try:
        found = load_playbooks(directory)
    except PlaybookError as exc:
        print(exc, file=sys.stderr)
        return 1
    for playbook in found.playbooks:
        print(f"ok  {playbook.path.name}: {playbook.name} ({playbook.trigger.type}, {len(playbook.steps)} step(s))")
    return 0


COMMANDS: dict[str, tuple[str, Command]] = {
    "run": ("Serve the webhooks (Twilio, Slack, Telegram) and process buyer messages.", _run),
    "demo": ("Run the whole loop in the terminal with simulated buyers: no keys, no servers.", _demo),
    "doctor": ("Check settings and reach every configured platform; print the webhook URLs.", _doctor),
    "digest": ("Print a rep's daily digest (--dry-run) or send it to them now.", _digest),
    "audit": ("Print every decision on a draft (who, where, when, what was sent, what was edited).", _audit),
    "bgcheck": ("Background check on a buyer (domain, email, phone, company or known buyer).", _bgcheck),
    "playbooks": ("Validate the follow-up playbooks: 'trademate playbooks check' (exit 1 on errors).", _playbooks),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trademate", description="An AI teammate for export sales reps.")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == "run":
            p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
            p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
        if name == "demo":
            p.add_argument("--auto", action="store_true", help="play both sides without input (sends every draft)")
            p.add_argument("--db", default=":memory:", help="keep the demo's data in this SQLite file")
        if name == "digest":
            p.add_argument("--rep", help="the rep's name in the team file (default: the only rep)")
            p.add_argument("--dry-run", action="store_true", help="print it here instead of sending it")
            p.add_argument("--chart", metavar="FILE", help="with --dry-run, also write the chart PNG to FILE")
        if name == "audit":
            p.add_argument("--since", default="7d", help="24h, 7d, 30d, ... or an ISO date (default 7d)")
        if name == "bgcheck":
            p.add_argument("target", nargs="+", help="domain, email, phone, company name, buyer name or #conversation")
            p.add_argument("--refresh", action="store_true", help="ignore the cached report and check again")
            p.add_argument("--company", help="the company the buyer claims to be")
            p.add_argument("--country", help="the country the buyer claims (two-letter code)")
        if name == "playbooks":
            p.add_argument("action", choices=["check"], help="check: validate every playbook file")
            p.add_argument("--dir", default="", help="playbook directory (default TRADEMATE_PLAYBOOKS or bundled)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        return COMMANDS[args.command][1](args, settings)
    except TrademateError as exc:
        print(f"trademate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
