"""Rows become typed records here: every query result leaves `store/` as a frozen dataclass, never a dict."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

import asyncpg


class _FromColumns(Protocol):
    def __init__(self, **columns: Any) -> None: ...


R = TypeVar("R", bound=_FromColumns)


def one(record_type: type[R], row: asyncpg.Record | None) -> R | None:
    """The row as `record_type` (its fields named as the query's columns), or None when there was no row."""
    return None if row is None else record_type(**dict(row.items()))


def many(record_type: type[R], rows: Iterable[asyncpg.Record]) -> list[R]:
    return [record_type(**dict(row.items())) for row in rows]


def grouped(record_type: type[R], rows: Iterable[asyncpg.Record], by: str) -> dict[Any, list[R]]:
    """The rows as `record_type`, in lists by their column `by`, which is not one of the record's fields."""
    groups: dict[Any, list[R]] = {}
    for row in rows:
        columns = dict(row.items())
        groups.setdefault(columns.pop(by), []).append(record_type(**columns))
    return groups
