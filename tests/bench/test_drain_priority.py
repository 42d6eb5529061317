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
