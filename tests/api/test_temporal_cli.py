"""The README's `temporal` CLI recipes, run for real against the test stack's dev server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from devstack.temporal_server import temporal_binary
from tests.api.conftest import Api


async def temporal(api: Api, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(), *args, "--address", api.stack.temporal_address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_list_by_search_attribute_query_status_and_signal_retry(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"sim": "flaky:3"}, channels=["sim"])
    await api.until_status(n["id"], "dead_lettered")
    wf = n["workflow_id"]

    async def listed() -> bool:
        out = await temporal(api, "workflow", "list", "--query", 'NotificationStatus="dead_lettered"', "-o", "json")
        return wf in out
    from tests.api.conftest import eventually
    await eventually(listed, what="the workflow in the search-attribute listing")

    status = json.loads(await temporal(api, "workflow", "query", "--type", "status", "-w", wf, "-o", "json"))
    result = status["queryResult"][0]
    assert (result["id"], result["status"], result["attempts"]) == (n["id"], "dead_lettered", 3)

    await temporal(api, "workflow", "signal", "--name", "retry", "-w", wf)
    done = await api.until_status(n["id"], "delivered")
    assert done["attempts"] == 4


async def test_cli_cancel_ends_the_notification_as_canceled(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    send_at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    n = await api.send(template, user_id=user_id, channels=["in_app"], send_at=send_at)
    await temporal(api, "workflow", "cancel", "-w", n["workflow_id"])
    await api.until_status(n["id"], "canceled")


async def test_cli_discard_signal(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"sim": "reject"}, channels=["sim"])
    await api.until_status(n["id"], "dead_lettered")
    await temporal(api, "workflow", "signal", "--name", "discard", "-w", n["workflow_id"])
    await api.until_status(n["id"], "discarded")


async def test_batch_retry_by_query_and_list_by_recipient(api: Api) -> None:
    from tests.api.conftest import eventually

    template = await api.template()
    user_id = await api.user()
    ns = [await api.send(template, user_id=user_id, to={"sim": "flaky:3"}, channels=["sim"]) for _ in range(2)]
    for n in ns:
        await api.until_status(n["id"], "dead_lettered")

    async def listed() -> bool:
        out = await temporal(api, "workflow", "list", "--query", f'RecipientId="{user_id}"', "-o", "json")
        return all(n["workflow_id"] in out for n in ns)
    await eventually(listed, what="both workflows listed by recipient")
    await temporal(api, "workflow", "signal", "--name", "retry", "--yes", "--reason", "test",
                   "--query", f'RecipientId="{user_id}" AND NotificationStatus="dead_lettered"')
    for n in ns:
        await api.until_status(n["id"], "delivered")
