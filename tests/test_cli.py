"""The `herald` command line against the test stack's PostgreSQL and API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from tests.api.conftest import Api
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
    asked = [["--help"], *([c, "--help"] for c in ("worker", "api", "migrate", "keys", "dlq", "send",
                                                    "suppressions")),
             ["keys", "create", "--help"], ["dlq", "retry", "--help"]]
    running = [subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT_DIR, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for args in asked]
    for args, shown in zip(asked, running, strict=True):
        out, err = shown.communicate(timeout=60)
        assert shown.returncode == 0 and "usage: herald" in out, (args, err)
    bad = subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "--name", "x", "--scope", "root"],
                         cwd=ROOT_DIR, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "invalid choice: 'root'" in bad.stderr


async def herald_remote(stack: Stack, *args: str) -> tuple[int, str, str]:
    """The CLI against the test API, which runs in this event loop: the subprocess must be awaited, not run."""
    env = {**os.environ, "HERALD_API_URL": stack.base_url, "HERALD_ADMIN_KEY": stack.admin_key}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli.main", *args, env=env, cwd=ROOT_DIR,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_send_and_follow_then_work_the_dead_letter_queue(stack: Stack) -> None:
    api = Api(stack)
    template = await api.template()
    code, out, err = await herald_remote(stack, "send", "--template", template, "--to", "sim:flaky:1",
                                         "--data", '{"name": "Ada"}', "--wait", "20")
    assert code == 0, err
    sent = json.loads(out)
    assert "accepted" in err and "delivered (attempts 2)" in err and sent["id"] in err

    failing = [await api.send(template, to={"sim": "fail"}, channels=["sim"]) for _ in range(2)]
    for n in failing:
        await api.until_status(n["id"], "dead_lettered")
    code, out, _ = await herald_remote(stack, "dlq", "list", "--channel", "sim")
    listed = {line.split("\t")[0]: line for line in out.splitlines()}
    assert code == 0 and all(n["id"] in listed for n in failing)
    assert "3 attempts" in listed[failing[0]["id"]]

    code, _, err = await herald_remote(stack, "dlq", "retry", failing[0]["id"])
    assert code == 0 and "retrying 1" in err
    code, _, err = await herald_remote(stack, "dlq", "discard", failing[1]["id"])
    assert code == 0
    await api.until_status(failing[1]["id"], "discarded")
    retried = await api.until_status(failing[0]["id"], "dead_lettered")
    assert retried["attempts"] == 6

    code, _, err = await herald_remote(stack, "dlq", "discard", sent["id"])
    assert code == 1 and "409 not_dead_lettered" in err


async def test_suppressions_added_listed_and_removed_from_the_command_line(stack: Stack) -> None:
    address = f"Cli-{os.urandom(4).hex()}@Example.com"
    code, out, err = await herald_remote(stack, "suppressions", "add", "email", address, "--reason", "asked")
    assert code == 0, err
    assert out.strip() == f"email\t{address.lower()}\tsuppressed (asked)"
    code, out, err = await herald_remote(stack, "suppressions", "list", "--channel", "email", "--address", address)
    assert code == 0, err
    [line] = out.splitlines()
    assert line.startswith(f"email\t{address.lower()}\tapi\t") and line.endswith("\tasked")
    code, _, err = await herald_remote(stack, "suppressions", "remove", "email", address)
    assert code == 0, err
    code, out, _ = await herald_remote(stack, "suppressions", "list", "--channel", "email", "--address", address)
    assert code == 0 and out == ""
    code, _, err = await herald_remote(stack, "suppressions", "remove", "email", address)
    assert code == 1 and "404 not_found" in err
    code, _, err = await herald_remote(stack, "suppressions", "add", "sms", "not a number")
    assert code == 1 and "422" in err
