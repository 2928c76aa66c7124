"""The plex_butler.start_all_tasks and stop_all_tasks actions, as automations call them.

Each call goes through Home Assistant's service registry to the simulator over
a real socket; what the simulator received and what it runs afterwards show
what the action did.
"""

from __future__ import annotations

from typing import Any

from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant, ServiceResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.plex_butler.const import (
    DOMAIN,
    SERVICE_START_ALL_TASKS,
    SERVICE_STOP_ALL_TASKS,
)

from .common import setup_entry, start_task, state_of, until, wait_for_push
from .conftest import OWNER_TOKEN
from .plex_simulator import CURRENT_TASKS, PlexSimulator

BUSY = "binary_sensor.living_room_plex_busy"
ACTIVITIES = "sensor.living_room_plex_activities"
BOTH = [SERVICE_START_ALL_TASKS, SERVICE_STOP_ALL_TASKS]
# What each action sends: Plex's butler takes both on the bare /butler path.
METHOD = {SERVICE_START_ALL_TASKS: "POST", SERVICE_STOP_ALL_TASKS: "DELETE"}
ENABLED = {task.name for task in CURRENT_TASKS if task.enabled}


async def _call(
    hass: HomeAssistant,
    service: str,
    data: dict[str, Any],
    *,
    return_response: bool = True,
) -> ServiceResponse:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=return_response
    )


def _running(plex: PlexSimulator) -> set[str]:
    return {task.name for task in plex.tasks if plex.is_running(task.name)}


def _butler_calls(plex: PlexSimulator) -> list[str]:
    """Requests to the bare ``/butler`` path other than the task-list read."""
    return [
        r.method for r in plex.requests if r.path == "/butler" and r.method != "GET"
    ]


