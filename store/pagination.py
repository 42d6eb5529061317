"""Opaque keyset cursors: the sort key of the last row returned, base64-encoded JSON."""

from __future__ import annotations

import base64
import json
from typing import Any


class BadCursor(ValueError):
    pass


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def decode_cursor(cursor: str | None, width: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise BadCursor("cursor is not one this API issued") from exc
    if not isinstance(values, list) or len(values) != width:
        raise BadCursor("cursor is not one this API issued")
    return values
