"""`herald dlq` and `herald send`: through the REST API, so they take the same paths (and checks) as any client.

The API is HERALD_API_URL (default: the local `make up` API) and the key HERALD_ADMIN_KEY, else the one
`make up` keeps in $HERALD_DATA_DIR/admin_key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from core.settings import get_settings

FINAL = {"delivered", "dead_lettered", "canceled", "discarded", "skipped"}


def client() -> httpx.Client:
    settings = get_settings()
    base = os.environ.get("HERALD_API_URL") or f"http://{settings.api_host}:{settings.api_port}"
    key = settings.admin_key
    if not key:
        path = settings.data_dir / "admin_key"
        if not path.exists():
            raise SystemExit(f"no key: set HERALD_ADMIN_KEY (or run `make up`, which keeps one in {path})")
        key = path.read_text().strip()
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        raise SystemExit(f"{response.request.method} {response.request.url.path} answered "
                         f"{response.status_code} {message}")
    return response.json() if response.content else None


def items(http: httpx.Client, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a list, page after page (500 at a time)."""
    params = {**params, "limit": 500}
    while True:
        page = _answer(http.get(path, params=params))
        yield from page["items"]
        if not page["next_cursor"]:
            return
        params["cursor"] = page["next_cursor"]


def dlq_list(args: argparse.Namespace) -> int:
    with client() as http:
        for item in items(http, "/v1/dlq", {"channel": args.channel} if args.channel else {}):
            print(f"{item['notification_id']}\t{item['channel']}\t{item['attempts']} attempts\t"
                  f"{item['dead_lettered_at']}\t{item['error']}")
    return 0


def dlq_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        raise SystemExit("name the notifications to retry, or --all")
    with client() as http:
        answer = _answer(http.post("/v1/dlq/retry", json={"ids": args.ids or None}))
    print(f"retrying {answer['retried']}", file=sys.stderr)
    return 0


def dlq_discard(args: argparse.Namespace) -> int:
    with client() as http:
        for notification_id in args.ids:
            _answer(http.post(f"/v1/dlq/{notification_id}/discard"))
            print(f"discarding {notification_id}", file=sys.stderr)
    return 0


def send(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"template": args.template, "data": json.loads(args.data), "priority": args.priority}
    if args.user:
        body["user_id"] = args.user
    if args.to:
        body["to"] = dict(item.split(":", 1) for item in args.to)
    body["channels"] = args.channel or list(body.get("to", {})) or ["in_app"]
    with client() as http:
        sent = _answer(http.post("/v1/notifications", json=body))
        print(json.dumps(sent))
        if not args.wait:
            return 0
        # Status changes as they happen, until a final one (or the timeout).
        status, deadline = sent["status"], time.monotonic() + args.wait
        print(f"{sent['id']}: {status}", file=sys.stderr)
        while status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.25)
            now = _answer(http.get(f"/v1/notifications/{sent['id']}"))
            if now["status"] != status:
                status = now["status"]
                print(f"{sent['id']}: {status} (attempts {now['attempts']})", file=sys.stderr)
        return 0 if status == "delivered" else 1
