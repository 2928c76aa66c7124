"""The shortcuts on the action's path behave exactly like the long way round.

``scripts/bench`` times the action against ``rest_command``; the fast paths it
led to (the schema's, the task match's, the request slots, the URL cache) must
never change an answer, only how long it takes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import voluptuous as vol

from custom_components.plex_butler import api
from custom_components.plex_butler.api import PlexButlerClient
from custom_components.plex_butler.services import START_TASK_SCHEMA
from custom_components.plex_butler.tasks import match_task

from .plex_simulator import CURRENT_TASKS, OLD_TASKS

# --- the action's schema ---------------------------------------------------------


class _Text(str):
    """A str subclass, as YAML loaders and templates hand over."""


def _outcome(schema: vol.Schema, data: Any) -> tuple[str, Any]:
    try:
        result = schema(data)
    except vol.Invalid as err:
        return "invalid", str(err)
    assert result is not data  # a copy, as voluptuous makes
    return "valid", (result, list(result))  # the keys' order too


@pytest.mark.parametrize(
    "data",
    [
        {"config_entry_id": "abc", "task": "OptimizeDatabase"},
        {"task": "optimize_database", "config_entry_id": "abc"},
        {"config_entry_id": _Text("abc"), "task": _Text("OptimizeDatabase")},
        {"config_entry_id": "abc", "task": ""},
        {"config_entry_id": "abc", "task": 42},
        {"config_entry_id": 7, "task": "OptimizeDatabase"},
        {"config_entry_id": "abc", "task": None},
        {"config_entry_id": "abc", "task": ["OptimizeDatabase"]},
        {"config_entry_id": "abc", "extra": "OptimizeDatabase"},
        {"config_entry_id": "abc", "task": "OptimizeDatabase", "extra": 1},
        {"config_entry_id": "abc"},
        {},
        "abc",
        None,
    ],
)
def test_schema_fast_path_answers_as_voluptuous(data: Any) -> None:
    """Same result, or the same error, as the plain schema it stands in for."""
    plain = vol.Schema(START_TASK_SCHEMA.schema)
    assert _outcome(START_TASK_SCHEMA, data) == _outcome(plain, data)


# --- matching a task name ---------------------------------------------------------


@pytest.mark.parametrize(
    "requested",
    [
        "OptimizeDatabase",
        "optimize_database",
        "OPTIMIZE-DATABASE",
        "generate_intro_markers",
        "butler_task_generate_intro_markers",
        "refresh_epg_guides",
        "nothing_like_it",
        "",
        "___",
    ],
)
def test_match_on_the_task_dict_as_on_the_sorted_list(requested: str) -> None:
    """The action passes the task dict itself: same answers as the sorted names."""
    for tasks in (CURRENT_TASKS, OLD_TASKS):
        by_name = {task.name: task for task in tasks}
        assert match_task(requested, by_name) == match_task(requested, sorted(by_name))


def test_match_keeps_the_first_name_in_order_when_spellings_collide() -> None:
    """Two names folding alike: the first in name order wins, whatever the dict order."""
    tasks = {"Optimize_Database": 1, "OptimizeDatabase": 2, "optimize-database": 3}
    assert match_task("optimizedatabase", tasks) == sorted(tasks)[0]


# --- request slots ---------------------------------------------------------------


async def _take(slots: Any, name: str, order: list[str]) -> None:
    await slots.acquire()
    order.append(name)


async def test_slots_are_handed_out_in_arrival_order() -> None:
    """Waiters get a released slot first come, first served; nobody overtakes."""
    slots = api._Slots(1)
    assert slots.try_acquire()
    order: list[str] = []
    waiters = [asyncio.create_task(_take(slots, name, order)) for name in "abc"]
    await asyncio.sleep(0)
    assert not slots.try_acquire()  # free slots go to the queue, not to newcomers

    for expected in (["a"], ["a", "b"], ["a", "b", "c"]):
        slots.release()
        await asyncio.sleep(0)
        assert order == expected
        assert not slots.try_acquire()
    await asyncio.gather(*waiters)
    slots.release()
    assert slots.try_acquire()


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    """A waiter that gives up (a timeout) leaves the queue; the next one is served."""
    slots = api._Slots(1)
    assert slots.try_acquire()
    order: list[str] = []
    first = asyncio.create_task(_take(slots, "first", order))
    second = asyncio.create_task(_take(slots, "second", order))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)

    slots.release()
    await second
    assert order == ["second"]
    slots.release()
    assert slots.try_acquire()
    assert not slots.try_acquire()


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_passes_on() -> None:
    """Handed a slot but cancelled before it ran: the slot goes to the next waiter."""
    slots = api._Slots(1)
    assert slots.try_acquire()
    order: list[str] = []
    first = asyncio.create_task(_take(slots, "first", order))
    second = asyncio.create_task(_take(slots, "second", order))
    await asyncio.sleep(0)
    slots.release()  # to "first", which has not run yet...
    first.cancel()  # ...and never will
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert order == ["second"]
    slots.release()
    assert slots.try_acquire()
    assert not slots.try_acquire()


async def test_slot_wait_times_out_and_leaves_the_queue() -> None:
    """A bounded wait that expires takes nothing away from later requests."""
    slots = api._Slots(1)
    assert slots.try_acquire()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await slots.acquire()
    slots.release()
    assert slots.try_acquire()


# --- request URLs ----------------------------------------------------------------


async def test_request_urls_are_built_once_and_bounded() -> None:
    """One URL object per path, reused; names a server never had cannot grow it."""
    async with aiohttp.ClientSession() as session:
        client = PlexButlerClient(
            session, "http://plex.local:32400/", "token", client_identifier="id"
        )
        first = client._url("/butler/OptimizeDatabase")
        assert str(first) == "http://plex.local:32400/butler/OptimizeDatabase"
        assert client._urls["/butler/OptimizeDatabase"] is first
        assert "token" not in str(first)
        for index in range(3 * api._MAX_CACHED_URLS):
            client._url(f"/butler/Unknown{index}")
        assert len(client._urls) <= api._MAX_CACHED_URLS
        assert api._task_path("A name/with?odd#chars") == (
            "/butler/A%20name%2Fwith%3Fodd%23chars"
        )
