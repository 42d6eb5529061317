"""What accepting reads before it checks a request, kept between requests.

Templates, their layouts and includes change rarely and are read on every accept: the heaviest statement of the
accept path (a recursive query building JSON). A process keeps what it read, under the template catalog's
version as of that read (migration 029), and the next accept for the same templates reads only that version
with its users. Any write to templates, translations or layouts changes the version in the writing
transaction, so a kept read is used only while nothing it came from has changed: an accept sees a template
saved before it, whichever process saved it, exactly as without the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from store import templates
from store.templates import ForAccept

if TYPE_CHECKING:
    from store.db import Executor

Asked = tuple[tuple[str, int | None], ...]  # (template, version asked; None: the latest), sorted


class AcceptReads:
    """One process's kept reads, by the templates asked. `most` bounds them: a bulk request that asks for many
    combinations of templates cannot grow the process without end."""

    def __init__(self, most: int = 256) -> None:
        self._most = most
        self._catalog: int | None = None
        self._kept: dict[Asked, ForAccept] = {}

    async def read(self, conn: Executor, asked: Sequence[tuple[str, int | None]],
                   user_ids: Sequence[str]) -> ForAccept:
        key = tuple(asked)
        kept = self._kept.get(key)
        if kept is not None:
            catalog, users = await templates.catalog_and_users(conn, user_ids)
            if catalog is not None and catalog == kept.catalog:  # None: no catalog row, nothing can be trusted
                return replace(kept, users=users)
        reads = await templates.for_accept(conn, asked, user_ids)
        if reads.catalog != self._catalog or len(self._kept) >= self._most:
            self._kept.clear()  # whatever was kept under another version is stale, or older than this read
            self._catalog = reads.catalog
        self._kept[key] = replace(reads, users={})
        return reads
