"""A generated secret is published whole: processes and threads starting together all read the same,
complete value, never an empty or partial file."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.secrets import persisted

RACERS = 8


def _slow_value(tag: str) -> str:
    # A slow generator widens the window in which a racer could find the file created but not yet written.
    time.sleep(0.3)
    return f"secret-{tag}"


def _race_in_process(data_dir: str, barrier: threading.Barrier, results: multiprocessing.Queue[str]) -> None:
    barrier.wait()
    results.put(persisted(Path(data_dir), "admin_key", lambda: _slow_value(str(os.getpid()))))


def test_threads_starting_together_read_one_complete_value(tmp_path: Path) -> None:
    barrier = threading.Barrier(RACERS)

    def race(i: int) -> str:
        barrier.wait()
        return persisted(tmp_path, "admin_key", lambda: _slow_value(str(i)))

    with ThreadPoolExecutor(RACERS) as pool:
        values = list(pool.map(race, range(RACERS)))
    assert len(set(values)) == 1 and values[0].startswith("secret-"), values
    assert (tmp_path / "admin_key").read_text() == values[0] + "\n"
    assert stat.S_IMODE((tmp_path / "admin_key").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin_key"]  # no temporary file left behind


def test_processes_starting_together_read_one_complete_value(tmp_path: Path) -> None:
    # spawn, not fork: a test run may already have threads (Temporal clients) that a fork would copy mid-lock.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACERS)
    results: multiprocessing.Queue[str] = context.Queue()
    processes = [context.Process(target=_race_in_process, args=(str(tmp_path), barrier, results))
                 for _ in range(RACERS)]
    for process in processes:
        process.start()
    values = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(set(values)) == 1 and values[0].startswith("secret-"), values


def test_an_existing_value_is_kept(tmp_path: Path) -> None:
    (tmp_path / "admin_key").write_text("hk_kept\n")
    assert persisted(tmp_path, "admin_key", lambda: "hk_new") == "hk_kept"


def test_an_empty_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "admin_key").write_text("")
    with pytest.raises(RuntimeError, match="admin_key is empty"):
        persisted(tmp_path, "admin_key", lambda: "hk_new")
