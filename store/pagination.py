"""Opaque keyset cursors: the sort key of the last row returned, base64-encoded JSON.

A cursor comes back from the client, so it is input like any other: it decodes to exactly the types its list
sorts by, or it is refused. A forged cursor of the right width but the wrong types must never reach a query.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

# What a cursor position may hold: text keys (ids, names), bigint ids, and timestamps (ISO 8601 with a zone).
CursorKind = type[str] | type[int] | type[datetime]
MAX_TEXT = 1024
MAX_CURSOR_CHARS = 4096
_BIGINT = 2**63


class BadCursor(ValueError):
    pass


_NOT_OURS = "cursor is not one this API issued"


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def _value(raw: Any, kind: CursorKind) -> Any:
    if kind is datetime:
        if not isinstance(raw, str) or len(raw) > 64:
            raise BadCursor(_NOT_OURS)
        try:
            at = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise BadCursor(_NOT_OURS) from exc
        if at.tzinfo is None:
            raise BadCursor(_NOT_OURS)
        return at
    if kind is int:
        # bool is an int to Python, not to a cursor; ids are bigint.
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw < _BIGINT:
            raise BadCursor(_NOT_OURS)
        return raw
    if not isinstance(raw, str) or len(raw) > MAX_TEXT or "\x00" in raw:
        raise BadCursor(_NOT_OURS)
    try:
        raw.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate: not text PostgreSQL can compare
        raise BadCursor(_NOT_OURS) from exc
    return raw


def decode_cursor(cursor: str | None, *kinds: CursorKind) -> list[Any] | None:
    """The cursor's values, one per kind and of that kind (timestamps as aware datetimes); BadCursor otherwise."""
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor(_NOT_OURS)
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeEncodeError, RecursionError) as exc:
        raise BadCursor(_NOT_OURS) from exc
    if not isinstance(values, list) or len(values) != len(kinds):
        raise BadCursor(_NOT_OURS)
    return [_value(raw, kind) for raw, kind in zip(values, kinds, strict=True)]
