"""`herald worker`, `herald api`: the long-running processes. The development stack (`make up`) and the
benchmark (`make bench`) live in the source tree, not in the installed package."""

from __future__ import annotations

import argparse


def worker(_: argparse.Namespace) -> int:
    from hosting.workers import main as worker_main

    worker_main()
    return 0


def api(_: argparse.Namespace) -> int:
    import uvicorn

    from core.settings import get_settings
    from store.db import require_database

    settings = get_settings()
    require_database(settings)
    uvicorn.run("api.app:app", factory=True, host=settings.api_host, port=settings.api_port,
                timeout_graceful_shutdown=int(settings.graceful_shutdown_s))
    return 0

