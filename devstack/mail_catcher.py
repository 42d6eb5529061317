"""A local SMTP server for `make up` when no SMTP relay is configured: real mail arrives, nothing leaves the
machine, and each message is kept as a `.eml` file under HERALD_DATA_DIR/mail/."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _KeepAsFiles:
    def __init__(self, directory: Path):
        self._directory = directory
        self._counter = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._counter):05d}.eml"
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        # Written whole under a hidden name, then renamed: the outbox page never reads half a message.
        partial = self._directory / f".{name}"
        partial.write_bytes(content)
        partial.rename(self._directory / name)
        return "250 OK: kept by Herald's mail catcher"


class MailCatcher:
    def __init__(self, directory: Path, host: str, port: int):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._controller = Controller(_KeepAsFiles(directory), hostname=host, port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def wanted(environ: dict[str, str]) -> bool:
    """The catcher runs only when the operator configured no relay at all."""
    return not environ.get("HERALD_SMTP_HOST") and not environ.get("HERALD_SMTP_PORT")
