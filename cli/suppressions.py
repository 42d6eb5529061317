"""`herald suppressions list|add|remove`: the suppression list, through the REST API (HERALD_API_URL)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from cli.remote import _answer as answer  # one reading of error bodies for every remote command
from cli.remote import client


def list_all(args: argparse.Namespace) -> int:
    with client() as http:
        params: dict[str, Any] = {"limit": 500}
        for name in ("channel", "address"):
            if getattr(args, name):
                params[name] = getattr(args, name)
        while True:
            page = answer(http.get("/v1/suppressions", params=params))
            for item in page["items"]:
                print(f"{item['channel']}\t{item['address']}\t{item['source']}\t{item['created_at']}\t"
                      f"{item['reason']}")
            if not page["next_cursor"]:
                return 0
            params["cursor"] = page["next_cursor"]


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
