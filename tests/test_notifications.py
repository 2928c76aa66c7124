"""The notification websocket: connect, lose, refuse, garble, and clean up.

Every test drives the real listener against the simulator's websocket. The
backoff sleeps are ended by firing the loop's timers (``async_fire_time_changed``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
import gc
import logging
import tracemalloc

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    flush_store,
)

from custom_components.plex_butler import api

from .common import eventually, poll, poll_with_freezer, until, wait_for_push
from .memory import TRACE_FRAMES, count_watched, growth, records_dropped, settle
from .plex_simulator import PlexSimulator

BUSY = "binary_sensor.living_room_plex_busy"
ACTIVITIES = "sensor.living_room_plex_activities"
LOGGER = "custom_components.plex_butler"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _backoff_passes(hass: HomeAssistant) -> None:
    """End the listener's backoff sleep (at most 60 s) by firing the timers."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))


def _urls_after(plex: PlexSimulator, index: int) -> list[str]:
    return [r.url for r in plex.requests[index:]]


async def test_connects_with_the_token_in_a_header(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    await wait_for_push(hass, plex)
    await init_integration.runtime_data.hass.config_entries.async_unload(
        init_integration.entry_id
    )
    [socket] = plex.requests_to("GET", "/:/websockets/notifications")
    assert socket.headers["X-Plex-Token"] == plex.token
    assert socket.query_string == ""
    assert socket.status == 101


async def test_drop_polls_activities_then_reconnects_and_catches_up(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Lost: the poll reads /activities too. Back: one catch-up read. Logged once each."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    await wait_for_push(hass, plex)
    plex.websocket = "refuse"
    await plex.drop_websockets()
    await until(hass, lambda: not plex.sockets)
    # Two failed attempts while refused; the loss is logged once.
    for _ in range(2):
        _backoff_passes(hass)
        for _ in range(200):  # the loop's clock is frozen: yield, don't sleep
            await asyncio.sleep(0)

    activity = plex.start_activity("library.update.section", "Scanning Movies")
    before = len(plex.requests)
    await poll_with_freezer(hass, freezer)
    polled = [u for u in _urls_after(plex, before) if "websockets" not in u]
    assert polled == ["/butler", "/:/prefs", "/activities", "/library/sections"]
    assert _state(hass, BUSY) == STATE_ON

    plex.websocket = "open"
    plex.end_activity(activity.uuid)
    _backoff_passes(hass)
    await wait_for_push(hass, plex, connects=2)
    assert _state(hass, BUSY) == STATE_OFF  # caught up by the read after connecting

    before = len(plex.requests)
    await poll_with_freezer(hass, freezer)
    assert _urls_after(plex, before) == ["/butler", "/:/prefs", "/library/sections"]

    lost = [r for r in caplog.records if "Lost the push connection" in r.getMessage()]
    back = [
        r
        for r in caplog.records
        if "push connection" in r.getMessage() and "back" in r.getMessage()
    ]
    assert len(lost) == 1
    assert lost[0].levelno == logging.WARNING
    assert len(back) == 1


async def test_a_server_that_goes_away_is_unavailable_at_once(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Busy must not go on saying "running" for minutes after the server died.

    The lost connection is followed by one read of the activities; it fails,
    so the activity entities are unavailable without waiting for a poll. They
    come back with the server.
    """
    await wait_for_push(hass, plex)
    plex.start_activity("library.update.section", "Scanning Movies")
    await until(hass, lambda: _state(hass, BUSY) == STATE_ON)

    await plex.stop()
    await until(hass, lambda: _state(hass, BUSY) == STATE_UNAVAILABLE)
    assert _state(hass, ACTIVITIES) == STATE_UNAVAILABLE

    await plex.start()
    _backoff_passes(hass)
    await wait_for_push(hass, plex, connects=2)
    assert _state(hass, BUSY) == STATE_ON  # the server still lists the scan
    assert _state(hass, ACTIVITIES) == "1"


async def test_a_refused_websocket_leaves_polling_working(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    plex.websocket = "refuse"
    await _setup(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.LOADED
    await until(
        hass,
        lambda: any(
            r.path == "/:/websockets/notifications" and r.status == 503
            for r in plex.requests
        ),
    )

    plex.start_activity("media.generate.bif", "Thumbnails")
    await poll_with_freezer(hass, freezer)
    assert _state(hass, ACTIVITIES) == "1"


async def test_unknown_frames_are_skipped(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Other notification types, bad shapes and non-JSON change nothing and log nothing."""
    plex.unknown_frames = True
    await _setup(hass, mock_config_entry)
    await wait_for_push(hass, plex)

    activity = plex.start_activity("media.generate.bif", "Thumbnails")
    await until(hass, lambda: _state(hass, ACTIVITIES) == "1")
    plex.end_activity(activity.uuid)
    await until(hass, lambda: _state(hass, ACTIVITIES) == "0")

    assert plex.websocket_connects == 1
    assert not [
        r
        for r in caplog.records
        if r.name.startswith(LOGGER) and r.levelno >= logging.WARNING
    ]


async def test_a_server_older_than_the_websocket(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """404: said once, activities come with each poll, no retry storm."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    plex.websocket = "absent"
    await _setup(hass, mock_config_entry)
    await until(
        hass, lambda: bool(plex.requests_to("GET", "/:/websockets/notifications"))
    )

    for attempt in range(2, 5):
        plex.start_activity("library.update.section", "Scanning")
        await poll_with_freezer(hass, freezer)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))

        # The retry after one poll interval: let it end before the clock moves.
        def tried(n: int = attempt) -> bool:
            return len(plex.requests_to("GET", "/:/websockets/notifications")) >= n

        await until(hass, tried)
        for _ in range(20):
            await asyncio.sleep(0)
    assert _state(hass, ACTIVITIES) == "3"
    attempts = plex.requests_to("GET", "/:/websockets/notifications")
    assert [r.status for r in attempts] == [404] * len(attempts)
    assert len(attempts) <= 4  # once per poll interval at most
    said = [r for r in caplog.records if "does not offer push" in r.getMessage()]
    assert len(said) == 1


async def test_the_servers_pings_are_answered(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A server (or a proxy in front of it) that pings gets its pong back."""
    plex.ping_clients = True
    await _setup(hass, mock_config_entry)
    await wait_for_push(hass, plex)
    await until(hass, lambda: plex.pongs == [b"simulator"])
    plex.start_activity("media.generate.bif", "Thumbnails")
    await until(hass, lambda: _state(hass, ACTIVITIES) == "1")  # still pushed


async def test_a_silent_websocket_is_noticed_by_its_heartbeat(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A link that died without closing: no frames, no pongs, no FIN.

    The unanswered ping ends the socket; activities are polled meanwhile, and
    the listener reconnects once the server answers again. Logged once each.
    """
    caplog.set_level(logging.INFO, logger=LOGGER)
    monkeypatch.setattr(api, "NOTIFICATIONS_HEARTBEAT", 0.2)  # not 30 s of test
    plex.websocket = "silent"
    await _setup(hass, mock_config_entry)
    await wait_for_push(hass, plex)
    plex.start_activity("media.generate.bif", "Thumbnails")  # never pushed

    def lost() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "Lost the push" in r.getMessage()]

    await eventually(hass, lambda: bool(lost()) and not plex.sockets)
    plex.websocket = "refuse"  # the server stays out of reach a while
    # The loss is followed by one read: what was never pushed shows now.
    await until(hass, lambda: _state(hass, ACTIVITIES) == "1")
    assert _state(hass, BUSY) == STATE_ON

    plex.start_activity("library.update.section", "Scanning Movies")
    before = len(plex.requests)
    await poll(hass)
    assert "/activities" in _urls_after(plex, before)  # read at each poll meanwhile
    assert _state(hass, ACTIVITIES) == "2"

    plex.websocket = "open"
    _backoff_passes(hass)
    await wait_for_push(hass, plex, connects=2)
    for uuid in list(plex.activities):
        plex.end_activity(uuid)
    await until(hass, lambda: _state(hass, ACTIVITIES) == "0")  # pushed again

    # Nothing keeps the socket that stopped answering: only the new one lives.
    def dead_socket_released() -> bool:
        gc.collect()
        return count_watched()["ClientWebSocketResponse"] == 1

    await eventually(hass, dead_socket_released)

    [record] = lost()
    assert record.levelno == logging.WARNING
    assert "stopped answering pings" in record.getMessage()
    back = [r for r in caplog.records if "is back" in r.getMessage()]
    assert len(back) == 1


async def test_unload_leaves_no_task_or_socket(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    await wait_for_push(hass, plex)
    tasks = {t.get_name() for t in asyncio.all_tasks()}
    assert any("notifications" in name for name in tasks)

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await until(hass, lambda: not plex.sockets)

    assert not [t for t in asyncio.all_tasks() if "notifications" in t.get_name()]


async def test_100_drops_return_memory_and_tasks_to_baseline(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Each drop is followed by a reconnect; nothing accumulates."""
    await wait_for_push(hass, plex)

    async def cycle(connects: int) -> None:
        await plex.drop_websockets()
        await until(hass, lambda: not plex.sockets)
        _backoff_passes(hass)
        await wait_for_push(hass, plex, connects=connects)

    # Home Assistant saves its registries 10 s after the entities were added;
    # the harness's in-memory storage then holds a copy (~200 kB). Save now,
    # so that this does not land in the measured cycles.
    await flush_store(er.async_get(hass)._store)
    await flush_store(dr.async_get(hass)._store)
    # Traced from before the warm-up, so that what the measured cycles free
    # counts against what they leave. Started later, tracing took every
    # debug traceback alive at the end for new, though each replaced one
    # alive before (most of the 450 kB this test once reported).
    tracemalloc.start(TRACE_FRAMES)
    try:
        with records_dropped(LOGGER, "asyncio"):
            for connects in range(2, 12):  # warm up caches, pools, lazy imports
                await cycle(connects)
            await settle()
            tasks_before = len(asyncio.all_tasks())
            objects_before = count_watched()
            before = tracemalloc.take_snapshot()
            for connects in range(12, 112):
                await cycle(connects)
            await settle()
            after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()

    assert plex.websocket_connects == 111
    assert len(asyncio.all_tasks()) == tasks_before
    objects_after = count_watched()
    assert objects_after - objects_before == Counter(), (objects_before, objects_after)
    kept, top = growth(before, after)
    # About 11 kB stays after 100 cycles as after 300 (bounded, asyncio's
    # debug reprs); 200 B kept per cycle would fail.
    assert kept < 20 * 1024, (kept, top)
