"""Payload encryption: every payload Herald hands Temporal (workflow inputs with addresses and template data,
activity arguments and results, signals) is sealed with AES-256-GCM before it leaves the process, so the
Temporal server, its database and its Web UI hold ciphertext. Search attributes are not payloads: they stay
readable, which is why Herald puts only ids and enums in them.

Keys come from HERALD_PAYLOAD_KEYS, "id:base64key,id:base64key": the first seals, every one opens, so a key
can be rotated by putting a new one first and dropping the old one once no open workflow needs it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


def parse_keys(value: str, setting: str = "HERALD_PAYLOAD_KEYS") -> dict[str, bytes]:
    """"id:base64,id:base64" → {id: 32-byte key}, in order (the first seals). Raises ValueError with the reason,
    naming `setting`."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id:
            raise ValueError(f"{setting}: each key is <id>:<base64 of 32 bytes>")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"{setting}: key '{key_id}' is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"{setting}: key '{key_id}' must be 32 bytes (AES-256), not {len(key)}")
        keys[key_id] = key
    return keys


def new_key_spec(key_id: str) -> str:
    """A fresh "id:base64" entry for HERALD_PAYLOAD_KEYS."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]):
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
        self._seal_id = next(iter(keys))
        self._seal = AESGCM(keys[self._seal_id])
        self._open = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        sealed = []
        for payload in payloads:
            nonce = os.urandom(12)
            # The key id is bound as associated data: a payload cannot be passed off under another key's id.
            data = nonce + self._seal.encrypt(nonce, payload.SerializeToString(), self._seal_id.encode())
            sealed.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self._seal_id.encode()}, data=data))
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = []
        for payload in payloads:
            # Payloads written before encryption was turned on are plain: they still read.
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            if key_id not in self._open:
                raise ValueError(f"payload sealed with key '{key_id}', which HERALD_PAYLOAD_KEYS does not hold")
            nonce, sealed = payload.data[:12], payload.data[12:]
            try:
                opened_bytes = self._open[key_id].decrypt(nonce, sealed, key_id.encode())
            except InvalidTag:
                raise ValueError(f"payload sealed with key '{key_id}' failed authentication: altered or "
                                 "sealed with another key of that id") from None
            plain = Payload()
            plain.ParseFromString(opened_bytes)
            opened.append(plain)
        return opened
