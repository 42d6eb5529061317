"""The stack a benchmark runs on: embedded PostgreSQL, the Temporal dev server, Herald's workers and API as
child processes, all on loopback, all stopped (and their data deleted) at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from temporalio.client import Client

from core.secrets import new_admin_key, new_webhook_secret
from core.temporal import ensure_search_attributes
from devstack.temporal_server import start_dev_server, wait_until_serving
from store.db import create_pool
from store.migrate import migrate_url

ROOT = Path(__file__).resolve().parent.parent
# How much lower the drain's CPU priority is in the parts that measure accept latency beside it: the deployment
# docs/operations.md recommends where the API shares cores with workers and Temporal (HERALD_WORKER_NICE).
DRAIN_NICE = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Stack:
    """One embedded Herald. `workers` and `api` are child processes whose memory the benchmark samples."""

    work: Path
    db_url: str
    temporal_address: str
    admin_key: str
    env: dict[str, str]
    client: Client
    api_url: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api: subprocess.Popen[bytes] | None = None
    # An API process of its own for the vendors' feedback callbacks (`start_feedback_api`), as a deployment can
    # route `/v1/feedback` apart.
    feedback_api: subprocess.Popen[bytes] | None = None
    feedback_api_url: str = ""
    _pg: Any = None
    _temporal: subprocess.Popen[bytes] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = open(self.work / f"worker-{len(self.workers)}.log", "wb")
        worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=self.env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            stop_process(worker)
        self.workers.clear()

    async def start_api(self, extra_env: dict[str, str] | None = None) -> None:
        self.api, self.api_url = await self._serve_api("api.log", extra_env)

    async def start_feedback_api(self, nice: int = 0, extra_env: dict[str, str] | None = None) -> None:
        """`nice`: how far below the accepting API it runs, as a deployment gives the callbacks' processes fewer
        CPU shares than the accepting ones."""
        self.feedback_api, self.feedback_api_url = await self._serve_api("feedback-api.log", extra_env)
        if nice:
            self._renice([self.feedback_api.pid], min(os.getpriority(os.PRIO_PROCESS, 0) + nice, 19))

    def stop_feedback_api(self) -> None:
        if self.feedback_api is not None:
            stop_process(self.feedback_api)
            self.feedback_api, self.feedback_api_url = None, ""

    async def _serve_api(self, log_name: str,
                         extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        log = (self.work / log_name).open("ab")
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "api.app:app", "--host", "127.0.0.1", "--port",
             str(port), "--log-level", "warning", "--no-access-log"],
            env={**self.env, **(extra_env or {})}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url) as http:
            # Two minutes: on a machine shared with other work the API's imports alone have taken over 30 s.
            for _ in range(1200):
                try:
                    if (await http.get("/health")).status_code == 200:
                        return api, url
                except httpx.TransportError:
                    pass
                if api.poll() is not None:
                    raise RuntimeError(f"the API exited; see {self.work / log_name}")
                await asyncio.sleep(0.1)
        raise RuntimeError("the API did not come up in 120 s")

    def stop_api(self) -> None:
        if self.api is not None:
            stop_process(self.api)
            self.api = None

    @contextmanager
    def drain_niced(self, nice: int = DRAIN_NICE) -> Iterator[None]:
        """Workers and Temporal `nice` below the API, PostgreSQL and the load generator, then back. Every thread
        of theirs: Linux keeps a priority per thread, and the SDK's core and Temporal's runtime run many."""
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        self._renice(self._drain_pids(), min(ours + nice, 19))
        try:
            yield
        finally:
            self._renice(self._drain_pids(), ours)

    def _drain_pids(self) -> list[int]:
        return [w.pid for w in self.workers] + ([self._temporal.pid] if self._temporal else [])

    def _renice(self, pids: list[int], nice: int) -> None:
        for pid in pids:
            _renice_group(pid, nice)
            try:
                top = psutil.Process(pid)
                for proc in [top, *top.children(recursive=True)]:
                    for thread in proc.threads():
                        # A thread that just ended; or, without CAP_SYS_NICE, no way back up: the later
                        # parts then run with the drain below the API as well.
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.setpriority(os.PRIO_PROCESS, thread.id, nice)
            except psutil.NoSuchProcess:
                continue

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each worker and the API, in MiB (children included: uvicorn may fork)."""
        out: dict[str, float] = {}
        for index, worker in enumerate(self.workers):
            out[f"worker{index}"] = _tree_rss(worker.pid)
        if self.api is not None:
            out["api"] = _tree_rss(self.api.pid)
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each part of the stack: where a run's cores went."""
        apis = [p.pid for p in (self.api, self.feedback_api) if p is not None]
        parts: dict[str, list[int]] = {"api": apis,
                                       "workers": [w.pid for w in self.workers],
                                       "temporal": [self._temporal.pid] if self._temporal else [],
                                       "bench": [os.getpid()]}
        out = {name: sum(_tree_cpu(pid, children=name != "bench") for pid in pids) for name, pids in parts.items()}
        out["postgres"] = sum(_tree_cpu(p.pid) for p in self._postmasters())
        return out

    def _postmasters(self) -> list[psutil.Process]:
        """This stack's PostgreSQL: the postmaster serving its data directory (other test runs on the machine
        have theirs), or, with an external database, every postgres process there is."""
        data_dir = str(self.work / "pg")
        found = []
        for p in psutil.process_iter(["name", "cmdline"]):
            if p.info["name"] != "postgres":
                continue
            if self._pg is not None:
                if data_dir in " ".join(p.info["cmdline"] or []):  # backends' command lines do not name it
                    found.append(p)
            elif p.parent() is None or p.parent().name() != "postgres":  # type: ignore[union-attr]
                found.append(p)
        return found

    async def fresh_temporal(self) -> bool:
        """An empty dev server in place of this stack's: the in-memory server costs more CPU per workflow the more
        histories it holds (Herald end to end fell from 60.5/s to 41.7/s behind 12,000 more workflows, 2026-12-02),
        so each part that measures throughput or latency under load starts on an empty one, and the ratios
        compare parts on equal terms. Herald's processes are stopped first; the caller starts the ones it needs.
        False, with nothing changed, when the server is not this stack's own (`--temporal`)."""
        if self._temporal is None:
            return False
        self.stop_api()
        self.stop_feedback_api()
        self.stop_workers()
        stop_process(self._temporal)
        self._temporal, self.temporal_address = _start_dev_server(self.work)
        self.env["TEMPORAL_ADDRESS"] = self.temporal_address
        self.client = await _connect(self.temporal_address, self._temporal)
        return True

    def check_alive(self) -> None:
        for index, worker in enumerate(self.workers):
            if worker.poll() is not None:
                raise RuntimeError(f"worker {index} exited; see {self.work / f'worker-{index}.log'}")
        if self.api is not None and self.api.poll() is not None:
            raise RuntimeError(f"the API exited; see {self.work / 'api.log'}")

    async def close(self) -> None:
        if self.api is not None:
            stop_process(self.api)
        self.stop_feedback_api()
        self.stop_workers()
        if self._temporal is not None:
            stop_process(self._temporal)
        if self._pg is not None:
            self._pg.cleanup()


