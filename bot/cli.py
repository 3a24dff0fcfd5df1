"""`supportbot serve` and friends."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from bot.cli_staff import register as register_staff_commands
from bot.config import ConfigError, Settings
from bot.store.base import StoreError

_STANDARD_RECORD_KEYS = set(vars(logging.makeLogRecord({})))


class KeyValueFormatter(logging.Formatter):
    """Structured one-line logs: time, level, logger, message and any `extra=` fields as JSON."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_KEYS and k not in ("message", "asctime")})
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        return json.dumps(fields, default=str)


def _settings(args: argparse.Namespace) -> Settings:
    from adapters.settings import load_settings  # the engine's settings and every adapter's section

    path = Path(args.config) if args.config else (Path("supportbot.toml") if Path("supportbot.toml").exists() else None)
    overrides: dict[str, Any] = {}
    for key in ("host", "port", "store"):  # only those the subcommand has
        value = getattr(args, key, None)
        if value is not None:
            overrides[f"server.{key}"] = value
    return load_settings(path, overrides=overrides)


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from aiohttp import web


    from adapters.auth.pages import SIGN_IN_LINKS
    from adapters.server import create_app

    app = create_app(settings)
    base = f"http://{settings.server.host}:{settings.server.port}"

    def announce(_: str) -> None:  # once it listens (run_app's own banner, replaced)
        print(f"supportbot is running on the {settings.server.store} store", flush=True)
        print(f"  customer chat:  {base}/", flush=True)
        print(f"  agent console:  {base}/agent", flush=True)
        print(f"  API document:   {base}/api/openapi.json", flush=True)
        links = app[SIGN_IN_LINKS]
        if links:
            minutes = int(settings.auth.demo_link_ttl // 60)
            print(f"  one-time sign-in links (demo, loopback only; each works once, for {minutes} minutes):", flush=True)
            for entry, url in links:
                print(f"    {entry.name} ({entry.role.value}): {url}", flush=True)

    try:
        web.run_app(app, host=settings.server.host, port=settings.server.port, print=announce, access_log=None)
    except OSError as exc:  # the port, or the store's folder: what a newcomer can fix, without a traceback
        if exc.errno == errno.EADDRINUSE:
            print(f"supportbot: cannot listen on {settings.server.host}:{settings.server.port}: the port is in use "
                  "(is supportbot already running? choose another with --port)", file=sys.stderr)
        else:
            print(f"supportbot: cannot start: {exc.strerror or exc} ({exc.filename or settings.server.store})", file=sys.stderr)
        return 2
    except (StoreError, sqlite3.Error) as exc:
        print(f"supportbot: cannot open the store {settings.server.store}: {exc}", file=sys.stderr)
        return 2
    return 0


def report(args: argparse.Namespace) -> int:
    """Prints the managers' numbers from the store as JSON; exit code 2 when there is no readable store."""
    import asyncio

    from bot import report as numbers
    from bot.store.sqlite import existing_store

    settings = _settings(args)

    async def gather() -> dict[str, Any]:
        async with existing_store(settings.server.store) as store:
            return numbers.build(
                await store.all_cases(), await store.records("surveys"), await store.records("offers"),
                timezone=settings.business_hours.timezone,
            )

    try:
        result = asyncio.run(gather())
    except (StoreError, sqlite3.Error) as exc:
        print(f"supportbot report: cannot read the store: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supportbot", description="Customer-support chatbot and agent assist.")
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the service")
    run.add_argument("--config", help="TOML settings file (default: ./supportbot.toml if present)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--store", help="sqlite:///path/to/file.db")
    run.set_defaults(func=serve)
    if "kb" in (argv if argv is not None else sys.argv[1:]):
        from knowledge.commands import register as register_kb_commands  # spaCy: only when asked for

        from adapters.settings import load_settings

        register_kb_commands(commands, load_settings)
    else:
        commands.add_parser("kb", help="help-article tools: supportbot kb eval | check | report (see supportbot kb --help)")
    numbers = commands.add_parser("report", help="managers' numbers (volume, FCR, CSAT, articles, consults) as JSON")
    numbers.add_argument("--config", help="TOML settings file (default: ./supportbot.toml if present)")
    numbers.add_argument("--store", help="sqlite:///path/to/file.db")
    numbers.set_defaults(func=report)
    register_staff_commands(commands, _settings)
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    for noisy in ("spacy", "bm25s"):  # libraries that log their own start-up chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)
        logging.getLogger(noisy).propagate = False
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # a line per Web API retry-handler lookup at INFO
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"supportbot: configuration error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
