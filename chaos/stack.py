"""The stack the reliability suite breaks: PostgreSQL (pgserver), the Temporal dev server with file persistence,
two workers and the API as child processes, and the counting receiver, each of which can be killed, stopped and
started again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.stack import free_port
from chaos.receiver import CountingReceiver
from core.secrets import new_admin_key, new_webhook_secret
from core.temporal import ensure_search_attributes
from devstack.temporal_server import die_with_parent, start_dev_server, wait_until_serving
from store.migrate import migrate_url

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ChaosStack:
    work: Path
    pg: Any
    db_url: str
    temporal_port: int
    api_port: int
    env: dict[str, str]
    admin_key: str
    receiver: CountingReceiver
    client: Client | None = None
    temporal: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes] | None] = field(default_factory=lambda: [None, None])
    api: subprocess.Popen[bytes] | None = None
    worker_kills: int = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("ab")
        # A killed suite takes its children with it (die_with_parent): none is left polling Temporal.
        return subprocess.Popen(args, env=env or self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_parent)

    # -- Temporal --
    async def start_temporal(self) -> None:
        self.temporal = start_dev_server(self.work / "temporal.db", self.temporal_port, None,
                                         self.work / "temporal.log")
        self.client = await wait_until_serving(f"127.0.0.1:{self.temporal_port}", self.temporal)
        await ensure_search_attributes(self.client, "default")

    async def restart_temporal(self) -> None:
        assert self.temporal is not None
        self.temporal.terminate()
        await asyncio.to_thread(self.temporal.wait, 30)
        await self.start_temporal()

    # -- PostgreSQL --
    async def stop_postgres(self) -> None:
        import pgserver

        await asyncio.to_thread(pgserver.pg_ctl, ["-w", "stop", "-m", "fast"],  # type: ignore[attr-defined]
                                pgdata=self.pg.pgdata, user=self.pg.system_user)

    async def start_postgres(self) -> None:
        def start() -> None:
            with self.pg._lock:
                self.pg.ensure_postgres_running()
        await asyncio.to_thread(start)

    # -- Herald --
    def start_worker(self, index: int) -> None:
        self.workers[index] = self._spawn(f"worker{index}", [sys.executable, str(ROOT / "worker.py")])

    def kill_worker(self, index: int) -> None:
        worker = self.workers[index]
        if worker is not None and worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            self.worker_kills += 1
        self.workers[index] = None

    async def start_api(self, extra_env: dict[str, str] | None = None) -> None:
        self.api = self._spawn("api", [sys.executable, "-m", "uvicorn", "--factory", "api.app:app", "--host",
                                       "127.0.0.1", "--port", str(self.api_port), "--log-level", "warning"],
                               {**self.env, **(extra_env or {})})
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                if self.api.poll() is not None:
                    raise RuntimeError(f"the API exited; see {self.work / 'api.log'}")
                try:
                    if (await http.get(f"{self.api_url}/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the API did not come up")

    def kill_api(self) -> None:
        if self.api is not None and self.api.poll() is None:
            os.kill(self.api.pid, signal.SIGKILL)
            self.api.wait()

    async def close(self) -> None:
        for process in [*self.workers, self.api, self.temporal]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    await asyncio.to_thread(process.wait, 20)
                except subprocess.TimeoutExpired:
                    process.kill()
        await self.receiver.stop()
        self.pg.cleanup()


async def start_stack(extra_env: dict[str, str] | None = None) -> ChaosStack:
    import pgserver

    work = Path(tempfile.mkdtemp(prefix="hchaos-", dir="/tmp"))
    pg = pgserver.get_server(work / "pg", cleanup_mode="delete")  # type: ignore[attr-defined]
    db_url = str(pg.get_uri())
    await migrate_url(db_url)
    receiver = CountingReceiver(free_port(), free_port())
    await receiver.start()
    admin_key = new_admin_key()
    temporal_port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
           "HERALD_ADMIN_KEY": admin_key, "HERALD_DATA_DIR": str(work), "HERALD_TASK_QUEUE": "chaos",
           "HERALD_WEBHOOK_SECRET": new_webhook_secret(), "HERALD_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
           "HERALD_SMTP_HOST": "127.0.0.1", "HERALD_SMTP_PORT": str(receiver.smtp_port),
           # Many short retries: outages of a minute are ridden out, not dead-lettered.
           "HERALD_MAX_ATTEMPTS": "60", "HERALD_RETRY_INITIAL_S": "0.2", "HERALD_RETRY_BACKOFF": "2",
           "HERALD_RETRY_MAX_S": "3", "HERALD_DELIVERY_TIMEOUT_S": "10", "HERALD_RECONCILE_EVERY_S": "5",
           "HERALD_LOG_LEVEL": "warning", "HERALD_SIM_ENABLED": "true", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    stack = ChaosStack(work=work, pg=pg, db_url=db_url, temporal_port=temporal_port, api_port=free_port(), env=env,
                       admin_key=admin_key, receiver=receiver)
    await stack.start_temporal()
    stack.start_worker(0)
    stack.start_worker(1)
    await stack.start_api()
    return stack
