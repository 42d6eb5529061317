"""Secrets at rest: an integration's secret fields sealed with AES-256-GCM under HERALD_INTEGRATION_KEYS.

The keys work as HERALD_PAYLOAD_KEYS do (core/codec.py): "id:base64,id:base64", the first seals, every one
opens. To rotate, put a new key first; every integration written from then on is sealed with it, and
`herald integrations reseal` seals the others again, after which the old key can go.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.codec import new_key_spec, parse_keys
from core.secrets import persisted
from core.settings import Settings

SETTING = "HERALD_INTEGRATION_KEYS"


class SealError(Exception):
    """A sealed value this process cannot open: its key is not held, or the value was altered."""


class SecretBox:
    def __init__(self, keys: dict[str, bytes]):
        if not keys:
            raise ValueError(f"{SETTING} needs at least one key")
        self.seal_id = next(iter(keys))
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}

    def seal(self, secrets: dict[str, str], owner: str) -> bytes:
        """`secrets` sealed with the first key; `owner` (the integration's id) is bound as associated data, so a
        sealed value copied onto another row does not open there."""
        nonce = os.urandom(12)
        return nonce + self._aead[self.seal_id].encrypt(nonce, json.dumps(secrets).encode(), _aad(self.seal_id,
                                                                                                   owner))

    def open(self, sealed: bytes, key_id: str, owner: str) -> dict[str, str]:
        if key_id not in self._aead:
            raise SealError(f"sealed with key '{key_id}', which {SETTING} does not hold")
        try:
            plain = self._aead[key_id].decrypt(sealed[:12], sealed[12:], _aad(key_id, owner))
        except InvalidTag:
            raise SealError(f"sealed value of '{owner}' failed authentication under key '{key_id}'") from None
        opened: Any = json.loads(plain)
        return {str(k): str(v) for k, v in opened.items()}


def _aad(key_id: str, owner: str) -> bytes:
    return f"{key_id}\0{owner}".encode()


def secret_box(settings: Settings) -> SecretBox:
    """The installation's box: HERALD_INTEGRATION_KEYS, else a key generated once in the data dir."""
    spec = settings.integration_keys or persisted(settings.data_dir, "integration_keys",
                                                  lambda: new_key_spec("k1"))
    return SecretBox(parse_keys(spec, SETTING))
