"""HERALD_WORKER_NICE: a worker lowers its own CPU priority, for the threads it starts later too (the SDK's core
runs its own), and leaves it alone at 0. A process of its own each time: a priority once lowered stays lowered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, os, threading
from core.settings import Settings
from hosting.workers import lower_priority

before = os.getpriority(os.PRIO_PROCESS, 0)
lower_priority(Settings())
seen = []
thread = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0)))
thread.start()
thread.join()
print(json.dumps([before, os.getpriority(os.PRIO_PROCESS, 0), seen[0]]))
"""


def _priorities(nice: str) -> list[int]:
    env = {**os.environ, "HERALD_WORKER_NICE": nice}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_worker_lowers_its_priority_and_its_later_threads_inherit_it() -> None:
    before, after, thread = _priorities("7")
    assert after == min(before + 7, 19)
    assert thread == after


def test_zero_leaves_the_priority_alone() -> None:
    before, after, thread = _priorities("0")
    assert after == before == thread
