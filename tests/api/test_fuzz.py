"""schemathesis against the running API's /openapi.json: over a thousand generated requests, valid and not,
with no 5xx, no undocumented status, and every answer in the schema the document declares."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi.routing import APIRoute

from store.db import create_pool
from store.migrate import migrate_url
from tests.api.conftest import Api, uid
from tests.conftest import free_port, new_database
from tests.processes import api_process
from worker import herald_worker

CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "negative_data_rejection", "ignored_auth"]
MIN_REQUESTS = 1000
CONFIG = Path(__file__).parent / "schemathesis.toml"


@pytest.mark.timeout(600)
async def test_generated_requests_get_documented_answers_and_no_5xx(api: Api, pg_server: Any) -> None:
    """On an API, database and task queue of its own: generated requests retry every dead letter, rename
    users and revoke keys, which must not reach into other tests' data."""
    database_url = await new_database(pg_server, f"fuzz_{uuid.uuid4().hex[:8]}")
    await migrate_url(database_url)
    settings = api.stack.settings.model_copy(update={"database_url": database_url, "task_queue": uid("fuzz")})
    env = {"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": settings.task_queue}
    pool = await create_pool(database_url, min_size=1, max_size=5)
    try:
        async with herald_worker(api.stack.temporal, pool, settings), api_process(env, free_port()) as base:
            await _fuzz(base, api.stack.admin_key)
    finally:
        await pool.close()


async def _fuzz(base: str, admin_key: str) -> None:
    report = Path(tempfile.mkdtemp(prefix="fuzz-")) / "report.ndjson"
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(CONFIG), "run",
        f"{base}/openapi.json", "--header", f"Authorization: Bearer {admin_key}",
        "--checks", ",".join(CHECKS), "--max-examples", "8", "--phases", "examples,coverage,fuzzing",
        "--seed", "20261122", "--workers", "2", "--no-color", "--report", "ndjson",
        "--report-ndjson-path", str(report), "--request-timeout", "20",
        # Pages that stream forever are not request/response operations; /v1/me/... answers only a user's own
        # token, which an admin key is not (tests/api/test_me_feed.py covers it with one).
        "--exclude-path-regex", "/stream$|^/v1/me/",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    out, _ = await proc.communicate()
    text = out.decode()
    (report.parent / "output.txt").write_text(text)
    events = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    requests = sum(1 for e in events for _ in _interactions(e))
    assert proc.returncode == 0, text[-6000:]
    assert requests >= MIN_REQUESTS, f"only {requests} requests were generated\n{text[-3000:]}"


def _interactions(event: dict[str, object]) -> list[object]:
    found: list[object] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "request" in node and "response" in node:
                found.append(node)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(event)
    return found


# -- what schemathesis cannot reach: cursors it cannot forge (it sees only "a string") and the dashboard's forms
# (not in /openapi.json). A seeded generator keeps every run the same.

HOSTILE_TEXT = ["", " ", "x", "²", "٣", "-1", "0", "9" * 40, "1e3", "NaN", "Infinity", "null", "true", "{", "[]",
                "[" * 5000 + "]" * 5000, '{"a": NaN}', '{"name": Infinity}', '{"name": "' + "x" * 70_000 + '"}',
                "a@example.com, b@example.org", "Ada <a@example.com>", "a@example.com\r\nBcc: b@example.org",
                "2026-13-45T99:99", "2026-11-30T10:00", "2026-11-30T10:00:00+05:00", "9999-12-31T23:59",
                "{{ x }", '{{ "x".ljust(2**31) }}', '{{ "%2147483647d" % 1 }}', "{{ 9**9**9**9**9**9**9 }}",
                "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
                "line\r\nbreak", "\u202e", "x" * 100_000, "all", "users", "topic", "in_app", "sim", "email"]
FORM_FIELDS = ["template", "data", "audience", "user_ids", "topic", "channels", "priority", "category", "send_at",
               "key", "name", "subject", "body", "html", "description", "email", "phone", "push_token",
               "webhook_url", "locale", "timezone", "topics", "one", "all", "ids", "next", "note", "version"]


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 7)
    if kind == 0:
        return rng.choice([0, -1, 1, 2**31, 2**63, 2**64, -(2**70), rng.randrange(-10**6, 10**6)])
    if kind == 1:
        return rng.choice([1.5, -0.0, 1e308, 3.0])
    if kind in (2, 3):
        return rng.choice(["", "x", "\u0000", "\ud800", "²", "2026-11-30T10:00:00", "2026-11-30T10:00:00+00:00",
                           "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "2026-02-30T00:00:00Z",
                           "a" * 5000, "notification-x", "1"])
    if kind == 4:
        return None
    if kind == 5:
        return rng.choice([True, False])
    if kind == 6:
        return rng.choice([[], {}])
    if kind == 7:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {str(rng.randrange(9)): _json_value(rng, depth + 1) for _ in range(rng.randrange(3))}


