"""The `herald` command line against the test stack's PostgreSQL and API."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import Stack
from tests.processes import ROOT as ROOT_DIR


def herald(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": str(stack.settings.database_url)}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=ROOT_DIR, capture_output=True,
                          text=True, timeout=60, check=False)


async def test_keys_created_listed_and_revoked_from_the_command_line(stack: Stack) -> None:
    created = herald(stack, "keys", "create", "--name", "billing-service", "--scope", "send", "--rate", "5")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    key_id = "key_" + key.split("_")[1]
    assert key_id in created.stderr and key not in created.stderr

    r = await stack.http.get("/v1/notifications", headers=stack.auth(key))
    assert r.status_code == 200
    assert (await stack.http.post("/v1/templates", headers=stack.auth(key), json={})).status_code == 403

    listed = herald(stack, "keys", "list")
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(key_id))
    assert "billing-service\tsend\t5.0/s" in line and line.endswith("live") and key not in listed.stdout

    assert herald(stack, "keys", "revoke", key_id).returncode == 0
    assert (await stack.http.get("/v1/notifications", headers=stack.auth(key))).status_code == 401
    assert herald(stack, "keys", "revoke", "key_missing").returncode == 1


def test_every_command_explains_itself() -> None:
    for args in (["--help"], ["keys", "--help"], ["keys", "create", "--help"], ["migrate", "--help"]):
        shown = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT_DIR, capture_output=True,
                               text=True, timeout=60, check=False)
        assert shown.returncode == 0 and "usage: herald" in shown.stdout
    bad = subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "--name", "x", "--scope", "root"],
                         cwd=ROOT_DIR, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "invalid choice: 'root'" in bad.stderr
