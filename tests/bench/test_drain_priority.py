"""The bench's `drain_niced`: every thread of the drain's processes goes below the bench's priority while a part
measures accept latency beside it, and comes back after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from bench.stack import Stack

# A process with threads of its own, as the worker (the SDK's core) and Temporal's runtime have.
THREADED = "import threading, time\nfor _ in range(3):\n    threading.Thread(target=time.sleep, args=(60,)).start()\n" \
           "print('ready', flush=True)\ntime.sleep(60)\n"


def _nice_of_threads(pid: int) -> list[int]:
    # Field 19 of /proc/<pid>/task/<tid>/stat, counted after the command name's closing parenthesis.
    return [int(Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[16])
            for tid in os.listdir(f"/proc/{pid}/task")]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_every_thread_of_the_drain_is_lowered_then_restored(tmp_path: Path) -> None:
    worker = subprocess.Popen([sys.executable, "-c", THREADED], stdout=subprocess.PIPE)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
        stack = Stack(work=tmp_path, db_url="", temporal_address="", admin_key="", env={},
                      client=cast(Any, None), workers=[cast(Any, worker)])
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert len(_nice_of_threads(worker.pid)) == 4
        with stack.drain_niced(5):
            assert set(_nice_of_threads(worker.pid)) == {min(base + 5, 19)}
        if os.geteuid() == 0:  # raising a priority back needs CAP_SYS_NICE
            assert set(_nice_of_threads(worker.pid)) == {base}
    finally:
        worker.kill()
        worker.wait()


def _group_nice(pid: int) -> int:
    # "/autogroup-123 nice 5"
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="needs a kernel that groups by session")
def test_a_drain_process_in_a_session_of_its_own_has_its_group_lowered_then_restored(tmp_path: Path) -> None:
    # Temporal's dev server runs in a session of its own: a scheduling group, whose threads' own priority ranks
    # them only against each other.
    temporal = subprocess.Popen([sys.executable, "-c", THREADED], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert temporal.stdout is not None and temporal.stdout.readline().strip() == b"ready"
        stack = Stack(work=tmp_path, db_url="", temporal_address="", admin_key="", env={},
                      client=cast(Any, None), _temporal=cast(Any, temporal))
        assert _group_nice(temporal.pid) == 0
        with stack.drain_niced(5):
            assert _group_nice(temporal.pid) == min(os.getpriority(os.PRIO_PROCESS, 0) + 5, 19)
        if os.geteuid() == 0:
            assert _group_nice(temporal.pid) == 0
    finally:
        temporal.kill()
        temporal.wait()
