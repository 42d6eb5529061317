"""An API process that dies the moment it has stored a new notification, before it starts the workflow: the
crash the reconciler and a client's retry recover from.

`python -m chaos.crash_after_store --port N` (settings from the environment, as for the API). The fault is
installed here, from outside: Herald's own code has no failpoint and never reads one.
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

import uvicorn

from store import notifications

if TYPE_CHECKING:
    from store.db import Executor


def install() -> None:
    """Wraps the insert every accept goes through; the first row it creates kills the process."""
    store = notifications.insert_many

    async def insert_then_die(conn: Executor, rows: Sequence[notifications.NewNotification]
                              ) -> list[notifications.NotificationRecord]:
        created = await store(conn, rows)
        if created:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no answer: as if the machine went away
        return created

    notifications.insert_many = insert_then_die


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, required=True)
    given = args.parse_args()
    install()
    uvicorn.run("api.app:app", factory=True, host=given.host, port=given.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
