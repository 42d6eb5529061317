"""`make up` as a newcomer meets it: everything starts, a notification is delivered, SIGTERM stops every
process it started, and a second start finds all the data again."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import eventually
from tests.conftest import free_port, new_database

ROOT = Path(__file__).resolve().parents[2]


async def start(data_dir: Path, ports: dict[str, int], **extra: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in (
        "DATABASE_URL", "TEMPORAL_ADDRESS", "HERALD_ADMIN_KEY", "HERALD_SMTP_HOST", "HERALD_SMTP_PORT")}
    env.update(extra)
    env.update(HERALD_DATA_DIR=str(data_dir), HERALD_API_PORT=str(ports["api"]),
               HERALD_TEMPORAL_PORT=str(ports["temporal"]), HERALD_TEMPORAL_UI_PORT=str(ports["ui"]),
               HERALD_WORKER_METRICS_ADDRESS=f"127.0.0.1:{ports['metrics']}")
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "devstack", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def stop(proc: asyncio.subprocess.Process) -> str:
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()[-2000:]
    # postgres runs as its own session (pgserver); everything else was our child: none may survive.
    await asyncio.sleep(0.5)
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]
    return out.decode()


async def ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{base}/ready", timeout=2)).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(240)
async def test_make_up_serves_stops_cleanly_and_keeps_data_across_restarts() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hup-", dir="/tmp"))
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "metrics": free_port()}
    base = f"http://127.0.0.1:{ports['api']}"

    proc = await start(data_dir, ports)
    await eventually(lambda: ready(base), timeout_s=90, what="make up to be ready")
    key = (data_dir / "admin_key").read_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=auth) as http:
        assert (await http.post("/v1/templates", json={"name": "hello", "body": "Hi {{ n }}"})).status_code == 201
        sent = (await http.post("/v1/notifications", json={"to": {"sim": "ok"}, "channels": ["sim"],
                                                           "template": "hello", "data": {"n": 1}})).json()
        parked = (await http.post("/v1/notifications", json={"to": {"sim": "fail"}, "channels": ["sim"],
                                                             "template": "hello", "data": {"n": 2}})).json()

        async def status(nid: str, want: str) -> bool:
            return bool((await http.get(f"/v1/notifications/{nid}")).json()["status"] == want)
        await eventually(lambda: status(sent["id"], "delivered"), what="delivery")
        # With no SMTP relay configured, mail goes to the local catcher and is kept as a file.
        user = {"id": "ada", "name": "Ada", "email": "ada@example.com"}
        assert (await http.post("/v1/users", json=user)).status_code == 201
        mailed = (await http.post("/v1/notifications", json={"user_id": "ada", "channels": ["email"],
                                                             "template": "hello", "data": {"n": 3}})).json()
        await eventually(lambda: status(mailed["id"], "delivered"), what="the email")
        (kept,) = (data_dir / "mail").glob("*.eml")
        assert b"To: ada@example.com" in kept.read_bytes() and b"Hi 3" in kept.read_bytes()
        await eventually(lambda: status(parked["id"], "dead_lettered"), what="dead-lettering")
        worker_metrics = (await http.get(f"http://127.0.0.1:{ports['metrics']}/metrics")).text
        assert 'herald_deliveries_total{' in worker_metrics and "temporal_workflow_completed" in worker_metrics
    out = await stop(proc)
    assert "Admin key" in out and key in out and "caught on 127.0.0.1:1025" in out and f"127.0.0.1:{ports['ui']}" in out
    assert f"Dashboard    {base}/ui  (sign in with the admin key below)" in out and "not built" not in out
    assert f"Gateways     sms, push, chat caught on 127.0.0.1:1026, kept in {data_dir / 'sms'}, " in out

    # Second start, while the metrics port is still held as a killed run's draining worker holds it, longer than
    # the 5 s any other port gets: make up waits for it. Then the same key, the notifications are there, and the
    # parked workflow still answers signals.
    draining = taken_port(ports["metrics"])
    proc = await start(data_dir, ports, HERALD_GRACEFUL_SHUTDOWN_S="6")
    try:
        with draining:
            await asyncio.sleep(8)
            assert proc.returncode is None, "make up gave up on the metrics port while the old worker drained"
        await eventually(lambda: ready(base), timeout_s=90, what="the second make up")
        assert (data_dir / "admin_key").read_text().strip() == key
        async with httpx.AsyncClient(base_url=base, headers=auth) as http:
            assert (await http.get(f"/v1/notifications/{sent['id']}")).json()["status"] == "delivered"
            assert (await http.post(f"/v1/dlq/{parked['id']}/discard")).status_code == 202

            async def discarded() -> bool:
                return bool((await http.get(f"/v1/notifications/{parked['id']}")).json()["status"] == "discarded")
            await eventually(discarded, what="the discard after restart")
    finally:
        await stop(proc)
    pg_pid_file = data_dir / "pg" / "postmaster.pid"
    assert not pg_pid_file.exists(), "the embedded PostgreSQL was left running"


@pytest.mark.timeout(120)
async def test_make_up_uses_external_servers_when_configured(dev_env: WorkflowEnvironment, pg_server: Any) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hup-", dir="/tmp"))
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "metrics": free_port()}
    base = f"http://127.0.0.1:{ports['api']}"
    url = await new_database(pg_server, f"ext_{uuid.uuid4().hex[:8]}")
    proc = await start(data_dir, ports, DATABASE_URL=url, HERALD_ADMIN_KEY="hk_external_test_key",
                       TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
                       HERALD_TASK_QUEUE=f"ext-{uuid.uuid4().hex[:8]}")
    try:
        await eventually(lambda: ready(base), timeout_s=60, what="make up against external servers")
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer hk_external_test_key"}) as http:
            assert (await http.post("/v1/templates", json={"name": "x", "body": "x"})).status_code == 201
        # Migrations ran on the external database; no embedded server was started.
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM template WHERE name = 'x'") == 1
        finally:
            await conn.close()
        assert not (data_dir / "pg").exists() and not (data_dir / "temporal.db").exists()
        assert not (data_dir / "admin_key").exists()
    finally:
        await stop(proc)


async def refused_for_a_taken_port(data_dir: Path, ports: dict[str, int], **extra: str) -> list[str]:
    """Starts make up and returns its output lines; it must exit non-zero on its own, before starting anything."""
    proc = await start(data_dir, ports, **extra)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError as still_running:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        raise AssertionError("make up kept running although a port it needs is taken: "
                             + out.decode()[-2000:]) from still_running
    assert proc.returncode not in (0, None), out.decode()[-2000:]
    assert not (data_dir / "pg").exists() and not (data_dir / "temporal.db").exists()
    return out.decode().splitlines()


def taken_port(port: int = 0) -> socket.socket:
    """A listening socket on `port` (0: any free one)."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past a previous run's connections in TIME_WAIT
    holder.bind(("127.0.0.1", port))
    holder.listen()
    return holder


@pytest.mark.timeout(150)
async def test_a_taken_worker_metrics_port_ends_make_up_with_one_line() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hup-", dir="/tmp"))
    with taken_port() as holder:
        ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "metrics": holder.getsockname()[1]}
        lines = await refused_for_a_taken_port(data_dir, ports, HERALD_MAIL_CATCHER_PORT=str(free_port()),
                                               HERALD_GRACEFUL_SHUTDOWN_S="0")
    assert lines == [f"make up: port {ports['metrics']} on 127.0.0.1 (worker metrics) is taken by another program; "
                     "set HERALD_WORKER_METRICS_ADDRESS to move it"]


@pytest.mark.timeout(150)
async def test_a_taken_mail_catcher_port_ends_make_up_with_one_line() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hup-", dir="/tmp"))
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "metrics": free_port()}
    with taken_port() as holder:
        port = holder.getsockname()[1]
        lines = await refused_for_a_taken_port(data_dir, ports, HERALD_MAIL_CATCHER_PORT=str(port))
    assert lines == [f"make up: port {port} on 127.0.0.1 (mail catcher) is taken by another program; "
                     "set HERALD_MAIL_CATCHER_PORT to move it"]
