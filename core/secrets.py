"""Secrets that default to a generated value, generated once and kept in the data dir so every process of one
installation (API, workers, restarts) shares it."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings


def persisted(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    try:
        # O_EXCL: two processes starting together agree on the first value written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(make() + "\n")
    return path.read_text().strip()


def new_admin_key() -> str:
    return f"hk_{secrets.token_urlsafe(24)}"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def admin_key(settings: Settings) -> str:
    return settings.admin_key or persisted(settings.data_dir, "admin_key", new_admin_key)


def webhook_secret(settings: Settings) -> str:
    return settings.webhook_secret or persisted(settings.data_dir, "webhook_secret", new_webhook_secret)
