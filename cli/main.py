"""`herald <command>`: operator commands that talk straight to PostgreSQL, so they work before the API runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

import asyncpg

from core.settings import get_settings
from store import keys
from store.db import database_url
from store.migrate import migrate_url

SCOPES = ("admin", "send", "read")


async def _connect() -> asyncpg.Connection[Any]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database_url(get_settings()))
    return conn


async def keys_create(args: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        row = await keys.issue(conn, args.name, sorted(set(args.scope)), args.rate, args.burst)
    finally:
        await conn.close()
    print(f"created {row['id']} ({', '.join(row['scopes'])}); the key is shown once, store it now:",
          file=sys.stderr)
    print(row["key"])
    return 0


async def keys_list(_: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        rows = await keys.list_keys(conn, None, 10_000)
    finally:
        await conn.close()
    for row in rows:
        state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "live"
        rate = f"{row['rate_per_s']}/s burst {row['burst']}" if row["rate_per_s"] else "default rate"
        print(f"{row['id']}\t{row['name']}\t{','.join(row['scopes'])}\t{rate}\t{state}")
    return 0


async def keys_revoke(args: argparse.Namespace) -> int:
    conn = await _connect()
    try:
        found = await keys.revoke(conn, args.id)
    finally:
        await conn.close()
    if not found:
        print(f"no key '{args.id}'", file=sys.stderr)
        return 1
    print(f"revoked {args.id}", file=sys.stderr)
    return 0


async def migrate(_: argparse.Namespace) -> int:
    applied = await migrate_url(database_url(get_settings()))
    print(json.dumps({"applied": applied}))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="herald", description="Operate Herald. Settings come from the "
                                   "environment (DATABASE_URL, HERALD_*), as for the API and the worker.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(run=migrate)

    key_commands = commands.add_parser("keys", help="API keys: create, list, revoke").add_subparsers(
        dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--scope", action="append", choices=SCOPES, required=True,
                        help="repeat for several: admin (everything), send (notifications and broadcasts), "
                             "read (read only)")
    create.add_argument("--rate", type=float, help="requests per second (default HERALD_KEY_RATE_PER_S)")
    create.add_argument("--burst", type=int, help="burst size (default HERALD_KEY_BURST)")
    create.set_defaults(run=keys_create)
    key_commands.add_parser("list", help="list keys (never the keys themselves)").set_defaults(run=keys_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key at once, in every API process")
    revoke.add_argument("id", help="the key's id, key_...")
    revoke.set_defaults(run=keys_revoke)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = asyncio.run(args.run(args))
    return code


if __name__ == "__main__":
    sys.exit(main())
