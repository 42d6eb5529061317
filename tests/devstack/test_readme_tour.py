"""The README's tour, line by line, on a fresh `make up`; and `/ui/outbox` in Chromium on the same stack.

The tour is the block between `<!-- tour:begin -->` and `<!-- tour:end -->` in README.md: every line of its
```sh fences runs, in order, in one bash shell at the repository's root, and must succeed. The shell gets only
what a reader's terminal would have besides the defaults: where this test's `make up` listens (its ports are
free ones, not the defaults, so the test never meets a stack someone else runs).
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from tests.api.conftest import eventually
from tests.conftest import free_port
from tests.devstack.test_make_up import ready, start, stop
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- tour:begin -->", "<!-- tour:end -->"
FENCE = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def tour_lines(readme: str) -> list[str]:
    """The tour's shell lines, in order: each is pasted (and run) alone."""
    assert readme.count(BEGIN) == 1 and readme.count(END) == 1, "README.md must mark its tour once"
    tour = readme[readme.index(BEGIN):readme.index(END)]
    return [line for block in FENCE.findall(tour) for line in block.splitlines() if line.strip()]


def tour_script(lines: list[str]) -> str:
    """One script that runs each line, then reports its exit status and stops at the first that failed.
    pipefail: a line such as `ID=$(api ... | field id)` fails when the request does, not only when parsing does."""
    steps = ["set -o pipefail"]
    for number, line in enumerate(lines, 1):
        # Each marker on a line of its own, whatever the output before it ended with.
        steps += [f"printf '\\n@@@ line {number}\\n'", line,
                  f"__rc=$?; printf '\\n@@@ rc {number} %d\\n' $__rc; [ $__rc -eq 0 ] || exit 1"]
    return "\n".join(steps) + "\n"


@dataclass
class Up:
    base: str
    key: str
    data_dir: Path
    ports: dict[str, int]


@pytest.fixture(scope="module")
async def up() -> AsyncIterator[Up]:
    """A fresh `make up` on free ports (the catchers' too), in a data dir of its own."""
    data_dir = Path(tempfile.mkdtemp(prefix="htour-", dir="/tmp"))
    ports = {name: free_port() for name in ("api", "temporal", "ui", "metrics", "mail", "gateways")}
    proc = await start(data_dir, ports, HERALD_MAIL_CATCHER_PORT=str(ports["mail"]),
                       HERALD_GATEWAY_CATCHER_PORT=str(ports["gateways"]))
    base = f"http://127.0.0.1:{ports['api']}"
    try:
        await eventually(lambda: ready(base), timeout_s=120, what="make up to be ready")
        yield Up(base, (data_dir / "admin_key").read_text().strip(), data_dir, ports)
    finally:
        await stop(proc)


def test_the_tour_is_marked_and_every_line_stands_alone() -> None:
    lines = tour_lines((ROOT / "README.md").read_text())
    assert lines[0].startswith("DATA=") and any("escalate" in line for line in lines)
    # Pasted one by one, a line that opens a block or continues onto the next would not run on its own.
    assert not [line for line in lines if line.rstrip().endswith(("\\", "do", "then", "{", "|", "&&"))]