def _forged_cursor(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(["%%%", "", "=", "a" * 10_000, "AAAA", "_-_-", "\u00e9"])
    if kind == 1:
        return base64.urlsafe_b64encode(rng.choice([b"\xff\xfe", b"[", b"[" * 20_000, b"{}", b"1"])).decode()
    values = [_json_value(rng) for _ in range(rng.randrange(4))]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def _form_body(rng: random.Random) -> bytes:
    if rng.randrange(10) == 0:
        return rng.choice([b"%FF%FE=%ED%A0%80", b"&&&==", b"data=%00", b"x" * 200_000])
    pairs = [(rng.choice(FORM_FIELDS), rng.choice(HOSTILE_TEXT)) for _ in range(rng.randrange(1, 10))]
    return urlencode(pairs).encode()


async def _seed(http: httpx.AsyncClient) -> dict[str, str]:
    """Something for the path parameters to name: a template, a user (with a token), a notification."""
    template, user_id = uid("tpl"), uid("usr")
    assert (await http.post("/v1/templates", json={"name": template, "subject": "Hi {{ name }}",
                                                    "body": "Hello {{ name }}"})).status_code == 201
    assert (await http.post("/v1/users", json={"id": user_id, "name": "Ada"})).status_code == 201
    token = (await http.post(f"/v1/users/{user_id}/tokens")).json()["token"]
    sent = await http.post("/v1/notifications", json={"template": template, "user_id": user_id,
                                                      "channels": ["in_app"], "data": {"name": "Ada"}})
    assert sent.status_code == 202, sent.text
    return {"template": template, "user": user_id, "token": token, "notification": sent.json()["id"]}


def _fill(path: str, seeded: dict[str, str], rng: random.Random) -> str:
    def value(match: re.Match[str]) -> str:
        if rng.randrange(4) == 0:
            return quote(rng.choice(HOSTILE_TEXT)[:200], safe="")
        name = match.group(1)
        return {"user_id": seeded["user"], "id": seeded["user"], "name": seeded["template"],
                "notification_id": seeded["notification"]}.get(name, uid("x"))
    return re.sub(r"\{([a-z_]+)\}", value, path)


def _dashboard_posts() -> list[str]:
    from api.web import activity, auth, dlq, inbox, schedules, send, template_pages, users
    paths = []
    for module in (activity, auth, dlq, inbox, schedules, send, template_pages, users):
        for route in module.router.routes:
            if isinstance(route, APIRoute) and "POST" in (route.methods or set()):
                paths.append(route.path)
    return sorted(paths)


@pytest.mark.timeout(600)
async def test_forged_cursors_and_dashboard_forms_never_answer_5xx(api: Api, pg_server: Any) -> None:
    """On an API process and database of their own: every list's cursor forged (right and wrong widths, wrong
    types, values no column holds), the dashboard's pages given hostile query values, and every dashboard form
    posted hostile values (bad numbers and times, deep or non-finite JSON, address lists, template bombs)."""
    database_url = await new_database(pg_server, f"fuzzforms_{uuid.uuid4().hex[:8]}")
    await migrate_url(database_url)
    settings = api.stack.settings.model_copy(update={"database_url": database_url, "task_queue": uid("fuzzforms")})
    env = {"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": settings.task_queue}
    pool = await create_pool(database_url, min_size=1, max_size=5)
    try:
        answers = await _fuzz_pages(api, env, pool, settings)
    finally:
        await pool.close()
    failures = sorted({what for what, status in answers if status >= 500})
    assert not failures, failures
    assert len(answers) >= 1000


async def _fuzz_pages(api: Api, env: dict[str, str], pool: Any, settings: Any) -> list[tuple[str, int]]:
    rng = random.Random(20261130)
    answers: list[tuple[str, int]] = []
    async with herald_worker(api.stack.temporal, pool, settings), api_process(env, free_port()) as base, \
            httpx.AsyncClient(base_url=base, timeout=30, headers=api.h) as http:
        seeded = await _seed(http)
        user_auth = {"Authorization": f"Bearer {seeded['token']}"}
        schema = (await http.get("/openapi.json")).json()
        lists = [path for path, ops in schema["paths"].items()
                 if any(p["name"] == "cursor" for p in ops.get("get", {}).get("parameters", []))]
        assert len(lists) >= 8, lists
        for _ in range(40):
            for path in lists:
                r = await http.get(_fill(path, seeded, rng), params={"cursor": _forged_cursor(rng)})
                answers.append((f"GET {path}", r.status_code))
        for _ in range(60):
            cursor = _forged_cursor(rng)
            for page, headers in (("/ui/notifications", api.h), ("/ui/inbox", user_auth)):
                r = await http.get(page, params={"cursor": cursor}, headers=headers)
                answers.append((f"GET {page}", r.status_code))
            r = await http.get("/ui/dlq", params={"after": rng.choice(HOSTILE_TEXT)[:100]})
            answers.append(("GET /ui/dlq", r.status_code))
            r = await http.get(f"/ui/templates/{seeded['template']}", params={"version": rng.choice(HOSTILE_TEXT)[:50]})
            answers.append(("GET /ui/templates/{name}", r.status_code))
        posts = _dashboard_posts()
        assert len(posts) >= 15, posts
        for _ in range(25):
            for path in posts:
                headers = {**(user_auth if path.startswith("/ui/inbox") else api.h),
                           "Content-Type": "application/x-www-form-urlencoded"}
                r = await http.post(_fill(path, seeded, rng), content=_form_body(rng), headers=headers)
                answers.append((f"POST {path}", r.status_code))
    return answers
