"""What the server is busy with: the Activities sensor, Busy and the Activity event.

Activities come over the simulator's notification websocket, as from Plex.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
)

from custom_components.plex_butler.const import DOMAIN

from .common import until, wait_for_push
from .conftest import MACHINE_ID, OWNER_TOKEN
from .plex_simulator import PlexSimulator

ACTIVITIES = "sensor.living_room_plex_activities"
BUSY = "binary_sensor.living_room_plex_busy"
EVENT = "event.living_room_plex_activity"


def _state(hass: HomeAssistant, entity_id: str) -> Any:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def test_entities_on_the_server_device(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    for entity_id, key in (
        (ACTIVITIES, "activities"),
        (BUSY, "busy"),
        (EVENT, "activity"),
    ):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.unique_id == f"{MACHINE_ID}_{key}"
        assert entry.platform == DOMAIN
    assert _state(hass, ACTIVITIES).state == "0"
    assert _state(hass, ACTIVITIES).attributes["activities"] == []
    assert _state(hass, BUSY).state == STATE_OFF
    assert _state(hass, EVENT).state == STATE_UNKNOWN
    assert _state(hass, EVENT).attributes["event_types"] == ["started", "finished"]


async def test_a_started_task_shows_live_and_finishes(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Start, progress and end arrive over the websocket, with Plex's type and title."""
    plex.run_seconds = 0.2
    await wait_for_push(hass, plex)
    events: list[dict[str, Any]] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            events.append(dict(event.data["new_state"].attributes))
            if event.data["entity_id"] == EVENT
            else None
        ),
    )

    await hass.services.async_call(
        BUTTON_DOMAIN,
        SERVICE_PRESS,
        {ATTR_ENTITY_ID: "button.living_room_plex_refresh_libraries"},
        blocking=True,
    )
    await until(hass, lambda: _state(hass, BUSY).state == STATE_ON)

    state = _state(hass, ACTIVITIES)
    assert state.state == "1"
    [shown] = state.attributes["activities"]
    assert set(shown) == {"title", "subtitle", "type", "progress"}
    assert shown["type"] == "library.update.section"
    assert shown["title"] == "Refresh Libraries"
    assert OWNER_TOKEN not in str(state.attributes)

    await until(hass, lambda: _state(hass, BUSY).state == STATE_OFF)
    assert _state(hass, ACTIVITIES).state == "0"
    assert [(e["event_type"], e["type"], e["title"]) for e in events] == [
        ("started", "library.update.section", "Refresh Libraries"),
        ("finished", "library.update.section", "Refresh Libraries"),
    ]
    # The progress came as "updated" frames, which are no events.
    assert plex.activities == {}


async def test_progress_is_shown(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    await wait_for_push(hass, plex)
    activity = plex.start_activity(
        "media.generate.bif", "Generating thumbnails", "Movies"
    )
    await until(hass, lambda: _state(hass, ACTIVITIES).state == "1")
    plex.update_activity(activity.uuid, 40)
    await until(
        hass,
        lambda: _state(hass, ACTIVITIES).attributes["activities"][0]["progress"] == 40,
    )
    assert _state(hass, ACTIVITIES).attributes["activities"] == [
        {
            "title": "Generating thumbnails",
            "subtitle": "Movies",
            "type": "media.generate.bif",
            "progress": 40,
        }
    ]


async def test_progress_writes_only_the_entity_it_changes(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Plex reports progress every few seconds: Busy and Activity stay untouched.

    Home Assistant notes even an unchanged write (``last_reported``); these
    entities write only when what they show changes.
    """
    await wait_for_push(hass, plex)
    activity = plex.start_activity("media.generate.bif", "Generating thumbnails")
    await until(hass, lambda: _state(hass, EVENT).attributes.get("event_type"))
    assert _state(hass, BUSY).state == STATE_ON
    # Home Assistant updates an unchanged state's last_reported in place.
    busy_reported = _state(hass, BUSY).last_reported
    event_reported = _state(hass, EVENT).last_reported

    def progress_shown() -> Any:
        return _state(hass, ACTIVITIES).attributes["activities"][0]["progress"]

    for progress in (10, 20, 30):
        plex.update_activity(activity.uuid, progress)
        await until(hass, lambda: progress_shown() == progress)  # noqa: B023
    assert _state(hass, BUSY).last_reported == busy_reported
    assert _state(hass, EVENT).last_reported == event_reported

    plex.end_activity(activity.uuid)
    await until(hass, lambda: _state(hass, BUSY).state == STATE_OFF)
    assert _state(hass, EVENT).attributes["event_type"] == "finished"


async def test_an_automation_triggers_when_the_library_refresh_finished(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """The documented automation: the event entity's state, filtered by type."""
    calls = async_mock_service(hass, "test", "notify")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "Library refreshed",
                "triggers": [{"trigger": "state", "entity_id": EVENT}],
                "conditions": [
                    {
                        "condition": "template",
                        "value_template": "{{ trigger.to_state.attributes.event_type == 'finished'"
                        " and trigger.to_state.attributes.type == 'library.update.section' }}",
                    }
                ],
                "actions": [
                    {
                        "action": "test.notify",
                        "data": {
                            "message": "{{ trigger.to_state.attributes.title }} done"
                        },
                    }
                ],
            }
        },
    )
    await wait_for_push(hass, plex)
    other = plex.start_activity("media.generate.bif", "Thumbnails")
    scan = plex.start_activity("library.update.section", "Scanning Movies", "Movies")
    plex.end_activity(other.uuid)
    plex.end_activity(scan.uuid)

    await until(hass, lambda: len(calls) == 1)
    assert calls[0].data == {"message": "Scanning Movies done"}


async def test_stopping_a_task_ends_its_activity(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    await wait_for_push(hass, plex)
    await hass.services.async_call(
        DOMAIN,
        "start_task",
        {"config_entry_id": init_integration.entry_id, "task": "optimize_database"},
        blocking=True,
    )
    await until(hass, lambda: _state(hass, BUSY).state == STATE_ON)

    response = await hass.services.async_call(
        DOMAIN,
        "stop_task",
        {"config_entry_id": init_integration.entry_id, "task": "optimize_database"},
        blocking=True,
        return_response=True,
    )

    assert response == {"task": "OptimizeDatabase", "result": "stopped"}
    await until(hass, lambda: _state(hass, BUSY).state == STATE_OFF)
    assert _state(hass, EVENT).attributes["event_type"] == "finished"
