"""Herald's API as a separate OS process, for tests that need more than one (shared state across processes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


class ApiProcess:
    """`uvicorn api.app:app` with `env` on loopback `port`. Its output goes to a file (a pipe nobody reads
    would fill up and stall the process). `launcher` names a module that runs the API its own way instead
    (`chaos.crash_after_store`), given `--host` and `--port`."""

    def __init__(self, env: dict[str, str], port: int, launcher: str | None = None):
        from devstack.temporal_server import die_with_parent

        self.base = f"http://127.0.0.1:{port}"
        self.log_path = Path(tempfile.mkstemp(prefix="herald-api-", suffix=".log")[1])
        command = ([sys.executable, "-m", launcher, "--host", "127.0.0.1", "--port", str(port)] if launcher else
                   [sys.executable, "-m", "uvicorn", "--factory", "api.app:app", "--host", "127.0.0.1", "--port",
                    str(port), "--log-level", "warning", "--no-access-log"])
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base) as http:
            for _ in range(300):
                if self.process.poll() is not None:
                    raise RuntimeError(f"the API process exited: {self.output()[-2000:]}")
                try:
                    if (await http.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the API process did not come up in 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@asynccontextmanager
async def api_process(env: dict[str, str], port: int) -> AsyncIterator[str]:
    """Runs the API in a process of its own until the block ends; yields its base URL."""
    api = ApiProcess(env, port)
    try:
        await api.wait_ready()
        yield api.base
    finally:
        api.stop()


class WorkerProcess:
    """`worker.py` with `env`, its log in a file. The kernel ends it if the test process dies first."""

    def __init__(self, env: dict[str, str]):
        from devstack.temporal_server import die_with_parent

        self.log_path = Path(tempfile.mkstemp(prefix="herald-worker-", suffix=".log")[1])
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env={**os.environ, **env},
                                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM, then the exit code once it has drained."""
        self.process.terminate()
        return await asyncio.to_thread(self.process.wait, timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@asynccontextmanager
async def worker_process(env: dict[str, str]) -> AsyncIterator[WorkerProcess]:
    """A worker for the block; killed at the end whatever happened (a failed test must not leave it polling)."""
    worker = WorkerProcess(env)
    try:
        yield worker
    finally:
        worker.kill()
