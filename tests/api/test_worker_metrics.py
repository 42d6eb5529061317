"""A worker's Prometheus endpoint: the Temporal SDK's metrics and Herald's deliveries, latency and DLQ size."""

from __future__ import annotations

import json
import re

import httpx

from tests.api.conftest import Api, eventually, uid
from tests.conftest import free_port
from tests.processes import ROOT, WorkerProcess, api_process


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series (all of `labels` present), 0 if absent."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def test_worker_serves_sdk_and_herald_metrics(api: Api) -> None:
    port = free_port()
    env = {"DATABASE_URL": str(api.stack.settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": uid("metrics"),
           "HERALD_WORKER_METRICS_ADDRESS": f"127.0.0.1:{port}", "HERALD_RETRY_INITIAL_S": "0.05",
           "HERALD_RETRY_MAX_S": "0.1",
           # Deliveries through their channel's queue: regular activities, so the SDK's activity metrics appear.
           "HERALD_LOCAL_DELIVERIES": "false"}
    worker = WorkerProcess(env)
    template = await api.template()
    try:
        async with api_process(env, free_port()) as base, httpx.AsyncClient(base_url=base, headers=api.h) as http:
            ids = {}
            for address in ("ok", "flaky:1", "reject"):
                r = await http.post("/v1/notifications", json={"template": template, "to": {"sim": address},
                                                               "channels": ["sim"], "data": {"name": "Ada"}})
                assert r.status_code == 202, r.text
                ids[address] = r.json()["id"]
            for address, status in (("ok", "delivered"), ("flaky:1", "delivered"), ("reject", "dead_lettered")):
                await api.until_status(ids[address], status)

            async def scraped() -> str | None:
                async with httpx.AsyncClient() as scrape:
                    text = (await scrape.get(f"http://127.0.0.1:{port}/metrics")).text
                return text if "herald_dlq_size" in text else None
            text = await eventually(scraped, what="the worker's metrics")
    finally:
        worker.kill()

    assert sample(text, "herald_deliveries_total", channel="sim", provider="sim", outcome="delivered") == 2
    assert sample(text, "herald_deliveries_total", channel="sim", outcome="failed") == 1
    assert sample(text, "herald_deliveries_total", channel="sim", outcome="rejected") == 1
    assert sample(text, "herald_provider_latency_count", channel="sim", outcome="delivered") == 2
    assert 'le="0.005"' in text  # Herald's own buckets, not the SDK's defaults
    assert sample(text, "herald_dlq_size") >= 1
    assert sample(text, "temporal_workflow_completed_total") >= 2  # the SDK's own
    assert "temporal_activity_execution_latency" in text or "temporal_workflow_task_execution_latency" in text

    # Every series the Grafana dashboard charts exists on the API's or a worker's endpoint.
    api_text = (await api.http.get("/metrics")).text
    dashboard = json.loads((ROOT / "docs" / "grafana" / "herald.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    names = {n for e in exprs for n in re.findall(r"\b((?:herald|temporal)_[a-z_]+)", e)}
    missing = {n for n in names if not re.search(rf"^(# TYPE )?{n}[{{ ]", text + "\n" + api_text, re.M)
               and not re.search(rf"^# TYPE {re.sub('_(bucket|total)$', '', n)} ", api_text, re.M)}
    assert not missing, f"the dashboard charts series nobody serves: {missing}"
