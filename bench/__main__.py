"""`make bench` / `python -m bench`: Herald's throughput and latency next to Temporal's own floor, in one run.

    python -m bench                 N=2000 notifications, C=20 in flight, 10,000-user broadcast
    python -m bench --quick         every part at a small size (under three minutes)
    python -m bench --soak 600      steady load for ten minutes: RSS growth and deadlock warnings
    python -m bench --temporal HOST:PORT --database-url URL    Herald's processes against existing servers

Parts: ceiling (empty workflows, eager, unsandboxed), floor (empty workflows started like Herald's: not eager,
with the four search attributes), naive (three regular activities, default sandbox),
herald end to end (and with eager start), the ceiling again (on the server the eager parts filled; Herald's
processes idle beside it), ingest (through the API, to `delivered` in PostgreSQL), mixed (5% flaky, 1% rejected),
broadcast, scale-out (1 vs 2 workers), dashboard pages (10,000 notifications stored; quick: 2,000) and the
inbox feed's first page (10,000 items in one user's inbox, quick too),
retention (accept p99 while 1,000,000 aged-out notifications are deleted; quick: 100,000), peer (a polling
worker on a PostgreSQL queue doing the same work: CPU per notification next to Herald's), providers (worker CPU
per send through each vendor adapter next to the signed HTTP gateway; not in --quick, which it would lengthen),
feedback (vendors' signed delivery feedback at 1,000 events/s for 30 s, to an API process of their own, beside
50 sends/s, then checked applied exactly once; quick: 200 events/s for 5 s).
    python -m bench --only retention,peer [--quick]    those parts alone (with a Herald run for the peer)
    python -m bench --only providers [--quick]         the vendor adapters alone: no Temporal or PostgreSQL
    python -m bench --only feedback [--quick] [--feedback-api shared]   delivery feedback ingestion alone
Each part that measures throughput or latency under load starts on an empty Temporal dev server (with
--temporal, all run on that one). Writes bench/results/<date>.json, latest.json and a PNG chart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil

from bench import baseline, feedback, load, pages, peer, providers, retention, targets
from bench.broadcast import run_broadcast
from bench.chart import draw, draw_soak
from bench.progress import Progress
from bench.stack import DRAIN_NICE, ROOT, Stack, db_pool, start_stack

RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    from temporalio import __version__ as sdk

    from devstack.temporal_server import temporal_binary

    server = subprocess.run([temporal_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    return {"cores": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "temporalio": sdk, "temporal_cli": server,
            "platform": platform.platform()}


def stolen_pct(steal_before: float, seconds: float) -> float:
    """Share of the cores' time the hypervisor gave to other guests since `steal_before` (psutil's `steal`).

    On a shared VM this swings from a few percent to half; runs with much of it are not comparable."""
    return round(100 * (psutil.cpu_times().steal - steal_before) / max(seconds * (psutil.cpu_count() or 1), 1e-9), 1)


def busy_pct(before: Any) -> float:
    """Share of the machine's cores busy since `before` (psutil.cpu_times()), whoever kept them busy: on a shared
    machine other work takes cores this stack's own CPU per notification does not show."""
    after = psutil.cpu_times()
    idle = float(after.idle - before.idle) + float(getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
    total = float(sum(after) - sum(before))
    return round(100 * (1 - idle / max(total, 1e-9)), 1)


async def herald_run(stack: Stack, label: str, n: int, concurrency: int, sim: str | None = None,
                     seed: int = 7) -> dict[str, Any]:
    """N notifications through the API, C requests in flight; waits until PostgreSQL has them all final."""
    rng = random.Random(seed)

    def body(index: int) -> dict[str, Any]:
        return load.body_for(index, sim or "ok") if sim != "mixed" else load.body_for(index, load.mixed_address(rng))

    pool = await db_pool(stack)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
            await load.prepare(http)
            cpu0, machine0 = stack.cpu_seconds(), psutil.cpu_times()
            steal0 = psutil.cpu_times().steal
            progress = Progress(f"{label}: send", n)
            sent = load.Sent(started=time.monotonic())
            # Finished notifications are counted while the requests still go out: the chart shows both.
            finishing = Progress(f"{label}: final", n, quiet=True)
            final = asyncio.create_task(load.wait_final(pool, sent.ids, finishing, check=stack.check_alive,
                                                        all_sent=lambda: sent.ended > 0))
            async with load.Sender(stack.api_url, stack.headers) as sender:
                await load.closed_loop(sender, n, concurrency, body, progress, sent)
            progress.close(f"{sent.accept_per_s:.1f} accepted/s")
            finishing.quiet = False
            done = await final
            elapsed = done.last_final_at - sent.started
            # End to end counts what reached `delivered` in PostgreSQL; anything else ended is in `by_status`.
            delivered = done.by_status.get("delivered", 0)
            finishing.close(f"{delivered / elapsed:.1f}/s end to end")
            cpu1, machine_busy = stack.cpu_seconds(), busy_pct(machine0)
            steal = stolen_pct(steal0, elapsed)
            attempts = await pool.fetchval(
                "SELECT coalesce(sum(attempts), 0) FROM delivery WHERE notification_id = ANY($1::text[])", sent.ids)
    finally:
        await pool.close()
    return {
        "n": n, "concurrency": concurrency, "accepted": len(sent.ids), "refused": sent.rejected,
        "accept_per_s": round(sent.accept_per_s, 1), "e2e_per_s": round(delivered / elapsed, 1),
        "seconds": round(elapsed, 1), "by_status": done.by_status,
        "accept_p50_ms": round(load.percentile(sent.latencies_ms, 50), 1),
        "accept_p95_ms": round(load.percentile(sent.latencies_ms, 95), 1),
        "accept_p99_ms": round(load.percentile(sent.latencies_ms, 99), 1),
        "retries": int(attempts) - len(sent.ids),
        "cpu_ms_per_notification": {k: round(1000 * (cpu1[k] - cpu0[k]) / max(n, 1), 1) for k in cpu0},
        "steal_pct": steal, "machine_busy_pct": machine_busy,
        "timeline": {"t": [round(t - sent.started, 2) for t, _ in done.timeline],
                     "final": [count for _, count in done.timeline],
                     "accepted_t": [round(t - sent.started, 2) for t in sent.done_at],
                     "accept_ms": [round(ms, 1) for ms in sent.latencies_ms]},
    }


async def ingest_run(stack: Stack, rate: float, seconds: float, worker_after: bool = False) -> dict[str, Any]:
    """Accept latency under a steady open-loop load (the requests do not wait for each other).

    `worker_after`: no worker runs while the requests go in (the accept path alone: API, PostgreSQL and the
    Temporal start); one starts after, and the backlog runs before the next part.
    """
    pool = await db_pool(stack)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
            await load.prepare(http)
        async with load.Sender(stack.api_url, stack.headers) as sender:
            backlog: list[str] = []
            if worker_after:
                # A fresh API's first requests pay for imports, connections and caches: at the measured rate, as
                # the pool opens only the connections a rate needs, and each new one prepares its statements.
                warm = int(rate * 3)
                backlog = (await load.open_loop(sender, rate, 3, load.body_for, Progress("warm-up", warm))).ids
            alone = ", no worker" if worker_after else ""
            progress = Progress(f"ingest at {rate:.0f}/s{alone}", int(rate * seconds))
            cpu0, machine0 = stack.cpu_seconds(), psutil.cpu_times()
            sent = await load.open_loop(sender, rate, seconds, load.body_for, progress)
            cpu1, machine_busy = stack.cpu_seconds(), busy_pct(machine0)
            progress.close()
            if worker_after:
                stack.start_worker()
            # Let the backlog finish before the next part, so parts do not overlap.
            backlog += sent.ids
            await load.wait_final(pool, backlog, Progress("ingest: drain", len(backlog)), check=stack.check_alive)
    finally:
        await pool.close()
    return {"rate_per_s": rate, "seconds": seconds, "accepted": len(sent.ids), "refused": sent.rejected,
            "accept_p50_ms": round(load.percentile(sent.latencies_ms, 50), 1),
            "accept_p95_ms": round(load.percentile(sent.latencies_ms, 95), 1),
            "accept_p99_ms": round(load.percentile(sent.latencies_ms, 99), 1), "machine_busy_pct": machine_busy,
            # While the requests went in, per accepted request (the workers' share is work on earlier ones).
            "cpu_ms_per_accept": {k: round(1000 * (cpu1[k] - cpu0[k]) / max(len(sent.ids), 1), 1) for k in cpu0}}


async def on_fresh_server(stack: Stack, workers: int = 1, api_env: dict[str, str] | None = None) -> None:
    """Herald's API and `workers` workers, on an empty Temporal server when the stack runs its own."""
    await stack.fresh_temporal()
    stack.stop_api()
    stack.stop_workers()
    for _ in range(workers):
        stack.start_worker()
    await stack.start_api(api_env)


async def soak(stack: Stack, seconds: float, rate: float) -> dict[str, Any]:
    """A steady load for `seconds`; RSS sampled every 10 s. Growth compares the last minute with the first
    minute after warm-up."""
    samples: list[tuple[float, dict[str, float]]] = []
    pool = await db_pool(stack)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
            await load.prepare(http)
            progress = Progress("soak", int(seconds))

            async def sample() -> None:
                while True:
                    samples.append((time.monotonic() - started, stack.rss_mb()))
                    progress.update(int(time.monotonic() - started))
                    await asyncio.sleep(10)

            sampler = asyncio.create_task(sample())
            sending = Progress("soak: sending", int(rate * seconds))
            async with load.Sender(stack.api_url, stack.headers) as sender:
                sent = await load.open_loop(sender, rate, seconds, load.body_for, sending)
            await load.wait_final(pool, sent.ids, Progress("soak: drain", len(sent.ids)), check=stack.check_alive)
            sampler.cancel()
            progress.close()
    finally:
        await pool.close()
    warm = [s for t, s in samples if 60 <= t < 120] or [samples[0][1]]
    last = [s for t, s in samples if t >= samples[-1][0] - 60] or [samples[-1][1]]
    growth = {k: round(100 * (sum(s[k] for s in last) / len(last) / (sum(s[k] for s in warm) / len(warm)) - 1), 1)
              for k in warm[0]}
    logs = "".join(p.read_text(errors="replace") for p in stack.work.glob("*.log"))
    deadlocks = len(re.findall(r"TMPRL1101|[Pp]otential deadlock", logs))
    return {"seconds": seconds, "rate_per_s": rate, "accepted": len(sent.ids), "rss_growth_pct": growth,
            "deadlock_warnings": deadlocks, "rss_samples": [(round(t), s) for t, s in samples]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    n = args.n or (300 if quick else 2000)
    c = args.c
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
                              "machine": machine()}
    steal0, run_started = psutil.cpu_times().steal, time.monotonic()
    if "providers" in args.only or not (args.only or args.quick or args.soak):
        # Sends through each adapter: --n only when the part runs alone (it is not a notification count).
        result["providers"] = await providers.measure(args.n if args.only and args.n else (200 if quick else 1000))
        if args.only == {"providers"}:
            return result
    stack = await start_stack(args.temporal, args.database_url)
    print(f"stack: {stack.work} (Temporal {stack.temporal_address})", file=sys.stderr)
    try:
        if args.only:
            stack.start_worker()
            await stack.start_api()
            await herald_run(stack, "warm-up", 50, 10)
            herald = await herald_run(stack, "herald e2e", n, c) if "peer" in args.only else {}
            await anchor_parts(stack, args, result, herald)
            return result
        if args.soak:
            stack.start_worker()
            await stack.start_api()
            result["soak"] = await soak(stack, args.soak, args.soak_rate)
            return result
        steal = result["steal_pct_by_part"] = {}
        part_cpu = result["cpu_ms_per_workflow_by_part"] = {}

        async def measured(part: str, rate: Awaitable[float], count: int = n) -> float:
            """`rate`'s value, with the VM's steal and each process's CPU per workflow (warm-up included)."""
            steal0, started, cpu0 = psutil.cpu_times().steal, time.monotonic(), stack.cpu_seconds()
            value = await rate
            cpu1 = stack.cpu_seconds()
            steal[part] = stolen_pct(steal0, time.monotonic() - started)
            workflows = count + min(count, baseline.WARM_UP)
            part_cpu[part] = {k: round(1000 * (cpu1[k] - cpu0[k]) / workflows, 2) for k in cpu0 if cpu1[k] > cpu0[k]}
            return round(value, 1)

        # Every part that measures throughput or latency under load starts on an empty Temporal server: the
        # in-memory dev server costs more per workflow the more histories it holds (Stack.fresh_temporal).
        await stack.fresh_temporal()
        result["ceiling_wf_per_s"] = await measured("ceiling", baseline.ceiling(stack.temporal_address, n, c))
        await stack.fresh_temporal()
        result["floor_wf_per_s"] = await measured("floor", baseline.floor(stack.temporal_address, n, c))
        naive_n = max(n // 2, 100)
        await stack.fresh_temporal()
        result["naive_wf_per_s"] = await measured("naive", baseline.naive(stack.temporal_address, naive_n, c),
                                                  naive_n)
        # Bounds: Herald's history with no work in it, started not eagerly and eagerly (as the outbox starts it).
        await stack.fresh_temporal()
        result["shape_wf_per_s"] = await measured("shape", baseline.shape(stack.temporal_address, n, c, False))
        await stack.fresh_temporal()
        result["shape_eager_wf_per_s"] = await measured("shape_eager",
                                                        baseline.shape(stack.temporal_address, n, c, True))

        await on_fresh_server(stack, workers=0)
        # The accept path alone, no worker taking CPU from it: what bounds accept latency at the ingest rate.
        alone = await ingest_run(stack, args.ingest_rate, 5 if quick else 30, worker_after=True)
        result["ingest_alone"] = alone
        result["accept_alone_p99_ms"] = alone["accept_p99_ms"]
        await on_fresh_server(stack)
        # Warm-up: first requests pay for imports, connections and caches.
        await herald_run(stack, "warm-up", 50, 10)
        e2e = await herald_run(stack, "herald e2e", n, c)
        result["herald"] = e2e
        result["e2e_per_s"] = e2e["e2e_per_s"]
        steal["herald"] = e2e["steal_pct"]
        result["accept_per_s"] = e2e["accept_per_s"]

        # The same load with HERALD_EAGER_START: the API runs the workflows it starts (docs/operations.md).
        await on_fresh_server(stack, api_env={"HERALD_EAGER_START": "true"})
        await herald_run(stack, "warm-up, eager", 50, 10)
        eager = await herald_run(stack, "herald e2e, eager start", n, c)
        result["herald_eager"] = {k: v for k, v in eager.items() if k != "timeline"}
        result["e2e_eager_per_s"] = eager["e2e_per_s"]
        steal["herald_eager"] = eager["steal_pct"]
        # What eager start does to accept latency at the ingest rate: the API process runs workflows too.
        result["ingest_eager"] = await ingest_run(stack, args.ingest_rate, 5 if quick else 30)
        stack.stop_api()
        await stack.start_api()
        # The in-memory dev server costs more CPU per workflow as it fills: the same ceiling once more, on the
        # server the eager parts filled, says how much.
        result["ceiling_later_wf_per_s"] = await measured(
            "ceiling_later", baseline.ceiling(stack.temporal_address, n, c, "ceiling again (server as full)"))
        result["ceiling_later_after_workflows"] = 50 + eager["n"] + result["ingest_eager"]["accepted"]

        # Accepting beside the drain, all at the same CPU priority, then with the drain below the API as
        # docs/operations.md recommends on shared cores (HERALD_WORKER_NICE): the target is judged on the second.
        await on_fresh_server(stack)
        result["ingest_equal_priority"] = await ingest_run(stack, args.ingest_rate, 5 if quick else 30)
        with stack.drain_niced():
            ingest = await ingest_run(stack, args.ingest_rate, 5 if quick else 30)
        ingest["drain_nice"] = DRAIN_NICE
        result["ingest"] = ingest
        for key in ("accept_p50_ms", "accept_p95_ms", "accept_p99_ms"):
            result[key] = ingest[key]
        # At 100/s the machine is past what it can finish (see e2e): latency there is queueing. At half the
        # measured end-to-end rate it is the accept path itself, what a service running within its capacity sees.
        steady = max(1.0, round(e2e["e2e_per_s"] / 2))
        result["ingest_steady"] = await ingest_run(stack, steady, 10 if quick else 30)

        mixed = await herald_run(stack, "herald mixed", n, c, sim="mixed")
        lost = mixed["accepted"] - sum(mixed["by_status"].get(s, 0) for s in ("delivered", "dead_lettered"))
        result["mixed"] = {k: v for k, v in mixed.items() if k != "timeline"}
        result["mixed_success_rate"] = round(mixed["by_status"].get("delivered", 0) / max(mixed["accepted"], 1), 4)
        result["mixed_lost"] = lost
        result["mixed_retries"] = mixed["retries"]
        result["mixed_dead_lettered"] = mixed["by_status"].get("dead_lettered", 0)

        users = args.broadcast_users or (500 if quick else 10_000)
        await on_fresh_server(stack)
        broadcast = await run_broadcast(stack, users)
        result["broadcast"] = broadcast
        result["broadcast_s"] = broadcast["seconds"]
        result["broadcast_worker_peak_rss_mb"] = broadcast["worker_peak_rss_mb"]
        result["broadcast_max_history_events"] = broadcast["max_history_events"]

        await on_fresh_server(stack, workers=2)
        await herald_run(stack, "warm-up, 2 workers", 50, 10)
        scale = await herald_run(stack, "herald, 2 workers", n, c)
        result["scaleout_two_workers_per_s"] = scale["e2e_per_s"]
        result["scaleout_ratio"] = round(scale["e2e_per_s"] / max(e2e["e2e_per_s"], 1e-9), 2)

        result["pages"] = await pages.measure(stack, 2000 if quick else 10_000)
        result["pages_ms"] = {path: r["p95_ms"] for path, r in result["pages"]["pages"].items()}
        await anchor_parts(stack, args, result, e2e)
    finally:
        await stack.close()
        result["steal_pct"] = stolen_pct(steal0, time.monotonic() - run_started)
    result["ratio_e2e_to_ceiling"] = round(result["e2e_per_s"] / result["ceiling_wf_per_s"], 2)
    result["ratio_e2e_to_naive"] = round(result["e2e_per_s"] / result["naive_wf_per_s"], 2)
    result["ratio_e2e_to_floor"] = round(result["e2e_per_s"] / result["floor_wf_per_s"], 2)
    result["ratio_e2e_eager_to_ceiling"] = round(result["e2e_eager_per_s"] / result["ceiling_wf_per_s"], 2)
    result["ratio_e2e_eager_to_naive"] = round(result["e2e_eager_per_s"] / result["naive_wf_per_s"], 2)
    result["ratio_e2e_to_ceiling_later"] = round(result["e2e_per_s"] / result["ceiling_later_wf_per_s"], 2)
    result["ratio_shape_to_ceiling"] = round(result["shape_wf_per_s"] / result["ceiling_wf_per_s"], 2)
    result["ratio_shape_eager_to_ceiling"] = round(result["shape_eager_wf_per_s"] / result["ceiling_wf_per_s"], 2)
    result["ratio_e2e_to_shape"] = round(result["e2e_per_s"] / result["shape_wf_per_s"], 2)
    result["ratio_e2e_to_shape_eager"] = round(result["e2e_per_s"] / result["shape_eager_wf_per_s"], 2)
    result["targets"] = [v.as_json() for v in targets.verdicts(result)]
    return result


async def anchor_parts(stack: Stack, args: argparse.Namespace, result: dict[str, Any],
                       herald: dict[str, Any]) -> None:
    """Retention's cost to the accept path, the classic queue worker's CPU next to Herald's (`herald`, a run of
    this stack), and delivery feedback's."""
    if not args.only or "retention" in args.only:
        if not args.only:
            await on_fresh_server(stack)
        with stack.drain_niced():  # as the accept target is judged: both phases compare the deletion alone
            result["retention"] = await retention.measure(stack, 100_000 if args.quick else 1_000_000,
                                                          args.ingest_rate, 10 if args.quick else 30)
        result["retention"]["drain_nice"] = DRAIN_NICE
    if not args.only or "peer" in args.only:
        result["peer"] = await peer.measure(stack, herald["n"])
        result["peer"]["herald_cpu_ms_per_notification"] = peer.herald_cpu_ms(herald)
        result["peer"]["herald_e2e_per_s"] = herald["e2e_per_s"]
        result["peer"]["herald_cpu_ms_by_process"] = herald["cpu_ms_per_notification"]
    if not args.only or "feedback" in args.only:
        result["feedback"] = await feedback.measure(stack, 200 if args.quick else 1000, 5 if args.quick else 30,
                                                    feedback.SEND_RATE, own_api=args.feedback_api == "own")


def anchor_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    rows = retention.table_rows(result["retention"]) if "retention" in result else []
    rows += providers.table_rows(result["providers"]) if "providers" in result else []
    rows += peer.table_rows(result["peer"]) if "peer" in result else []
    return rows + (feedback.table_rows(result["feedback"]) if "feedback" in result else [])


def uneven_steal(result: dict[str, Any]) -> bool:
    """The parts a ratio compares ran with more than 10 points apart of their CPU stolen by other guests."""
    parts: dict[str, float] = result["steal_pct_by_part"]
    return max(parts.values()) - min(parts.values()) > 10


def table(result: dict[str, Any]) -> str:
    rows = [
        ("ceiling: empty workflow, eager, unsandboxed", f"{result['ceiling_wf_per_s']} workflows/s"),
        ("floor: empty workflow started like Herald's", f"{result['floor_wf_per_s']} workflows/s"),
        ("naive: 3 regular activities, sandboxed", f"{result['naive_wf_per_s']} workflows/s"),
        ("shape: Herald's history with no work, started like Herald's", f"{result['shape_wf_per_s']} workflows/s"),
        ("  shape / ceiling (what herald / ceiling cannot pass)", f"{result['ratio_shape_to_ceiling']}"),
        ("shape, eager start", f"{result['shape_eager_wf_per_s']} workflows/s"),
        ("  shape eager / ceiling", f"{result['ratio_shape_eager_to_ceiling']}"),
        ("herald end to end (API -> delivered)", f"{result['e2e_per_s']} notifications/s"),
        ("  herald / ceiling", f"{result['ratio_e2e_to_ceiling']}"),
        ("  herald / naive", f"{result['ratio_e2e_to_naive']}"),
        ("  herald / floor", f"{result['ratio_e2e_to_floor']}"),
        ("  herald / shape", f"{result['ratio_e2e_to_shape']}"),
        ("  herald / shape eager", f"{result['ratio_e2e_to_shape_eager']}"),
        ("herald end to end, eager start (HERALD_EAGER_START)", f"{result['e2e_eager_per_s']} notifications/s"),
        ("  eager / ceiling", f"{result['ratio_e2e_eager_to_ceiling']}"),
        ("  eager / naive", f"{result['ratio_e2e_eager_to_naive']}"),
        (f"ceiling again, on the server holding the eager parts' {result.get('ceiling_later_after_workflows', '')} "
         "workflows", f"{result['ceiling_later_wf_per_s']} workflows/s"),
        ("  herald / that ceiling", f"{result['ratio_e2e_to_ceiling_later']}"),
        ("herald accepted (closed loop)", f"{result['accept_per_s']} requests/s"),
        (f"accept latency at {result['ingest']['rate_per_s']:.0f}/s p50/p95/p99, drain at nice "
         f"{result['ingest'].get('drain_nice', 0)}",
         f"{result['accept_p50_ms']} / {result['accept_p95_ms']} / {result['accept_p99_ms']} ms "
         f"({result['ingest']['refused']} of {result['ingest']['accepted'] + result['ingest']['refused']} refused)"),
        *([("  the same, drain at the API's priority",
            f"{result['ingest_equal_priority']['accept_p50_ms']} / {result['ingest_equal_priority']['accept_p95_ms']}"
            f" / {result['ingest_equal_priority']['accept_p99_ms']} ms")] if "ingest_equal_priority" in result else []),
        ("  the same, eager start", f"{result['ingest_eager']['accept_p50_ms']} / "
         f"{result['ingest_eager']['accept_p95_ms']} / {result['ingest_eager']['accept_p99_ms']} ms"),
        (f"  the accept path alone (no worker running) at {result['ingest_alone']['rate_per_s']:.0f}/s",
         f"{result['ingest_alone']['accept_p50_ms']} / {result['ingest_alone']['accept_p95_ms']} / "
         f"{result['accept_alone_p99_ms']} ms"),
        ("  CPU ms per accepted request, accept path alone",
         ", ".join(f"{k} {v}" for k, v in result["ingest_alone"]["cpu_ms_per_accept"].items() if k != "workers")),
        (f"accept latency at {result['ingest_steady']['rate_per_s']:.0f}/s (half of e2e) p50/p95/p99",
         f"{result['ingest_steady']['accept_p50_ms']} / {result['ingest_steady']['accept_p95_ms']} / "
         f"{result['ingest_steady']['accept_p99_ms']} ms"),
        ("mixed: success rate, retries, dead-lettered, lost",
         f"{result['mixed_success_rate']:.2%}, {result['mixed_retries']}, {result['mixed_dead_lettered']}, "
         f"{result['mixed_lost']}"),
        (f"broadcast to {result['broadcast']['users']} users",
         f"{result['broadcast_s']} s, worker peak {result['broadcast_worker_peak_rss_mb']} MiB, "
         f"max {result['broadcast_max_history_events']} events/run"),
        ("scale-out: 2 workers / 1 worker", f"{result['scaleout_ratio']}"),
        ("CPU time stolen by the hypervisor (shared VM): whole run", f"{result['steal_pct']}%"),
        ("  by part: " + ", ".join(result["steal_pct_by_part"]),
         ", ".join(f"{v}%" for v in result["steal_pct_by_part"].values())
         + ("  (uneven: the ratios above compare unequal machines)" if uneven_steal(result) else "")),
        ("CPU ms per notification (e2e)", ", ".join(f"{k} {v}" for k, v in
                                                      result["herald"]["cpu_ms_per_notification"].items())),
        ("CPU ms per notification (eager)", ", ".join(f"{k} {v}" for k, v in
                                                        result["herald_eager"]["cpu_ms_per_notification"].items())),
        *pages.table_rows(result["pages"]),
        *anchor_rows(result),
        *targets.table_rows(result),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=0, help="notifications per part (default 2000, quick 300); "
                        "with --only providers, sends per adapter (default 1000, quick 200)")
    parser.add_argument("--c", type=int, default=20, help="requests (or workflow starts) in flight")
    parser.add_argument("--quick", action="store_true", help="every part small: under three minutes")
    parser.add_argument("--soak", type=float, default=0, help="seconds of steady load instead of the parts")
    parser.add_argument("--soak-rate", type=float, default=10.0, help="requests per second during the soak")
    parser.add_argument("--ingest-rate", type=float, default=100.0, help="open-loop rate for accept latency")
    parser.add_argument("--broadcast-users", type=int, default=0)
    parser.add_argument("--temporal", help="an existing Temporal frontend (default: start a dev server)")
    parser.add_argument("--database-url", help="an existing PostgreSQL (default: an embedded one)")
    parser.add_argument("--feedback-api", choices=("shared", "own"), default="own",
                        help="part feedback: post the callbacks to an API process of their own, below the "
                             "accepting one (a deployment routing /v1/feedback apart), or to the accepting API")
    parser.add_argument("--only", type=lambda v: set(v.split(",")), default=set(),
                        help="run only these of the parts retention,peer,providers,feedback")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the stack's servers and data are cleaned up either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    result = asyncio.run(run(args))
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    name = ("soak-" if args.soak else "") + ("only-" if args.only else "") + ("quick-" if args.quick else "") + stamp
    text = json.dumps(result, indent=2) + "\n"
    (RESULTS / f"{name}.json").write_text(text)
    if args.only:
        rows = anchor_rows(result)
        width = max(len(r[0]) for r in rows)
        print("\n".join(f"{label:<{width}}  {value}" for label, value in rows))
        print(f"\nresults: {RESULTS / (name + '.json')}")
        if "providers" in result:
            providers.draw(result["providers"], RESULTS / f"{name}-providers.png")
            print(f"chart:   {RESULTS / (name + '-providers.png')}")
    elif not args.soak:
        (RESULTS / ("latest-quick.json" if args.quick else "latest.json")).write_text(text)
        chart = RESULTS / f"{name}.png"
        draw(result, chart)
        if "providers" in result:
            providers.draw(result["providers"], RESULTS / f"{name}-providers.png")
        print(table(result))
        print(f"\nresults: {RESULTS / (name + '.json')}\nchart:   {chart}")
        if result["mixed_lost"] != 0:
            sys.exit("FAILED: some accepted notification was neither delivered nor dead-lettered")
    else:
        soak_result = result["soak"]
        print(json.dumps({k: v for k, v in soak_result.items() if k != "rss_samples"}, indent=2))
        chart = RESULTS / f"{name}.png"
        draw_soak(result, chart)
        print(f"\nresults: {RESULTS / (name + '.json')}\nchart:   {chart}")
    if "feedback" in result and not result["feedback"]["check"]["exactly_once"]:
        sys.exit("FAILED: some feedback event was lost or applied twice")


if __name__ == "__main__":
    main()
