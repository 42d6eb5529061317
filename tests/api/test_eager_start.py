"""Workers start workflows from the outbox eagerly: the server hands each started workflow's first task straight
back to the process that started it, even with another process polling the same task queue. Here the API runs
a worker too (HERALD_EAGER_START) beside a worker process: whichever claims a start runs its first task."""

from __future__ import annotations

import signal

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from tests.api.conftest import Api, eventually, uid
from tests.conftest import free_port
from tests.processes import ApiProcess, worker_process


async def first_task_identity(api: Api, workflow_id: str) -> str:
    async for event in api.stack.temporal.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("workflow_task_started_event_attributes"):
            return event.workflow_task_started_event_attributes.identity
    raise AssertionError(f"{workflow_id} has no workflow task")


async def pollers(api: Api, queue: str) -> set[str]:
    request = DescribeTaskQueueRequest(namespace=api.stack.temporal.namespace, task_queue=TaskQueue(name=queue),
                                       task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    answer = await api.stack.temporal.workflow_service.describe_task_queue(request)
    return {p.identity for p in answer.pollers}


async def test_the_process_that_starts_a_workflow_runs_its_first_task_and_drains_on_sigterm(api: Api) -> None:
    env = {"DATABASE_URL": str(api.stack.settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": uid("eager"), "HERALD_EAGER_START": "1",
           "HERALD_GRACEFUL_SHUTDOWN_S": "10"}
    template = await api.template()
    user = await api.user()
    server = ApiProcess(env, free_port())
    try:
        await server.wait_ready()
        # A worker polls the same queue: without eager starts it would take about half of the first tasks.
        async with worker_process(env) as worker, httpx.AsyncClient(base_url=server.base, headers=api.h) as http:
            async def both_poll() -> bool:
                return {i.split("@")[0] for i in await pollers(api, env["HERALD_TASK_QUEUE"])} >= {
                    str(server.process.pid), str(worker.process.pid)}
            await eventually(both_poll, what="the API and the worker to poll the queue")
            sent = []
            for _ in range(10):
                r = await http.post("/v1/notifications", json={
                    "template": template, "user_id": user, "channels": ["in_app"], "data": {"name": "Ada"}})
                assert r.status_code == 202, r.text
                sent.append(r.json())

            async def all_delivered() -> bool:
                return all([(await api.get(n["id"]))["status"] == "delivered" for n in sent])
            await eventually(all_delivered, what="every notification to be delivered")
            for n in sent:
                (started,) = [e for e in (await api.get(n["id"]))["timeline"] if e["event"] == "started"]
                starter = started["detail"].removeprefix("workflow started by ")
                # The SDK's default identity is "<pid>@<host>": one of the two processes.
                assert starter.split("@")[0] in {str(server.process.pid), str(worker.process.pid)}, starter
                assert await first_task_identity(api, n["workflow_id"]) == starter
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) in (0, -signal.SIGTERM), server.output()[-3000:]
        assert "Traceback" not in server.output(), server.output()[-3000:]
    finally:
        server.stop()
