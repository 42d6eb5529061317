"""The load generator times requests with its garbage collector off, however its timing phases overlap."""

from __future__ import annotations

import asyncio
import gc

from bench.load import collector_paused


async def test_the_collector_stays_off_until_the_last_overlapping_phase_ends() -> None:
    assert gc.isenabled()
    first_in, second_in, first_out = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen: list[tuple[str, bool]] = []

    async def first() -> None:  # the accepts: start first, end first
        with collector_paused():
            first_in.set()
            await second_in.wait()
            seen.append(("first timing", gc.isenabled()))
        first_out.set()

    async def second() -> None:  # the feedback beside them: starts later, ends last
        await first_in.wait()
        with collector_paused():
            second_in.set()
            await first_out.wait()
            seen.append(("second timing, first ended", gc.isenabled()))

    await asyncio.gather(first(), second())
    assert seen == [("first timing", False), ("second timing, first ended", False)]
    assert gc.isenabled()


def test_an_error_in_a_phase_gives_the_collector_back() -> None:
    try:
        with collector_paused():
            raise ValueError("the phase failed")
    except ValueError:
        pass
    assert gc.isenabled()
