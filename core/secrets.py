"""Secrets that default to a generated value, generated once and kept in the data dir so every process of one
installation (API, workers, restarts) shares it."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings


def persisted(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    if not path.exists():
        _publish(path, make())
    value = path.read_text().strip()
    if not value:
        raise RuntimeError(f"{path} is empty: delete it and restart to generate a new {name}")
    return value


def _publish(path: Path, value: str) -> None:
    """Write the whole file under a private name, then link it into place: a reader sees no file or the
    complete value, never an empty one, and the link fails if another process got there first, so every
    process of the installation agrees on the first value published."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)


def new_admin_key() -> str:
    return f"hk_{secrets.token_urlsafe(24)}"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def admin_key(settings: Settings) -> str:
    return settings.admin_key or persisted(settings.data_dir, "admin_key", new_admin_key)


def webhook_secret(settings: Settings) -> str:
    return settings.webhook_secret or persisted(settings.data_dir, "webhook_secret", new_webhook_secret)