async def test_start_all_starts_every_enabled_task(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """One ``POST /butler``; the server starts what its settings enable, nothing else."""
    response = await _call(
        hass, SERVICE_START_ALL_TASKS, {"config_entry_id": init_integration.entry_id}
    )

    assert response == {"result": "requested"}
    [request] = plex.requests_to("POST", "/butler")
    assert request.status == 200
    assert request.headers.get("X-Plex-Token") == OWNER_TOKEN
    assert OWNER_TOKEN not in request.url
    assert _running(plex) == ENABLED
    assert not plex.is_running("RefreshLibraries")  # disabled on this server
    assert [r.path for r in plex.requests if r.method == "POST"] == ["/butler"]


async def test_start_all_shows_the_server_busy(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """The started tasks' activities reach Busy and Activities over the websocket."""
    await wait_for_push(hass, plex)

    await _call(
        hass, SERVICE_START_ALL_TASKS, {"config_entry_id": init_integration.entry_id}
    )

    await until(hass, lambda: state_of(hass, ACTIVITIES) == str(len(ENABLED)))
    assert state_of(hass, BUSY) == STATE_ON


async def test_stop_all_stops_every_running_task(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """One ``DELETE /butler`` stops what runs; Busy follows over the websocket."""
    await wait_for_push(hass, plex)
    entry_id = init_integration.entry_id
    for task in ("optimize_database", "backup_database"):
        await start_task(hass, {"config_entry_id": entry_id, "task": task})
    await until(hass, lambda: state_of(hass, BUSY) == STATE_ON)
    assert _running(plex) == {"OptimizeDatabase", "BackupDatabase"}

    response = await _call(hass, SERVICE_STOP_ALL_TASKS, {"config_entry_id": entry_id})

    assert response == {"result": "requested"}
    [request] = plex.requests_to("DELETE", "/butler")
    assert request.status == 200
    assert request.headers.get("X-Plex-Token") == OWNER_TOKEN
    assert _running(plex) == set()
    assert plex.activities == {}
    await until(hass, lambda: state_of(hass, BUSY) == STATE_OFF)
    assert state_of(hass, ACTIVITIES) == "0"


async def test_stop_all_with_nothing_running(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Plex answers 200 with an idle butler too; that is no error."""
    response = await _call(
        hass, SERVICE_STOP_ALL_TASKS, {"config_entry_id": init_integration.entry_id}
    )

    assert response == {"result": "requested"}
    assert _butler_calls(plex) == ["DELETE"]


@pytest.mark.parametrize("service", BOTH)
async def test_without_response(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    service: str,
) -> None:
    """Scripts that don't ask for a response still get the request sent."""
    response = await _call(
        hass,
        service,
        {"config_entry_id": init_integration.entry_id},
        return_response=False,
    )

    assert response is None
    assert _butler_calls(plex) == [METHOD[service]]


@pytest.mark.parametrize("service", BOTH)
async def test_server_down_is_a_failure_naming_the_server(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    service: str,
) -> None:
    """A server that is gone is a HomeAssistantError, not misuse; it works once back."""
    data = {"config_entry_id": init_integration.entry_id}
    await plex.stop()

    with pytest.raises(HomeAssistantError) as exc_info:
        await _call(hass, service, data)

    err = exc_info.value
    assert not isinstance(err, ServiceValidationError)
    assert err.translation_domain == DOMAIN
    assert err.translation_key == "connection_refused"
    assert (err.translation_placeholders or {})["server"] == "Living Room Plex"
    assert str(err).startswith("Living Room Plex refused the connection.")
    assert OWNER_TOKEN not in str(err)

    await plex.start()
    assert await _call(hass, service, data) == {"result": "requested"}
    assert _butler_calls(plex) == [METHOD[service]]


@pytest.mark.parametrize("service", BOTH)
async def test_server_error_is_a_failure_naming_the_server(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    service: str,
) -> None:
    """A 500 from the butler says which server answered and how."""
    plex.fault = "500"
    plex.fault_path = "/butler"

    with pytest.raises(HomeAssistantError) as exc_info:
        await _call(hass, service, {"config_entry_id": init_integration.entry_id})

    assert not isinstance(exc_info.value, ServiceValidationError)
    assert exc_info.value.translation_key == "unexpected_response"
    assert "Living Room Plex answered unexpectedly" in str(exc_info.value)
    assert "HTTP status 500" in str(exc_info.value)
    assert _running(plex) == set()


@pytest.mark.parametrize("service", BOTH)
async def test_unloaded_entry(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    service: str,
) -> None:
    """An unloaded server is the caller's mistake: nothing is sent."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()

    with pytest.raises(ServiceValidationError) as exc_info:
        await _call(hass, service, {"config_entry_id": init_integration.entry_id})

    assert exc_info.value.translation_key == "entry_not_loaded"
    assert exc_info.value.translation_placeholders == {"title": "Living Room Plex"}
    assert _butler_calls(plex) == []


@pytest.mark.parametrize("service", BOTH)
async def test_entry_that_failed_to_set_up(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    service: str,
) -> None:
    """An entry waiting to retry its setup is not loaded either."""
    await plex.stop()
    assert not await setup_entry(hass, mock_config_entry)

    with pytest.raises(ServiceValidationError) as exc_info:
        await _call(hass, service, {"config_entry_id": mock_config_entry.entry_id})

    assert exc_info.value.translation_key == "entry_not_loaded"


@pytest.mark.parametrize("service", BOTH)
async def test_unknown_entry(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    service: str,
) -> None:
    """An entry id that doesn't exist, or isn't a Plex server, is reported as such."""
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)

    for entry_id in ("no-such-entry", other.entry_id):
        with pytest.raises(ServiceValidationError) as exc_info:
            await _call(hass, service, {"config_entry_id": entry_id})
        assert exc_info.value.translation_key == "entry_not_found"
        assert exc_info.value.translation_placeholders == {"entry_id": entry_id}
    assert _butler_calls(plex) == []


@pytest.mark.parametrize("service", BOTH)
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"config_entry_id": ["abc"]},
        {"config_entry_id": "abc", "task": "OptimizeDatabase"},
    ],
)
async def test_schema_rejects_bad_calls(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    service: str,
    data: dict[str, Any],
) -> None:
    """A missing entry, a wrong type or a stray field fail validation."""
    with pytest.raises(vol.Invalid):
        await _call(hass, service, data)

    assert _butler_calls(plex) == []
