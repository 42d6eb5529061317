"""Bench part `providers`: the worker-side CPU of one send through each vendor adapter, next to the generic
signed HTTP gateway, in the same run.

The vendors' doubles (tests/vendors/, moto for SES) run in a child process (bench/provider_doubles.py), so this
process's CPU time (`time.process_time`) is the adapter's alone: building the request, signing it, the HTTP
exchange on the client's side, and reading the answer. After a warm-up (connections, an OAuth token, imports),
the sends go in rounds, every adapter in turn (a few sends in flight), so a change in the machine's load falls
on all of them alike.

    python -m bench --only providers [--quick]
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
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
ROUNDS = 5
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


def start_doubles(only: set[str]) -> tuple[subprocess.Popen[str], dict[str, dict[str, Any]]]:
    process = subprocess.Popen([sys.executable, "-m", "bench.provider_doubles", *sorted(only)], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the vendor doubles did not start (see stderr above)")
    adapters: dict[str, dict[str, Any]] = json.loads(line)
    return process, adapters


def stop_doubles(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def measure(sends: int, only: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`sends` sends through each adapter, or those in `only`, and the gateway; CPU ms per send and the extra
    over the gateway."""
    process, adapters = start_doubles(set(only))
    names = list(adapters)
    cpu_s = dict.fromkeys(names, 0.0)
    wall_s = dict.fromkeys(names, 0.0)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "Herald"}) as client:
            senders = {n: build(n, adapters[n]["config"], client) for n in names}
            for name, sender in senders.items():
                for _ in range(WARM_UP):
                    await sender.send(message(name, adapters[name]["address"]))
            per_round = max(sends // ROUNDS, 1)
            for _ in range(ROUNDS):
                for name, sender in senders.items():
                    outgoing = [message(name, adapters[name]["address"]) for _ in range(per_round)]
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    for first in range(0, per_round, IN_FLIGHT):
                        await asyncio.gather(*(sender.send(one) for one in outgoing[first:first + IN_FLIGHT]))
                    cpu_s[name] += time.process_time() - cpu0
                    wall_s[name] += time.perf_counter() - wall0
            for sender in senders.values():
                if hasattr(sender, "aclose"):  # APNs holds its own HTTP/2 connection
                    await sender.aclose()
    finally:
        stop_doubles(process)
    total = per_round * ROUNDS
    cpu_ms = {n: round(1000 * cpu_s[n] / total, 3) for n in names}
    return {"sends_each": total, "seconds": round(time.monotonic() - started, 1), "budget_ms": BUDGET_MS,
            "cpu_ms_per_send": cpu_ms,
            "wall_ms_per_send": {n: round(1000 * wall_s[n] / total, 3) for n in names},
            "extra_cpu_ms_over_gateway": {n: round(cpu_ms[n] - cpu_ms[GATEWAY], 3) for n in names if n != GATEWAY}}


def table_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    gateway = result["cpu_ms_per_send"][GATEWAY]
    rows = [(f"providers: worker CPU ms per send ({result['sends_each']} sends each), gateway",
             f"{gateway} ms")]
    for name, extra in result["extra_cpu_ms_over_gateway"].items():
        verdict = "ok" if extra <= result["budget_ms"] else f"OVER the {result['budget_ms']} ms budget"
        rows.append((f"  {name}: CPU ms per send, extra over the gateway",
                     f"{result['cpu_ms_per_send'][name]} ms, {extra:+.3f} ms ({verdict})"))
    return rows


def draw(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    extra = result["extra_cpu_ms_over_gateway"]
    fig, axes = plt.subplots(figsize=(9, 4.5))
    axes.bar(list(extra), list(extra.values()), color=["tab:red" if v > result["budget_ms"] else "tab:blue"
                                                      for v in extra.values()])
    axes.axhline(result["budget_ms"], color="tab:red", linestyle="--", label=f"budget {result['budget_ms']} ms")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel("extra worker CPU ms per send")
    axes.set_title(f"Vendor adapters over the signed HTTP gateway ({result['cpu_ms_per_send'][GATEWAY]} ms/send), "
                   f"{result['sends_each']} sends each")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    plt.setp(axes.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
