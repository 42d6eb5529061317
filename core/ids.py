"""Identifiers derived from the idempotency key alone, so a repeated request can never make a second workflow."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid

# Fixed namespace: changing it would change every id, so it never changes.
_NAMESPACE = uuid.UUID("5d1c8f0e-6a55-4b8e-9f3e-4c1f2d0a7b11")


def new_idempotency_key() -> str:
    return secrets.token_hex(16)


def notification_id_for_key(key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, key))


# Herald's own keys start `schedule:`, `broadcast:` or `digest:` and are derived as they always were, so the
# workflows already running keep their ids. A client's key is always moved under this prefix and its API key's
# id, so no client key can ever spell an internal one, and two API keys never share a key.
CLIENT_KEY_PREFIX = "client:"


def client_key(key_id: str, key: str) -> str:
    """The stored form of a client's idempotency key: scoped to the API key (`key_id`) that sent it."""
    return f"{CLIENT_KEY_PREFIX}{key_id}:{key}"


def client_key_shown(stored: str, key_id: str | None) -> str:
    """The key as its client sent it (rows stored before keys were scoped show theirs unchanged)."""
    prefix = f"{CLIENT_KEY_PREFIX}{key_id}:"
    return stored.removeprefix(prefix) if key_id is not None else stored


def request_fingerprint(body: dict[str, object]) -> str:
    """A stable hash of a request body: same content in any key order gives the same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A new key's public id and the key itself. The id is inside the key, so logs and support can name a key
    by its id without ever holding the secret part."""
    key_id = f"key_{secrets.token_hex(6)}"
    return key_id, f"hk_{key_id.removeprefix('key_')}_{secrets.token_urlsafe(32)}"
