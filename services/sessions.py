"""A background loop that must outlive the failures of what it talks to (the outbox starter, the status relay)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def keep_running(session: Callable[[], Awaitable[None]], what: str, pause_s: float,
                       log: logging.Logger) -> None:
    """Runs `session` until cancelled; after any failure (PostgreSQL or Temporal away) waits `pause_s` and runs it
    again. The work it does waits in PostgreSQL meanwhile."""
    while True:
        try:
            await session()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s interrupted: %s", what, exc, extra={"error": str(exc)})
            await asyncio.sleep(pause_s)
