"""Bench part `providers`: the worker-side CPU of one send through each vendor adapter, next to the generic
signed HTTP gateway, in the same run.

The vendors' doubles (tests/vendors/) run in a child process (bench/provider_doubles.py), so this
process's CPU time (`time.process_time`) is the adapter's alone: building the request, signing it, the HTTP
exchange on the client's side, and reading the answer. After a warm-up (connections, an OAuth token, imports),
the sends go in rounds: each round runs one short block of sends through every adapter and the gateway, in an
order shuffled anew each round (a few sends in flight), and compares each adapter with the gateway's block of
that same round. A change in the machine's load, a pass of the garbage collector or the order of the blocks
then falls on adapters and gateway alike, and the median over the rounds leaves out the rounds a burst
of load fell on; the interquartile range of those per-round extras says how far to trust the median.

    python -m bench --only providers [--quick]
"""

from __future__ import annotations

import asyncio
import base64
import gc
import importlib
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.stack import ROOT
from providers.base import OutgoingMessage, Provider
from providers.egress import Allowlist
from providers.http_gateway import HttpGatewayProvider, sms_payload

GATEWAY = "gateway"
CHANNEL_OF = {"gateway": "sms", "sendgrid": "email", "mailgun": "email", "postmark": "email", "ses": "email",
              "twilio": "sms", "vonage": "sms", "slack": "chat", "msteams": "chat", "discord": "chat",
              "telegram": "chat", "fcm": "push", "apns": "push"}
BUDGET_MS = 1.0  # what an adapter may add to a send over the gateway
# Rounds of short blocks: the more rounds, the less one burst of load moves the median. A block stays long
# enough (a few tens of ms of CPU) for the clock's own cost and the start of a block not to count.
ROUNDS = 20
MIN_BLOCK = 10
WARM_UP = 20
# A few sends in flight, as a worker has: the wait for a double's answer then overlaps, and the part ends sooner.
IN_FLIGHT = 4
LOOPBACK = Allowlist.parse("127.0.0.1")
SECRET = "whsec_" + base64.b64encode(b"bench-gateway-secret-0123456789ab").decode()


def build(name: str, config: dict[str, Any], client: httpx.AsyncClient) -> Provider:
    if name == GATEWAY:
        return HttpGatewayProvider(GATEWAY, client, SECRET, sms_payload, config["url"], timeout_s=10)
    module: Any = importlib.import_module(f"providers.{name}")
    return module.build(name, module.Config.model_validate(config), client,  # type: ignore[no-any-return]
                        deadline_s=10, allow=LOOPBACK)


def message(name: str, address: str) -> OutgoingMessage:
    channel = CHANNEL_OF[name]
    html = "<p>Your order shipped. It arrives on Tuesday.</p>" if channel == "email" else None
    return OutgoingMessage(notification_id=uuid.uuid4().hex, channel=channel, address=address,
                           subject="Your order shipped", body="It arrives on Tuesday.", user_id=None, attempt=1,
                           html=html)


