"""Plex Web's Scheduled Tasks page, live, in a real Home Assistant process.

Driven only over Home Assistant's REST and websocket APIs, as the UI does:
turn a task's schedule switch off, move the maintenance window's start, start
and stop a task with the actions, and watch the Activity event entity report
``finished`` when the simulator's task ends and Plex's websocket says so. The
simulator's settings and request log show that each step reached the server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import OWNER_TOKEN
from tests.plex_simulator import PlexSimulator

from .helpers import (
    EVENTUALLY_TIMEOUT,
    HassApi,
    HassProcess,
    add_server_with_token,
    eventually,
)

pytestmark = pytest.mark.e2e

DOMAIN = "plex_butler"
BACKUP_SWITCH = "switch.living_room_plex_back_up_database_on_schedule"
WINDOW_START = "select.living_room_plex_maintenance_window_start"
ACTIVITY_EVENT = "event.living_room_plex_activity"
BUSY = "binary_sensor.living_room_plex_busy"


async def test_scheduled_tasks_page_in_a_real_home_assistant(
    hass_process: HassProcess, hass_api: HassApi, plex: PlexSimulator
) -> None:
    """Settings, actions and live activities, each reaching Plex and back."""
    api = hass_api
    hass_process.start()
    await api.wait_for_onboarding(hass_process)
    await api.onboard()
    await api.wait_until_running(hass_process)
    entry_id = await _add_the_server(api, plex)

    await step_1_a_switch_turns_a_task_schedule_off(api, plex)
    await step_2_the_select_moves_the_window_start(api, plex)
    await step_3_a_started_task_is_stopped_by_the_action(api, plex, entry_id)
    await step_4_the_activity_event_reports_finished_live(api, plex, entry_id)


async def _add_the_server(api: HassApi, plex: PlexSimulator) -> str:
    """The manual form with the owner's token creates a loaded entry."""
    return await add_server_with_token(api, plex.url, OWNER_TOKEN)


def _puts(plex: PlexSimulator) -> list[str]:
    return [r.url for r in plex.requests if r.method == "PUT"]


async def step_1_a_switch_turns_a_task_schedule_off(
    api: HassApi, plex: PlexSimulator
) -> None:
    """``switch.turn_off`` writes ``ButlerTaskBackupDatabase=0`` to Plex's prefs."""
    assert await api.state(BACKUP_SWITCH) == "on"
    assert plex.setting("ButlerTaskBackupDatabase").value is True

    await api.post("/api/services/switch/turn_off", {"entity_id": BACKUP_SWITCH})

    assert _puts(plex) == ["/:/prefs?ButlerTaskBackupDatabase=0"]
    assert plex.requests_to("PUT", "/:/prefs")[0].status == 200
    assert plex.setting("ButlerTaskBackupDatabase").value is False
    assert await api.state(BACKUP_SWITCH) == "off"


async def step_2_the_select_moves_the_window_start(
    api: HassApi, plex: PlexSimulator
) -> None:
    """``select.select_option`` with "01:00" sets ``ButlerStartHour`` to 1."""
    assert await api.state(WINDOW_START) == "02:00"
    sent = len(_puts(plex))

    await api.post(
        "/api/services/select/select_option",
        {"entity_id": WINDOW_START, "option": "01:00"},
    )

    assert _puts(plex)[sent:] == ["/:/prefs?ButlerStartHour=1"]
    assert plex.setting("ButlerStartHour").value == 1
    assert plex.setting("ButlerEndHour").value == 5  # the window's end is untouched
    assert await api.state(WINDOW_START) == "01:00"


async def step_3_a_started_task_is_stopped_by_the_action(
    api: HassApi, plex: PlexSimulator, entry_id: str
) -> None:
    """``stop_task`` sends ``DELETE /butler/<Task>`` and answers ``stopped``."""
    plex.run_seconds = 30.0  # long enough to be stopped, not to end
    data = {"config_entry_id": entry_id, "task": "optimize_database"}
    started = await api.post(f"/api/services/{DOMAIN}/start_task?return_response", data)
    assert started["service_response"] == {
        "task": "OptimizeDatabase",
        "result": "started",
    }
    assert plex.is_running("OptimizeDatabase")

    stopped = await api.post(f"/api/services/{DOMAIN}/stop_task?return_response", data)

    assert stopped["service_response"] == {
        "task": "OptimizeDatabase",
        "result": "stopped",
    }
    [request] = plex.requests_to("DELETE", "/butler/OptimizeDatabase")
    assert request.status == 200
    assert not plex.is_running("OptimizeDatabase")

    async def idle() -> bool:
        return await api.state(BUSY) == "off"

    await eventually(idle, f"{BUSY} to turn off after the stop")


async def step_4_the_activity_event_reports_finished_live(
    api: HassApi, plex: PlexSimulator, entry_id: str
) -> None:
    """A subscriber of ``state_changed`` sees ``started``, then ``finished``.

    The simulator runs the task for a second and reports its end over Plex's
    notification websocket; nothing polls in between (the poll interval is
    five minutes), so the event can only have come pushed.
    """
    plex.run_seconds = 1.0
    sent = len(plex.requests)
    async with api.websocket() as ws:
        await ws.subscribe("state_changed")
        await api.post(
            f"/api/services/{DOMAIN}/start_task",
            {"config_entry_id": entry_id, "task": "clean_old_bundles"},
        )

        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(EVENTUALLY_TIMEOUT):
            while not seen or seen[-1]["event_type"] != "finished":
                event = await ws.next_event()
                if event["data"]["entity_id"] == ACTIVITY_EVENT:
                    seen.append(event["data"]["new_state"]["attributes"])

    assert [(a["event_type"], a["type"], a["title"]) for a in seen] == [
        ("started", "butler.task", "Clean Old Bundles"),
        ("finished", "butler.task", "Clean Old Bundles"),
    ]
    assert not plex.is_running("CleanOldBundles")
    assert plex.activities == {}
    # Only the start reached Plex during this step: no poll, no read.
    assert [f"{r.method} {r.url}" for r in plex.requests[sent:]] == [
        "POST /butler/CleanOldBundles"
    ]
