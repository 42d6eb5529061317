"""`herald <command>`: one command line for operators. `herald <command> --help` explains each."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Sequence

from cli import keys, remote, run, suppressions, templates_as_code

SCOPES = ("admin", "send", "read")
CHANNELS = ("email", "sms", "push", "webhook", "in_app", "sim")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="herald", description="Operate Herald. Settings come from the "
                                   "environment (DATABASE_URL, TEMPORAL_ADDRESS, HERALD_*), as for the API and "
                                   "the worker.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="one worker process").set_defaults(run=run.worker)
    commands.add_parser("api", help="the API process (uvicorn), on HERALD_API_HOST:HERALD_API_PORT"
                        ).set_defaults(run=run.api)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(run=keys.migrate)

    key_commands = commands.add_parser("keys", help="API keys: create, list, revoke (straight in PostgreSQL)"
                                       ).add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--scope", action="append", choices=SCOPES, required=True,
                        help="repeat for several: admin (everything), send (notifications and broadcasts), "
                             "read (read only)")
    create.add_argument("--rate", type=float, help="requests per second (default HERALD_KEY_RATE_PER_S)")
    create.add_argument("--burst", type=int, help="burst size (default HERALD_KEY_BURST)")
    create.set_defaults(run=keys.create)
    key_commands.add_parser("list", help="list keys (never the keys themselves)").set_defaults(run=keys.list_all)
    revoke = key_commands.add_parser("revoke", help="revoke a key at once, in every API process")
    revoke.add_argument("id", help="the key's id, key_...")
    revoke.set_defaults(run=keys.revoke)

    dlq = commands.add_parser("dlq", help="the dead-letter queue, through the API (HERALD_API_URL)"
                              ).add_subparsers(dest="dlq_command", required=True)
    listing = dlq.add_parser("list", help="parked deliveries: id, channel, attempts, when, error")
    listing.add_argument("--channel", choices=CHANNELS)
    listing.set_defaults(run=remote.dlq_list)
    retry = dlq.add_parser("retry", help="run another round of attempts for some or all")
    retry.add_argument("ids", nargs="*", help="notification ids")
    retry.add_argument("--all", action="store_true", help="every open dead letter")
    retry.set_defaults(run=remote.dlq_retry)
    discard = dlq.add_parser("discard", help="give up on them: they end as discarded")
    discard.add_argument("ids", nargs="+", help="notification ids")
    discard.set_defaults(run=remote.dlq_discard)

    send = commands.add_parser("send", help="send a quick test notification through the API")
    send.add_argument("--template", required=True)
    send.add_argument("--user", help="a user id")
    send.add_argument("--to", action="append", metavar="CHANNEL:ADDRESS", help="e.g. sim:ok, email:a@b.c")
    send.add_argument("--channel", action="append", choices=CHANNELS,
                      help="default: the --to channels, else in_app")
    send.add_argument("--data", default="{}", help="template data as JSON")
    send.add_argument("--priority", default="transactional", choices=("otp", "transactional", "marketing"))
    send.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                      help="follow the status until it is final (exit 0 only if delivered)")
    send.set_defaults(run=remote.send)

    suppression = commands.add_parser("suppressions", help="addresses Herald never sends to, through the API "
                                      "(HERALD_API_URL)").add_subparsers(dest="suppressions_command", required=True)
    listed = suppression.add_parser("list", help="channel, address, source, when, reason")
    listed.add_argument("--channel", choices=CHANNELS)
    listed.add_argument("--address", help="any spelling: it is compared normalized")
    listed.set_defaults(run=suppressions.list_all)
    added = suppression.add_parser("add", help="stop sending to an address on a channel, whatever the priority")
    added.add_argument("channel", choices=CHANNELS)
    added.add_argument("address", help="stored normalized: emails lowercased, phone numbers in E.164")
    added.add_argument("--reason", help="why (default: manual)")
    added.set_defaults(run=suppressions.add)
    removed = suppression.add_parser("remove", help="send to the address again")
    removed.add_argument("channel", choices=CHANNELS)
    removed.add_argument("address")
    removed.set_defaults(run=suppressions.remove)

    template_commands = commands.add_parser("templates", help="templates, translations and layouts as files, "
                                            "through the API").add_subparsers(dest="templates_command",
                                                                              required=True)
    pull = template_commands.add_parser("pull", help="write every template and layout into DIR")
    pull.add_argument("dir", metavar="DIR")
    pull.set_defaults(run=templates_as_code.pull)
    push = template_commands.add_parser("push", help="save what differs in DIR as new versions")
    push.add_argument("dir", metavar="DIR")
    how = push.add_mutually_exclusive_group()
    how.add_argument("--dry-run", action="store_true", help="print the unified diff, change nothing")
    how.add_argument("--check", action="store_true", help="exit 1 when the server differs from DIR")
    push.set_defaults(run=templates_as_code.push)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result = args.run(args)
    code: int = asyncio.run(result) if inspect.iscoroutine(result) else result
    return code


if __name__ == "__main__":
    sys.exit(main())
