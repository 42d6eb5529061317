"""What each part of a notification's Temporal shape costs the server: `python -m bench.decompose`.

Empty-bodied workflows in six variants, from the bare ceiling to Herald's full shape (the four search
attributes at start, two local activities, one status upsert), each started eagerly or not. The variants run
interleaved in rounds on one fresh in-memory dev server, so its growth as it fills and the VM's changing steal
fall on all of them alike; the table gives each variant's median rate, its ratio to the bare ceiling, and the
server's and this process's (client and worker) CPU per workflow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.__main__ import RESULTS, machine
from bench.baseline import drive, started_like_herald
from bench.baseline_workflows import EmptyWorkflow, ShapeWorkflow, UpsertWorkflow, nothing
from bench.progress import Progress
from bench.stack import free_port, process_cpu_seconds, stop_process
from core.temporal import ensure_search_attributes
from devstack.temporal_server import start_dev_server, wait_until_serving


@dataclass(frozen=True)
class Variant:
    label: str
    workflow: str
    eager: bool
    search_attributes: bool


VARIANTS = [
    Variant("empty, eager (the ceiling)", "BenchEmptyWorkflow", True, False),
    Variant("+ four search attributes", "BenchEmptyWorkflow", True, True),
    Variant("  not eager (the floor)", "BenchEmptyWorkflow", False, True),
    Variant("+ the status upsert", "BenchUpsertWorkflow", True, True),
    Variant("+ two local activities (shape)", "BenchShapeWorkflow", True, True),
    Variant("  not eager (shape, as Herald)", "BenchShapeWorkflow", False, True),
]


async def decompose(client: Client, server: psutil.Process, n: int, rounds: int,
                    concurrency: int) -> list[dict[str, Any]]:
    queue = f"decompose-{uuid.uuid4().hex[:8]}"
    me = psutil.Process()
    attributes: TypedSearchAttributes = started_like_herald()
    rates: dict[str, list[float]] = {v.label: [] for v in VARIANTS}
    server_ms: dict[str, list[float]] = {v.label: [] for v in VARIANTS}
    own_ms: dict[str, list[float]] = {v.label: [] for v in VARIANTS}
    async with Worker(client, task_queue=queue, workflows=[EmptyWorkflow, UpsertWorkflow, ShapeWorkflow],
                      activities=[nothing], workflow_runner=UnsandboxedWorkflowRunner()):
        await drive(client, "BenchShapeWorkflow", queue, 50, concurrency, True, Progress("warm-up", 50), attributes)
        for round_ in range(rounds):
            for v in VARIANTS:
                server0, own0 = process_cpu_seconds(server), process_cpu_seconds(me)
                progress = Progress(f"{round_ + 1}/{rounds} {v.label}", n)
                rate = await drive(client, v.workflow, queue, n, concurrency, v.eager, progress,
                                    attributes if v.search_attributes else None)
                progress.close(f"{rate:.1f} workflows/s")
                rates[v.label].append(rate)
                server_ms[v.label].append(1000 * (process_cpu_seconds(server) - server0) / n)
                own_ms[v.label].append(1000 * (process_cpu_seconds(me) - own0) / n)
    ceiling = statistics.median(rates[VARIANTS[0].label])
    return [{"variant": v.label, "wf_per_s": round(statistics.median(rates[v.label]), 1),
             "ratio_to_ceiling": round(statistics.median(rates[v.label]) / ceiling, 2),
             "server_cpu_ms": round(statistics.median(server_ms[v.label]), 1),
             "client_and_worker_cpu_ms": round(statistics.median(own_ms[v.label]), 1)} for v in VARIANTS]


async def run(n: int, rounds: int, concurrency: int) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="hdecompose-", dir="/tmp"))
    port = free_port()
    process = start_dev_server(None, port, None, work / "temporal.log")
    try:
        client = await wait_until_serving(f"127.0.0.1:{port}", process)
        await ensure_search_attributes(client, "default")
        return await decompose(client, psutil.Process(process.pid), n, rounds, concurrency)
    finally:
        stop_process(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=0, help="workflows per variant per round (default 300, quick 100)")
    parser.add_argument("--rounds", type=int, default=0, help="default 3, quick 1")
    parser.add_argument("--c", type=int, default=20, help="starts in flight")
    parser.add_argument("--quick", action="store_true", help="one small round: about 20 seconds")
    args = parser.parse_args()
    args.n = args.n or (100 if args.quick else 300)
    args.rounds = args.rounds or (1 if args.quick else 3)
    rows = asyncio.run(run(args.n, args.rounds, args.c))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = ("decompose-quick-" if args.quick else "decompose-") + datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"n": args.n, "rounds": args.rounds, "concurrency": args.c,
                                "machine": machine(), "variants": rows}, indent=2) + "\n")
    width = max(len(r["variant"]) for r in rows)
    print(f"{'variant':<{width}}  {'wf/s':>6}  {'x ceiling':>9}  {'server ms':>9}  {'client+worker ms':>16}")
    for r in rows:
        print(f"{r['variant']:<{width}}  {r['wf_per_s']:>6}  {r['ratio_to_ceiling']:>9}  {r['server_cpu_ms']:>9}  "
              f"{r['client_and_worker_cpu_ms']:>16}")
    print(f"(medians of the rounds; CPU per workflow)\nresults: {path}")


if __name__ == "__main__":
    main()
