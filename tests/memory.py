"""Measure what a stretch of a test leaves alive, without the harness's noise.

A leak grows with every repetition; the harness keeps things too, but a bounded
amount or by design. These helpers let a test see only the first kind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
import gc
import logging
import tracemalloc

import aiohttp
from homeassistant.util.async_ import get_scheduled_timer_handles

# One frame is enough for IGNORED, and deeper traces make the test slow.
TRACE_FRAMES = 1
# Cancelled timers added at once to make the loop sweep its heap (see settle).
_SWEEP_TIMERS = 1000

# Allocations made in these files are not counted: the simulator and
# aiohttp's server under it (the server's side of the link, and the request
# log the simulator keeps for the tests by design), and tracemalloc's own.
IGNORED = ("*/tests/plex_simulator.py", "*/aiohttp/web_*.py", tracemalloc.__file__)

# Objects whose number must come back: a leak of the listener keeps them.
WATCHED = (
    asyncio.Future,
    asyncio.Task,
    asyncio.Handle,
    aiohttp.ClientResponse,
    aiohttp.ClientWebSocketResponse,
)


async def settle() -> None:
    """Let the loop drop cancelled timers, then collect garbage.

    asyncio leaves a cancelled TimerHandle in its heap until it reaches the
    head, or until over half of more than 100 handles are cancelled. Each keeps
    its debug-mode ``_source_traceback`` (1-3 kB) alive meanwhile, so without
    a sweep two snapshots differ by up to ~100 such handles whatever the
    integration did. Cancelling many fresh timers crosses the threshold, and
    the loop's next turn removes every cancelled handle.
    """
    loop = asyncio.get_running_loop()
    for _ in range(3):  # a callback of the same turn may cancel another one
        if not any(h.cancelled() for h in get_scheduled_timer_handles(loop)):
            break
        for _ in range(_SWEEP_TIMERS):
            loop.call_later(3600, _never).cancel()
        await asyncio.sleep(0)
    gc.collect()


@contextmanager
def records_dropped(*loggers: str) -> Iterator[None]:
    """Let these loggers' records be made and then dropped, not kept.

    pytest keeps every record of a test for its report, so each "lost" and
    "back" would count as growth. Here they go to a NullHandler instead, as
    in Home Assistant a record goes to handlers that write it and let it go.
    asyncio's debug warnings about slow callbacks (tracing makes them slow)
    are dropped the same way.
    """
    saved: list[tuple[logging.Logger, bool]] = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.propagate = False
        logger.addHandler(_DROP)
    try:
        yield
    finally:
        for logger, propagate in saved:
            logger.removeHandler(_DROP)
            logger.propagate = propagate


_DROP = logging.NullHandler()


def _never() -> None:
    """A timer callback that is cancelled before it could run."""


def count_watched() -> Counter[str]:
    """How many objects of each WATCHED type are alive (uncancelled timers)."""
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        if isinstance(obj, WATCHED) and not (
            isinstance(obj, asyncio.Handle) and obj.cancelled()
        ):
            counts[type(obj).__name__] += 1
    return counts


def growth(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot
) -> tuple[int, list[tuple[str, int]]]:
    """Bytes allocated and still alive, and the five files that kept most."""
    ignore = [tracemalloc.Filter(False, pattern) for pattern in IGNORED]
    stats = after.filter_traces(ignore).compare_to(
        before.filter_traces(ignore), "filename"
    )
    largest = sorted(stats, key=lambda s: -s.size_diff)[:5]
    return sum(s.size_diff for s in stats), [
        (str(s.traceback), s.size_diff) for s in largest
    ]
