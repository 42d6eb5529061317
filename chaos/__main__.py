"""`make chaos` (`python -m chaos`): each scenario breaks a real stack under load, then the ledger checks that
every accepted notification was delivered, dead-lettered or canceled exactly once. `--quick` is CI's form."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos import ledger
from chaos.scenarios import FULL, QUICK, SCENARIOS
from chaos.stack import start_stack

RESULTS = Path(__file__).parent / "results"


async def run(names: list[str], quick: bool) -> int:
    size = QUICK if quick else FULL
    results: dict[str, Any] = {}
    failed: list[str] = []
    stack = await start_stack()
    try:
        await ledger.ensure_template(stack)
        for name in names:
            print(f"▶ {name} (n={size.n})", flush=True)
            started = time.monotonic()
            try:
                outcome = await SCENARIOS[name](stack, size)
            except Exception as exc:  # a scenario that crashes is a failed scenario, reported with the rest
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
            verdict = outcome.pop("verdict", None)
            ok = "error" not in outcome and verdict is not None and verdict.ok and outcome.get("check", True)
            results[name] = {"ok": ok, "seconds": round(time.monotonic() - started, 1),
                             **({"ledger": verdict.as_dict()} if verdict else {}), **_plain(outcome)}
            if not ok:
                failed.append(name)
            print(f"  {'ok  ' if ok else 'FAIL'} {json.dumps(results[name])}", flush=True)
    finally:
        await stack.close()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    document = {"at": stamp, "quick": quick, "size": size.__dict__, "scenarios": results}
    # latest*.json holds complete runs only: a run of some scenarios keeps just its dated file.
    complete = set(names) == set(SCENARIOS)
    latest = [RESULTS / ("latest-quick.json" if quick else "latest.json")] if complete else []
    for path in (RESULTS / f"{stamp}.json", *latest):
        path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\n{len(names) - len(failed)}/{len(names)} scenarios held; results in {RESULTS}")
    return 1 if failed else 0


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small loads and short outages (CI)")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these scenarios")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.only or list(SCENARIOS), args.quick)))


if __name__ == "__main__":
    main()
