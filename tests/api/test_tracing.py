"""With tracing on, one trace follows a notification from the HTTP request through its workflow and activities."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from core import tracing
from tests.api.conftest import Api, eventually, uid
from tests.conftest import free_port
from worker import herald_worker


async def test_one_trace_from_request_to_delivery(api: Api) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = api.stack.settings.model_copy(update={"task_queue": uid("traced")})
    config = api.stack.temporal.config()
    config["interceptors"] = tracing.client_interceptors(provider)
    from temporalio.client import Client

    client = Client(**config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, tracer_provider=provider), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="on"))
    template = await api.template()
    user = await api.user()
    async with herald_worker(client, api.stack.pool, settings):
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=api.h) as http:
                r = await http.post("/v1/notifications", json={"template": template, "user_id": user,
                                                               "to": {"sim": "flaky:1"},
                                                               "channels": ["in_app", "sim"], "data": {"name": "A"}})
            assert r.status_code == 202, r.text
            sent = r.json()
            await api.until_status(sent["id"], "delivered")
            await client.get_workflow_handle(sent["workflow_id"]).result()
        finally:
            server.should_exit = True
            await serving

    def traces() -> dict[int, list[ReadableSpan]]:
        by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
        for span in exporter.get_finished_spans():
            assert span.context is not None
            by_trace[span.context.trace_id].append(span)
        return by_trace

    async def complete() -> list[ReadableSpan] | None:
        for spans in traces().values():
            names = {s.name for s in spans}
            if "POST /v1/notifications" in names and "RunWorkflow:NotificationWorkflow" in names \
                    and sum(1 for n in names if n.startswith("RunActivity:")) >= 1:
                return spans
        return None
    spans = await eventually(complete, what="one trace with the request, the workflow and its activities")
    names = [s.name for s in spans]
    assert "StartWorkflow:NotificationWorkflow" in names
    assert any(n == "RunActivity:deliver" for n in names), names
    # The workflow span's parent chain leads back to the HTTP request span.
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    workflow = next(s for s in spans if s.name == "RunWorkflow:NotificationWorkflow")
    chain = []
    node: ReadableSpan | None = workflow
    while node is not None and node.parent is not None:
        node = by_id.get(node.parent.span_id)
        if node is not None:
            chain.append(node.name)
    assert "POST /v1/notifications" in chain, chain
