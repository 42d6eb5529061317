"""schemathesis against the running API's /openapi.json: over a thousand generated requests, valid and not,
with no 5xx, no undocumented status, and every answer in the schema the document declares."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

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
        "--checks", ",".join(CHECKS), "--max-examples", "20", "--phases", "examples,coverage,fuzzing",
        "--seed", "20261122", "--workers", "2", "--no-color", "--report", "ndjson",
        "--report-ndjson-path", str(report), "--request-timeout", "20",
        # Pages that stream forever are not request/response operations.
        "--exclude-path-regex", "/stream$",
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
