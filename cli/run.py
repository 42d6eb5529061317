"""`herald up`, `herald worker`, `herald api`, `herald bench`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys


def up(_: argparse.Namespace) -> int:
    from devstack.__main__ import main as devstack_main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    return asyncio.run(devstack_main())


def worker(_: argparse.Namespace) -> int:
    from worker import main as worker_main

    worker_main()
    return 0


def api(_: argparse.Namespace) -> int:
    import uvicorn

    from core.settings import get_settings

    settings = get_settings()
    uvicorn.run("api.app:app", factory=True, host=settings.api_host, port=settings.api_port,
                timeout_graceful_shutdown=int(settings.graceful_shutdown_s))
    return 0


def bench(args: argparse.Namespace) -> int:
    from bench.__main__ import main as bench_main

    sys.argv = ["herald bench", *args.bench_args]
    bench_main()
    return 0
