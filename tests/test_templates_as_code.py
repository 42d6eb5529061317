"""`herald templates pull` and `push` between two Herald APIs, each on a database of its own, over real HTTP."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from store.migrate import migrate_url
from tests.conftest import free_port, new_database
from tests.processes import ROOT as ROOT_DIR

Herald = Callable[..., Awaitable[tuple[int, str, str]]]


class Server:
    def __init__(self, base_url: str, key: str):
        self.base_url, self.key = base_url, key
        self.http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    async def post(self, path: str, **body: Any) -> dict[str, Any]:
        r = await self.http.post(path, json=body)
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    async def version(self, name: str) -> int:
        version: int = (await self.http.get(f"/v1/templates/{name}")).json()["version"]
        return version

    async def herald(self, *args: str) -> tuple[int, str, str]:
        """The CLI against this API, which runs in this event loop: the subprocess is awaited, not run."""
        env = {**os.environ, "HERALD_API_URL": self.base_url, "HERALD_ADMIN_KEY": self.key}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli.main", *args, env=env, cwd=ROOT_DIR,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def fresh(pg_server: Any, dev_env: WorkflowEnvironment) -> AsyncIterator[Callable[[], Awaitable[Server]]]:
    """Starts APIs on empty databases of their own: environments to move templates between."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None], Server]] = []

    async def start() -> Server:
        url = await new_database(pg_server, f"herald_{uuid.uuid4().hex[:12]}")
        await migrate_url(url)
        port = free_port()
        settings = Settings(HERALD_ADMIN_KEY=f"hk_{secrets.token_hex(8)}", DATABASE_URL=url, HERALD_API_PORT=port,
                            TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
                            HERALD_DATA_DIR=Path(tempfile.mkdtemp(prefix="hdata-")))
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.05)
        api = Server(f"http://127.0.0.1:{port}", settings.admin_key or "")
        running.append((server, task, api))
        return api

    yield start
    for server, task, api in running:
        await api.http.aclose()
        server.should_exit = True
        await task


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_pull_push_to_a_fresh_server_and_pull_again_is_byte_identical(
        fresh: Callable[[], Awaitable[Server]], tmp_path: Path) -> None:
    staging, production = await fresh(), await fresh()
    await staging.post("/v1/layouts", name="brand", html="<html><body>{{ content }}</body></html>\n",
                       text="{{ content }}\r\n-- \r\nShop Inc.")
    await staging.post("/v1/templates", name="footer", body="Thanks, the Shop team", html="<p>Thanks</p>")
    await staging.post("/v1/templates", name="welcome", subject="Welcome {{ name }}", layout="brand",
                       description="sent on sign-up: «bienvenue»",
                       body='Hello {{ name }}\n{% include "footer" %}\n', html="<p>Hello {{ name }}</p>")
    r = await staging.http.put("/v1/templates/welcome/locales/fr-CA", json={"subject": "Bienvenue",
                                                                            "body": "Bonjour {{ name }}"})
    assert r.status_code == 200, r.text
    await staging.post("/v1/templates", name="receipt", html="<style>p{color:red}</style><p>{{ total }}</p>")

    first, second = tmp_path / "first", tmp_path / "second"
    code, _, err = await staging.herald("templates", "pull", str(first))
    assert code == 0, err
    pulled = files(first)
    assert set(pulled) == {
        "_layouts/brand.html", "_layouts/brand.txt", "footer/template.yaml", "footer/body.txt", "footer/body.html",
        "welcome/template.yaml", "welcome/subject.txt", "welcome/body.txt", "welcome/body.html",
        "welcome/locales/fr-CA.subject.txt", "welcome/locales/fr-CA.body.txt", "receipt/template.yaml",
        "receipt/body.html"}
    assert pulled["_layouts/brand.txt"] == b"{{ content }}\r\n-- \r\nShop Inc."
    assert pulled["welcome/template.yaml"].decode() == "description: 'sent on sign-up: «bienvenue»'\nlayout: brand\n"

    assert (await production.herald("templates", "push", str(first), "--check"))[0] == 1
    code, diff, err = await production.herald("templates", "push", str(first), "--dry-run")
    assert code == 0, err
    assert "--- /dev/null\n+++ local/welcome/body.txt\n@@ -0,0 +1,2 @@\n+Hello {{ name }}\n" in diff
    assert (await production.http.get("/v1/templates/welcome")).status_code == 404  # a dry run changes nothing

    code, _, err = await production.herald("templates", "push", str(first))
    assert code == 0, err
    assert (await production.herald("templates", "push", str(first), "--check"))[0] == 0
    code, _, err = await production.herald("templates", "pull", str(second))
    assert code == 0, err
    assert files(second) == pulled
    preview = (await production.http.post("/v1/templates/welcome/preview", json={"data": {"name": "Ada"}})).json()
    assert preview["body"] == "Hello Ada\nThanks, the Shop team\n\n-- \nShop Inc."  # Jinja writes \n

    # One changed file: one new version of that template, and nothing else moves.
    versions = {n: await production.version(n) for n in ("welcome", "footer", "receipt")}
    (first / "welcome/locales/fr-CA.body.txt").write_text("Salut {{ name }}")
    (first / "receipt/body.html").unlink()
    (first / "receipt/body.txt").write_text("Total: {{ total }}")
    code, diff, _ = await production.herald("templates", "push", str(first), "--dry-run")
    assert "-Bonjour {{ name }}\n\\ No newline at end of file\n+Salut {{ name }}" in diff
    assert "--- server/receipt/body.html\n+++ /dev/null" in diff
    assert (await production.herald("templates", "push", str(first), "--check"))[0] == 1
    assert (await production.herald("templates", "push", str(first)))[0] == 0
    assert {n: await production.version(n) for n in versions} == {**versions, "welcome": versions["welcome"] + 1,
                                                                  "receipt": versions["receipt"] + 1}
    receipt = (await production.http.get("/v1/templates/receipt")).json()
    assert (receipt["body"], receipt["html"]) == ("Total: {{ total }}", None)
    assert (await production.herald("templates", "push", str(first), "--check"))[0] == 0
    # Removing a translation's files removes the translation.
    for path in (first / "welcome/locales").iterdir():
        path.unlink()
    assert (await production.herald("templates", "push", str(first)))[0] == 0
    assert (await production.http.get("/v1/templates/welcome")).json()["locales"] == []