@pytest.mark.timeout(600)
async def test_every_tour_line_succeeds_on_a_fresh_make_up_and_the_escalation_reaches_the_sms_catcher(
        up: Up) -> None:
    lines = tour_lines((ROOT / "README.md").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "DATABASE_URL", "TEMPORAL_"))}
    env.update(HERALD_DATA_DIR=str(up.data_dir), HERALD_API_PORT=str(up.ports["api"]),
               HERALD_TEMPORAL_UI_PORT=str(up.ports["ui"]),
               # What the temporal CLI reads instead of its default 127.0.0.1:7233.
               TEMPORAL_ADDRESS=f"127.0.0.1:{up.ports['temporal']}")
    # A file, not stdin: a command of the tour that reads stdin must not swallow the lines after it.
    script = up.data_dir / "tour.sh"
    script.write_text(tour_script(lines))
    shell = await asyncio.create_subprocess_exec("bash", "--noprofile", "--norc", str(script), cwd=ROOT, env=env,
                                                 stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(shell.communicate(), 540)
    output = out.decode()
    statuses = dict(re.findall(r"^@@@ rc (\d+) (\d+)$", output, re.MULTILINE))
    failed = [(n, lines[int(n) - 1]) for n, rc in statuses.items() if rc != "0"]
    assert not failed, f"tour line failed: {failed}\n{output[-3000:]}"
    assert len(statuses) == len(lines), f"ran {len(statuses)} of {len(lines)} lines\n{output[-3000:]}"
    assert shell.returncode == 0, output[-3000:]

    # The escalation reached the SMS catcher: a message to Ada's phone for the notification that escalated.
    caught = [json.loads(path.read_text()) for path in (up.data_dir / "sms").glob("*.json")]
    caught = [c for c in caught if c["payload"]["to"] == "+33612345678"]
    assert len(caught) == 1, caught
    async with httpx.AsyncClient(base_url=up.base, headers={"Authorization": f"Bearer {up.key}"}) as http:
        escalated = (await http.get(f"/v1/notifications/{caught[0]['payload']['notification_id']}")).json()
    assert escalated["escalate"] == {"after": "10s", "to": ["sms"]}
    assert {(d["channel"], d["status"]) for d in escalated["deliveries"]} >= {("sms", "delivered"),
                                                                             ("email", "delivered")}
    # Ada's chat channel got the tour's one chat message, from the same notification as her push.
    (chat,) = [json.loads(path.read_text()) for path in (up.data_dir / "chat").glob("*.json")]
    assert chat["payload"]["to"] == "#ada-team" and chat["payload"]["text"] == "Hi Ada, your code is 42."
    (push,) = [json.loads(path.read_text()) for path in (up.data_dir / "push").glob("*.json")]
    assert push["payload"]["notification_id"] == chat["payload"]["notification_id"]
    # Two emails to Ada, the first and the escalation's: the idempotent repeat sent nothing.
    mails = [email.message_from_bytes(p.read_bytes()) for p in (up.data_dir / "mail").glob("*.eml")]
    assert sorted(m["Subject"] for m in mails if m["To"] == "ada@example.com") == ["Welcome, Ada"] * 2


@pytest.mark.timeout(300)
async def test_the_outbox_page_shows_a_caught_email_sms_push_and_chat_message_in_chromium(up: Up) -> None:
    require_chromium()
    auth = {"Authorization": f"Bearer {up.key}"}
    async with httpx.AsyncClient(base_url=up.base, headers=auth) as http:
        template = {"name": "outbox-check", "subject": "Parcel {{ n }}",
                    "body": "Your parcel {{ n }} is on its way.", "html": "<p>Parcel <b>{{ n }}</b> shipped</p>"}
        assert (await http.post("/v1/templates", json=template)).status_code == 201
        # One after the other, each delivered before the next is sent: the page's order is then known.
        for channel, address in (("email", "grace@example.com"), ("sms", "+33698765432"), ("push", "grace-tab"),
                                 ("chat", "#grace-team")):
            answer = await http.post("/v1/notifications", json={"to": {channel: address}, "channels": [channel],
                                                                "template": "outbox-check", "data": {"n": 77}})
            assert answer.status_code == 202, answer.text
            nid = answer.json()["id"]

            async def delivered(nid: str = nid) -> bool:
                return bool((await http.get(f"/v1/notifications/{nid}")).json()["status"] == "delivered")
            await eventually(delivered, timeout_s=90, what=f"the {channel}")

    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(base_url=up.base)
            page = await context.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto("/ui/outbox")
            await page.get_by_label("API key or user token").fill(up.key)
            await page.get_by_role("button", name="Log in").click()
            await expect(page).to_have_url(f"{up.base}/ui/outbox")
            # Operators find it from any page of the dashboard.
            await page.goto("/ui")
            await page.get_by_role("navigation").get_by_role("link", name="Outbox").click()
            await expect(page).to_have_url(f"{up.base}/ui/outbox")

            email = page.get_by_role("article", name="Email to grace@example.com")
            await expect(email.get_by_role("heading", name="Parcel 77")).to_be_visible()
            await expect(email).to_contain_text("herald@localhost")
            frame = email.locator("iframe")
            await expect(frame).to_have_attribute("sandbox", "")
            # The HTML part, rendered in its sandboxed frame: markup, not escaped text.
            await expect(email.frame_locator("iframe").locator("b")).to_have_text("77")

            sms = page.get_by_role("article", name="SMS to +33698765432")
            await expect(sms.locator(".bubble")).to_have_text("Your parcel 77 is on its way.")
            push = page.get_by_role("article", name="Push to device grace-tab")
            await expect(push.locator(".push-title")).to_have_text("Parcel 77")
            await expect(push.locator(".push-body")).to_have_text("Your parcel 77 is on its way.")

            chat = page.get_by_role("article", name="Chat message to #grace-team")
            await expect(chat.locator(".chat-sender")).to_have_text("Herald")
            await expect(chat.locator(".chat-title")).to_have_text("Parcel 77")
            await expect(chat.locator(".chat-text")).to_have_text("Your parcel 77 is on its way.")

            # Newest first: the chat message was sent last, the email first.
            order = await page.locator("li.caught").evaluate_all("items => items.map(i => i.dataset.channel)")
            assert order[:4] == ["chat", "push", "sms", "email"], order
        finally:
            await browser.close()
    assert errors == [], errors


@pytest.mark.timeout(120)
async def test_the_outbox_is_for_operators_and_serves_only_what_the_mail_catcher_kept(up: Up) -> None:
    async with httpx.AsyncClient(base_url=up.base) as http:
        browser = await http.get("/ui/outbox")
        assert browser.status_code == 303 and browser.headers["location"].startswith("/ui/login?next=")
        admin = {"Authorization": f"Bearer {up.key}"}
        made = await http.post("/v1/keys", headers=admin, json={"name": "outbox-reader", "scopes": ["read"]})
        reader = {"Authorization": f"Bearer {made.json()['key']}"}
        assert (await http.get("/ui/outbox", headers=reader)).status_code == 403
        assert (await http.get("/ui/outbox", headers=admin)).status_code == 200
        # A caught email's HTML is served under a policy of its own: sandboxed, no script, no fetch.
        template = {"name": "frame-check", "subject": "Frame", "body": "text",
                    "html": "<p>framed</p><script>parent.document.title = 'owned'</script>"}
        assert (await http.post("/v1/templates", headers=admin, json=template)).status_code == 201
        sent = (await http.post("/v1/notifications", headers=admin, json={
            "to": {"email": "frame@example.com"}, "channels": ["email"], "template": "frame-check"})).json()

        async def delivered() -> bool:
            return bool((await http.get(f"/v1/notifications/{sent['id']}", headers=admin)).json()["status"]
                        == "delivered")
        await eventually(delivered, timeout_s=90, what="the email")
        (name,) = [p.name for p in (up.data_dir / "mail").glob("*.eml") if b"frame@example.com" in p.read_bytes()]
        frame = await http.get(f"/ui/outbox/mail/{name}", headers=admin)
        assert frame.status_code == 200 and "<p>framed</p>" in frame.text
        policy = frame.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "sandbox" in policy and "frame-ancestors 'self'" in policy
        assert "script-src" not in policy
        assert (await http.get(f"/ui/outbox/mail/{name}")).status_code == 303  # the frame needs a login too
        # Only a caught email's own name opens a frame: nothing else under the data dir is reachable.
        for name in ("..%2Fadmin_key", "..%2F..%2Fetc%2Fpasswd", "admin_key", "missing.eml"):
            answer = await http.get(f"/ui/outbox/mail/{name}", headers=admin)
            assert answer.status_code == 404, (name, answer.text[:200])
            assert up.key not in answer.text
