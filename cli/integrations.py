"""`herald integrations`: the providers configured as data, straight against PostgreSQL through the
integrations service (the process needs HERALD_INTEGRATION_KEYS, or the installation's HERALD_DATA_DIR)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from core.errors import Problem
from core.settings import Settings, get_settings
from store.db import create_pool, database_url, require_database

if TYPE_CHECKING:
    from services.integrations import IntegrationView

# services.integrations is imported by the commands that use it: it loads every vendor's adapter, a second of
# startup that every other `herald` command would pay.


def _config(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise SystemExit("herald: --config must be a JSON object")
    return value


async def _with_pool(work: Callable[[asyncpg.Pool, Settings], Awaitable[int]]) -> int:
    settings = get_settings()
    require_database(settings)
    pool = await create_pool(database_url(settings), min_size=1, max_size=2)
    try:
        return await work(pool, settings)
    except Problem as exc:
        fields = ", ".join(d["field"] for d in exc.details or [] if isinstance(d, dict) and "field" in d)
        print(f"herald: {exc.message}" + (f" [{fields}]" if fields else ""), file=sys.stderr)
        return 1
    finally:
        await pool.close()


def _line(view: IntegrationView) -> str:
    state = "active" if view.active else "inactive"
    rate = f"{view.rate_per_s:g}/s" if view.rate_per_s else "-"
    owner = "env" if view.read_only else "stored"
    return (f"{view.id}\t{view.channel}\t{view.provider}\t{view.priority}\t{rate}\t{state}\t{owner}\t"
            f"{json.dumps(view.config, sort_keys=True)}")


async def list_all(_: argparse.Namespace) -> int:
    async def work(pool: asyncpg.Pool, settings: Settings) -> int:
        from services import integrations

        for view in await integrations.list_all(pool, settings):
            print(_line(view))
        return 0
    return await _with_pool(work)


async def add(args: argparse.Namespace) -> int:
    async def work(pool: asyncpg.Pool, settings: Settings) -> int:
        from services import integrations

        view = await integrations.create(
            pool, settings, integration_id=args.id, channel=args.channel, provider=args.provider,
            config=_config(args.config) or {}, priority=args.priority, rate_per_s=args.rate,
            active=not args.inactive)
        print(_line(view))
        return 0
    return await _with_pool(work)


async def edit(args: argparse.Namespace) -> int:
    async def work(pool: asyncpg.Pool, settings: Settings) -> int:
        from services import integrations
        from services.integrations import Change

        change = Change(config=_config(args.config), priority=args.priority, rate_per_s=args.rate,
                        clear_rate=args.no_rate, active=args.active)
        print(_line(await integrations.update(pool, settings, args.id, change)))
        return 0
    return await _with_pool(work)


async def remove(args: argparse.Namespace) -> int:
    async def work(pool: asyncpg.Pool, settings: Settings) -> int:
        from services import integrations

        await integrations.delete(pool, settings, args.id)
        print(f"removed {args.id}", file=sys.stderr)
        return 0
    return await _with_pool(work)


async def test(args: argparse.Namespace) -> int:
    async def work(pool: asyncpg.Pool, settings: Settings) -> int:
        from services import integrations

        result = await integrations.test(pool, settings, args.id, args.to)
        print(json.dumps({"ok": result.ok, "provider_message_id": result.provider_message_id,
                          "error": result.error}))
        return 0 if result.ok else 1
    return await _with_pool(work)


async def reseal(_: argparse.Namespace) -> int:
    async def work(pool: asyncpg.Pool, settings: Settings) -> int:
        from services import integrations

        print(json.dumps({"resealed": await integrations.reseal(pool, settings)}))
        return 0
    return await _with_pool(work)


def add_commands(commands: Any) -> None:
    """`herald integrations ...` on the root parser's subcommands."""
    group = commands.add_parser("integrations", help="providers configured as data (straight in PostgreSQL)"
                                ).add_subparsers(dest="integrations_command", required=True)
    group.add_parser("list", help="every integration, secrets masked; env ones are read-only").set_defaults(
        run=list_all)
    new = group.add_parser("add", help="add an integration")
    new.add_argument("id")
    new.add_argument("--channel", required=True)
    new.add_argument("--provider", required=True, help="sendgrid, twilio, slack, ... (docs/providers.md)")
    new.add_argument("--config", required=True, help="the provider's config as a JSON object")
    new.add_argument("--priority", type=int, default=1)
    new.add_argument("--rate", type=float, help="sends per second, across all workers")
    new.add_argument("--inactive", action="store_true")
    new.set_defaults(run=add)
    change = group.add_parser("edit", help="change an integration; config fields left out keep their values")
    change.add_argument("id")
    change.add_argument("--config", help="fields to change, as a JSON object (null removes one)")
    change.add_argument("--priority", type=int)
    change.add_argument("--rate", type=float)
    change.add_argument("--no-rate", action="store_true", help="remove the rate limit")
    switch = change.add_mutually_exclusive_group()
    switch.add_argument("--active", dest="active", action="store_const", const=True)
    switch.add_argument("--inactive", dest="active", action="store_const", const=False)
    change.set_defaults(run=edit)
    gone = group.add_parser("remove", help="delete an integration")
    gone.add_argument("id")
    gone.set_defaults(run=remove)
    trial = group.add_parser("test", help="send one test message through it")
    trial.add_argument("id")
    trial.add_argument("--to", required=True, help="an address of the integration's channel")
    trial.set_defaults(run=test)
    group.add_parser("reseal", help="seal every secret again under the first HERALD_INTEGRATION_KEYS key"
                     ).set_defaults(run=reseal)