def process_cpu_seconds(proc: psutil.Process) -> float:
    """User plus system CPU time of one process; 0 once it is gone."""
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _tree_cpu(pid: int, children: bool = True) -> float:
    try:
        proc = psutil.Process(pid)
        below = sum(process_cpu_seconds(c) for c in proc.children(recursive=True)) if children else 0.0
        return process_cpu_seconds(proc) + below
    except psutil.NoSuchProcess:
        return 0.0


def _renice_group(pid: int, nice: int) -> None:
    """A process that leads a session of its own (Temporal's dev server does) is also a scheduling group of its
    own when the kernel groups by session (autogroup): its threads' priority then ranks them only among
    themselves, and against the API's group it is the group's own nice that counts, as a container's CPU shares
    do in docker-compose.yml."""
    try:
        if os.getsid(pid) != pid:
            return
        with open(f"/proc/{pid}/autogroup", "w") as group:
            group.write(str(nice))
    except OSError:
        return  # gone, no autogroup in this kernel, or no CAP_SYS_NICE to raise it back


def _tree_rss(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    except psutil.NoSuchProcess:
        return 0.0
    return round(total / 2**20, 1)


def _start_dev_server(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """An in-memory dev server of the stack's own, and its address."""
    port = free_port()
    return start_dev_server(None, port, None, work / "temporal.log"), f"127.0.0.1:{port}"


async def _connect(address: str, process: subprocess.Popen[bytes] | None) -> Client:
    """A client once the server answers, with Herald's search attributes registered there."""
    client = await wait_until_serving(address, process)
    await ensure_search_attributes(client, "default")
    return client


async def start_stack(temporal_address: str | None = None, database_url: str | None = None,
                      extra_env: dict[str, str] | None = None) -> Stack:
    """A fresh embedded stack (or, given addresses, Herald's processes against existing servers)."""
    work = Path(tempfile.mkdtemp(prefix="hbench-", dir="/tmp"))
    pg = None
    temporal = None
    if database_url is None:
        import pgserver

        pg = pgserver.get_server(work / "pg", cleanup_mode="delete")  # type: ignore[attr-defined]
        database_url = str(pg.get_uri())
    await migrate_url(database_url)
    if temporal_address is None:
        temporal, temporal_address = _start_dev_server(work)
    client = await _connect(temporal_address, temporal)
    admin_key = new_admin_key()
    env = {**os.environ, "DATABASE_URL": database_url, "TEMPORAL_ADDRESS": temporal_address,
           "HERALD_ADMIN_KEY": admin_key, "HERALD_DATA_DIR": str(work), "HERALD_TASK_QUEUE": f"bench-{os.getpid()}",
           "HERALD_WEBHOOK_SECRET": new_webhook_secret(), "HERALD_SIM_ENABLED": "true", "PYTHONUNBUFFERED": "1",
           **(extra_env or {})}
    return Stack(work=work, db_url=database_url, temporal_address=temporal_address, admin_key=admin_key, env=env,
                 client=client, _pg=pg, _temporal=temporal)


async def db_pool(stack: Stack, size: int = 4) -> Any:
    return await create_pool(stack.db_url, min_size=1, max_size=size)
