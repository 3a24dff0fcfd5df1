"""`supportbot staff password | token | revoke | link`: staff credentials, kept in the store.

Who is staff (and in which role) is the roster's; these only give a roster member a way to prove
it. Secrets are read from standard input (never the command line, which other users of the
machine can see) and shown once.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bot.config import RosterEntry, Settings
from bot.credentials import TOKEN_PREFIX, WeakPassword, digest, hash_password, issue_sign_in_link, new_secret
from bot.store.accounts import AccountStore

SettingsLoader = Callable[[argparse.Namespace], Settings]


def register(commands: Any, load: SettingsLoader) -> None:
    staff = commands.add_parser("staff", help="staff sign-in: passwords, access tokens, one-time links")
    actions = staff.add_subparsers(dest="staff_command", required=True)

    def add(name: str, help_text: str, job: Callable[[argparse.Namespace, Settings, AccountStore], Awaitable[int]]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        parser.add_argument("--config", help="TOML settings file (default: ./supportbot.toml if present)")
        parser.add_argument("--store", help="sqlite:///path/to/file.db")
        parser.set_defaults(func=lambda args: _with_store(args, load(args), job))
        return parser

    add("password", "set a password (read from standard input)", _password).add_argument("id", help="roster id")
    token = add("token", "create a personal access token for scripts (printed once)", _token)
    token.add_argument("id", help="roster id")
    token.add_argument("--name", default="", help="a label, e.g. 'reporting script'")
    add("revoke", "list access tokens, or revoke one by its number", _revoke).add_argument("token", nargs="?", type=int)
    add("link", "print a one-time sign-in link", _link).add_argument("id", help="roster id")


def _with_store(args: argparse.Namespace, settings: Settings, job: Callable[[argparse.Namespace, Settings, AccountStore], Awaitable[int]]) -> int:
    from bot.store.sqlite import SQLiteStore

    async def run() -> int:
        store = SQLiteStore.from_url(settings.server.store)
        await store.open()
        try:
            return await job(args, settings, store.accounts)
        finally:
            await store.close()

    return asyncio.run(run())


def _member(settings: Settings, staff_id: str) -> RosterEntry | None:
    entry = settings.staff(staff_id)
    if entry is None:
        print(f"supportbot staff: {staff_id!r} is not on the roster (add them to [[roster]] first)", file=sys.stderr)
    return entry


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != first:
            raise WeakPassword("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _password(args: argparse.Namespace, settings: Settings, accounts: AccountStore) -> int:
    entry = _member(settings, args.id)
    if entry is None:
        return 2
    try:
        hashed = hash_password(_read_password())
    except WeakPassword as exc:
        print(f"supportbot staff password: {exc}", file=sys.stderr)
        return 2
    await accounts.set_password(entry.id, hashed, now=time.time())
    print(f"Password set for {entry.name} ({entry.role.value}); their browser sessions were signed out.")
    return 0


async def _token(args: argparse.Namespace, settings: Settings, accounts: AccountStore) -> int:
    entry = _member(settings, args.id)
    if entry is None:
        return 2
    secret = new_secret(TOKEN_PREFIX)
    number = await accounts.add_token(entry.id, name=args.name[:80], token_hash=digest(secret), now=time.time())
    print(secret)
    print(f"Token {number} for {entry.name} ({entry.role.value}). It is shown only now: keep it secret. "
          f"Send it as 'Authorization: Bearer <token>'; revoke it with: supportbot staff revoke {number}", file=sys.stderr)
    return 0


async def _revoke(args: argparse.Namespace, settings: Settings, accounts: AccountStore) -> int:
    if args.token is None:
        for token in await accounts.tokens():
            state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else f"last used {_when(token.last_used_at)}"
            print(f"{token.id:>4}  {token.staff_id:<16} {token.name or '-':<24} created {_when(token.created_at)}  {state}")
        return 0
    if not await accounts.revoke_token(args.token, now=time.time()):
        print(f"supportbot staff revoke: no live token {args.token}", file=sys.stderr)
        return 2
    print(f"Token {args.token} revoked.")
    return 0


async def _link(args: argparse.Namespace, settings: Settings, accounts: AccountStore) -> int:
    entry = _member(settings, args.id)
    if entry is None:
        return 2
    ttl = float(settings.auth.demo_link_ttl)
    secret = await issue_sign_in_link(accounts, entry.id, now=time.time(), ttl=ttl)
    server = settings.server
    base = server.public_url.rstrip("/") or f"http://{server.host}:{server.port}"
    print(f"{base}/login/link?token={secret}")
    print(f"Signs in {entry.name} once, within {int(ttl // 60)} minutes.", file=sys.stderr)
    return 0


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "never"