def start_doubles(only: set[str], tries: int = 3) -> tuple[subprocess.Popen[str], dict[str, dict[str, Any]]]:
    """The doubles' process and each adapter's config. Each double is given a port that was free when asked for and
    binds it a moment later; another socket may take it meanwhile, and then the process starts again with new
    ports."""
    for _ in range(tries):
        process = subprocess.Popen([sys.executable, "-m", "bench.provider_doubles", *sorted(only)], cwd=ROOT,
                                   text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdout is not None
        line = process.stdout.readline()
        if line:
            adapters: dict[str, dict[str, Any]] = json.loads(line)
            return process, adapters
        process.wait()
        print("  providers: the vendor doubles did not start (see stderr above); starting them again", flush=True)
    raise RuntimeError(f"the vendor doubles did not start in {tries} tries (see stderr above)")


def stop_doubles(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rounds_for(sends: int) -> tuple[int, int]:
    """How `sends` per adapter split: (rounds, sends per block), at most ROUNDS rounds of at least MIN_BLOCK
    sends while there are enough."""
    rounds = max(1, min(ROUNDS, sends // MIN_BLOCK))
    return rounds, max(sends // rounds, 1)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """The first quartile, the median and the third quartile (all three the value itself when alone)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    low, median, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, median, high


async def _block(sender: Provider, outgoing: list[OutgoingMessage]) -> tuple[float, float]:
    """The CPU and wall seconds of sending `outgoing`, IN_FLIGHT at a time."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for first in range(0, len(outgoing), IN_FLIGHT):
        await asyncio.gather(*(sender.send(one) for one in outgoing[first:first + IN_FLIGHT]))
    return time.process_time() - cpu0, time.perf_counter() - wall0


async def measure(sends: int, only: frozenset[str] = frozenset(), rounds: int | None = None,
                  seed: int | None = None) -> dict[str, Any]:
    """About `sends` sends through each adapter, or those in `only`, and the gateway, in rounds (default: see
    `rounds_for`); per adapter the median CPU ms per send and the median of its per-round extra over the
    gateway, with the interquartile range of those extras. `seed` fixes the blocks' order (tests)."""
    process, adapters = start_doubles(set(only))
    names = list(adapters)
    count, per_block = rounds_for(sends) if rounds is None else (rounds, max(sends // rounds, 1))
    shuffler = random.Random(seed)
    cpu_ms: dict[str, list[float]] = {n: [] for n in names}
    wall_ms: dict[str, list[float]] = {n: [] for n in names}
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "Herald"}) as client:
            senders = {n: build(n, adapters[n]["config"], client) for n in names}
            for name, sender in senders.items():
                for _ in range(WARM_UP):
                    await sender.send(message(name, adapters[name]["address"]))
            # The warm-up's garbage is no block's.
            gc.collect()
            order = list(names)
            for _ in range(count):
                shuffler.shuffle(order)
                for name in order:
                    outgoing = [message(name, adapters[name]["address"]) for _ in range(per_block)]
                    cpu_s, wall_s = await _block(senders[name], outgoing)
                    cpu_ms[name].append(1000 * cpu_s / per_block)
                    wall_ms[name].append(1000 * wall_s / per_block)
            for sender in senders.values():
                if hasattr(sender, "aclose"):  # APNs holds its own HTTP/2 connection
                    await sender.aclose()
    finally:
        stop_doubles(process)
    extra: dict[str, tuple[float, float, float]] = {
        n: quartiles([cpu - gateway for cpu, gateway in zip(cpu_ms[n], cpu_ms[GATEWAY], strict=True)])
        for n in names if n != GATEWAY}
    return {"sends_each": per_block * count, "rounds": count, "sends_per_block": per_block,
            "seconds": round(time.monotonic() - started, 1), "budget_ms": BUDGET_MS,
            "cpu_ms_per_send": {n: round(statistics.median(cpu_ms[n]), 3) for n in names},
            "wall_ms_per_send": {n: round(statistics.median(wall_ms[n]), 3) for n in names},
            "extra_cpu_ms_over_gateway": {n: round(q[1], 3) for n, q in extra.items()},
            "extra_cpu_ms_iqr": {n: [round(q[0], 3), round(q[2], 3)] for n, q in extra.items()}}


def table_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    gateway = result["cpu_ms_per_send"][GATEWAY]
    rounds = result.get("rounds", 1)
    rows = [(f"providers: worker CPU ms per send ({result['sends_each']} sends each, median of {rounds} rounds), "
             "gateway", f"{gateway} ms")]
    spread = result.get("extra_cpu_ms_iqr", {})
    for name, extra in result["extra_cpu_ms_over_gateway"].items():
        verdict = "ok" if extra <= result["budget_ms"] else f"OVER the {result['budget_ms']} ms budget"
        iqr = f", IQR {spread[name][0]:+.3f} to {spread[name][1]:+.3f}" if name in spread else ""
        rows.append((f"  {name}: CPU ms per send, extra over the gateway",
                     f"{result['cpu_ms_per_send'][name]} ms, {extra:+.3f} ms{iqr} ({verdict})"))
    return rows


def draw(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    extra = result["extra_cpu_ms_over_gateway"]
    spread = result.get("extra_cpu_ms_iqr", {})
    # Error bars from the median down to the first quartile and up to the third (none in older results).
    errors = [[extra[n] - spread[n][0] if n in spread else 0.0 for n in extra],
              [spread[n][1] - extra[n] if n in spread else 0.0 for n in extra]]
    fig, axes = plt.subplots(figsize=(9, 4.5))
    axes.bar(list(extra), list(extra.values()), yerr=errors, capsize=3,
             color=["tab:red" if v > result["budget_ms"] else "tab:blue" for v in extra.values()])
    axes.axhline(result["budget_ms"], color="tab:red", linestyle="--", label=f"budget {result['budget_ms']} ms")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel("extra worker CPU ms per send (median, IQR)")
    axes.set_title(f"Vendor adapters over the signed HTTP gateway ({result['cpu_ms_per_send'][GATEWAY]} ms/send), "
                   f"{result['sends_each']} sends each in {result.get('rounds', 1)} rounds")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    plt.setp(axes.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
