"""`herald suppressions list|add|remove`: the suppression list, through the REST API (HERALD_API_URL)."""

from __future__ import annotations

import argparse
from urllib.parse import quote

from cli.remote import _answer as answer  # one reading of error bodies for every remote command
from cli.remote import client, items


def list_all(args: argparse.Namespace) -> int:
    filters = {name: getattr(args, name) for name in ("channel", "address") if getattr(args, name)}
    with client() as http:
        for item in items(http, "/v1/suppressions", filters):
            print(f"{item['channel']}\t{item['address']}\t{item['source']}\t{item['created_at']}\t{item['reason']}")
    return 0


def add(args: argparse.Namespace) -> int:
    body = {"channel": args.channel, "address": args.address, **({"reason": args.reason} if args.reason else {})}
    with client() as http:
        added = answer(http.post("/v1/suppressions", json=body))
    print(f"{added['channel']}\t{added['address']}\tsuppressed ({added['reason']})")
    return 0


def remove(args: argparse.Namespace) -> int:
    with client() as http:
        answer(http.delete(f"/v1/suppressions/{quote(args.channel, safe='')}/{quote(args.address, safe='')}"))
    print(f"{args.channel}\t{args.address}\tno longer suppressed")
    return 0
