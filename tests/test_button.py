"""The task buttons: one per task the server reports, pressed over real HTTP."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import (
    ATTR_ENTITY_ID,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.plex_butler.const import DOMAIN
from custom_components.plex_butler.tasks import KNOWN_TASKS, TaskProfile

from .common import poll_with_freezer, reauth_flows
from .conftest import MACHINE_ID, OWNER_TOKEN
from .plex_simulator import CURRENT_TASKS, OLD_TASKS, PlexSimulator, SimTask

OPTIMIZE = "button.living_room_plex_optimize_database"
FUTURE_TASK = SimTask("FutureTask", "Future Task")
FUTURE = "button.living_room_plex_future_task"
TRANSLATIONS = json.loads(
    (
        Path(__file__).parent.parent
        / "custom_components"
        / DOMAIN
        / "translations"
        / "en.json"
    ).read_text(encoding="utf-8")
)


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


def _entity_id(entity_registry: er.EntityRegistry, task: str) -> str:
    entity_id = entity_registry.async_get_entity_id(
        BUTTON_DOMAIN, DOMAIN, f"{MACHINE_ID}_{task}"
    )
    assert entity_id is not None, task
    return entity_id


@pytest.mark.parametrize(
    "tasks", [CURRENT_TASKS, OLD_TASKS], ids=["current_22", "old_14"]
)
async def test_one_button_per_task(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    tasks: tuple[SimTask, ...],
) -> None:
    """Whatever the server version, each task it lists gets exactly one button."""
    plex.set_tasks(tasks)
    await _setup(hass, mock_config_entry)

    entries = er.async_entries_for_config_entry(
        entity_registry, mock_config_entry.entry_id
    )
    buttons = [entry for entry in entries if entry.domain == BUTTON_DOMAIN]
    assert sorted(entry.unique_id for entry in buttons) == sorted(
        f"{MACHINE_ID}_{task.name}" for task in tasks
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "tasks", [CURRENT_TASKS, OLD_TASKS], ids=["current_22", "old_14"]
)
async def test_known_tasks_have_translated_names(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    tasks: tuple[SimTask, ...],
) -> None:
    """Every task of both server generations is named from en.json, not the server."""
    plex.set_tasks(tasks)
    await _setup(hass, mock_config_entry)

    names = TRANSLATIONS["entity"]["button"]
    for task in tasks:
        state = hass.states.get(_entity_id(entity_registry, task.name))
        assert state is not None
        key = KNOWN_TASKS[task.name].key
        assert state.name == f"Living Room Plex {names[key]['name']}"
        assert state.state == STATE_UNKNOWN


async def test_translated_names_examples(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Spot-check the wording users see, independent of the JSON lookup above."""
    state = hass.states.get(OPTIMIZE)
    assert state is not None
    assert state.name == "Living Room Plex Optimize database"
    state = hass.states.get("button.living_room_plex_back_up_database")
    assert state is not None
    assert state.name == "Living Room Plex Back up database"


@pytest.mark.parametrize(
    "tasks", [CURRENT_TASKS, OLD_TASKS], ids=["current_22", "old_14"]
)
async def test_category_and_default_enablement_follow_task_profile(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    tasks: tuple[SimTask, ...],
) -> None:
    """Everyday tasks are primary controls, heavy ones start disabled."""
    plex.set_tasks(tasks)
    await _setup(hass, mock_config_entry)

    for task in tasks:
        entry = entity_registry.async_get(_entity_id(entity_registry, task.name))
        assert entry is not None
        profile = KNOWN_TASKS[task.name].profile
        if profile is TaskProfile.EVERYDAY:
            assert entry.entity_category is None, task.name
        else:
            assert entry.entity_category is EntityCategory.CONFIG, task.name
        if profile is TaskProfile.HEAVY:
            assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
            assert hass.states.get(entry.entity_id) is None
        else:
            assert entry.disabled_by is None, task.name
            assert hass.states.get(entry.entity_id) is not None


async def test_profiles_of_well_known_tasks(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Pin one task of each profile so a table edit cannot silently flip them."""
    optimize = entity_registry.async_get(OPTIMIZE)
    assert optimize is not None
    assert optimize.entity_category is None
    assert optimize.disabled_by is None

    periodic = entity_registry.async_get(
        _entity_id(entity_registry, "RefreshPeriodicMetadata")
    )
    assert periodic is not None
    assert periodic.entity_category is EntityCategory.CONFIG
    assert periodic.disabled_by is None

    deep = entity_registry.async_get(_entity_id(entity_registry, "DeepMediaAnalysis"))
    assert deep is not None
    assert deep.entity_category is EntityCategory.CONFIG
    assert deep.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_unknown_task_gets_a_working_button(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A task newer than the integration is named by its title and still starts."""
    plex.set_tasks([*CURRENT_TASKS, FUTURE_TASK])
    await _setup(hass, mock_config_entry)

    entry = entity_registry.async_get(FUTURE)
    assert entry is not None
    assert entry.unique_id == f"{MACHINE_ID}_FutureTask"
    assert entry.entity_category is EntityCategory.CONFIG
    assert entry.disabled_by is None
    state = hass.states.get(FUTURE)
    assert state is not None
    assert state.name == "Living Room Plex Future Task"

    await _press(hass, FUTURE)

    assert len(plex.requests_to("POST", "/butler/FutureTask")) == 1
    assert plex.is_running("FutureTask")


async def test_press_starts_the_task(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A press is one POST with the token in a header, and records the press time."""
    await _press(hass, OPTIMIZE)

    (request,) = plex.requests_to("POST", "/butler/OptimizeDatabase")
    assert request.headers["X-Plex-Token"] == OWNER_TOKEN
    assert OWNER_TOKEN not in request.url
    assert request.status == 200
    assert plex.is_running("OptimizeDatabase")
    state = hass.states.get(OPTIMIZE)
    assert state is not None
    assert state.state == dt_util.utcnow().isoformat()


async def test_press_while_running_is_not_an_error(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Plex answers 202 to a task that already runs; the press still succeeds."""
    await _press(hass, OPTIMIZE)
    await _press(hass, OPTIMIZE)

    statuses = [r.status for r in plex.requests_to("POST", "/butler/OptimizeDatabase")]
    assert statuses == [200, 202]


async def test_press_with_server_down_raises_cannot_connect(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A press that cannot reach the server fails loudly, in the user's language."""
    await plex.stop()

    with pytest.raises(HomeAssistantError) as exc_info:
        await _press(hass, OPTIMIZE)

    assert not isinstance(exc_info.value, ServiceValidationError)
    assert exc_info.value.translation_domain == DOMAIN
    assert exc_info.value.translation_key == "connection_refused"
    assert str(exc_info.value).startswith("Living Room Plex refused the connection.")
    assert OWNER_TOKEN not in str(exc_info.value)
    assert OWNER_TOKEN not in repr(exc_info.value.translation_placeholders)


async def test_press_with_server_error_raises_unexpected_response(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A 500 to the POST is reported as an unexpected answer."""
    plex.fault = "500"

    with pytest.raises(HomeAssistantError) as exc_info:
        await _press(hass, OPTIMIZE)

    assert exc_info.value.translation_key == "unexpected_response"
    assert "500" in str(exc_info.value)
    assert OWNER_TOKEN not in str(exc_info.value)


async def test_press_that_hangs_raises_timeout(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A server that never answers is given up on, with a timeout error."""
    monkeypatch.setattr("custom_components.plex_butler.helpers.REQUEST_TIMEOUT", 0.2)
    await _setup(hass, mock_config_entry)
    plex.fault = "hang"

    with pytest.raises(HomeAssistantError) as exc_info:
        await _press(hass, OPTIMIZE)

    assert exc_info.value.translation_key == "start_timeout"
    assert str(exc_info.value) == (
        "Living Room Plex did not answer within 0.2 s; the task may still have started"
    )


async def test_press_with_rejected_token_starts_reauth(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A 401 to a press asks the user for a new token."""
    plex.fault = "401"
    assert not reauth_flows(hass, init_integration)

    with pytest.raises(HomeAssistantError) as exc_info:
        await _press(hass, OPTIMIZE)
    await hass.async_block_till_done()

    assert exc_info.value.translation_key == "authentication_failed"
    assert OWNER_TOKEN not in str(exc_info.value)
    assert len(reauth_flows(hass, init_integration)) == 1


async def test_press_of_task_gone_from_server(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A 404 on press is no misuse; the message lists the tasks read after it."""
    plex.set_tasks([t for t in CURRENT_TASKS if t.name != "OptimizeDatabase"])

    with pytest.raises(HomeAssistantError) as exc_info:
        await _press(hass, OPTIMIZE)

    assert not isinstance(exc_info.value, ServiceValidationError)

    assert exc_info.value.translation_key == "task_not_on_server"
    placeholders = exc_info.value.translation_placeholders or {}
    assert placeholders["task"] == "OptimizeDatabase"
    assert "OptimizeDatabase" not in placeholders["tasks"].split(", ")
    assert "BackupDatabase" in placeholders["tasks"].split(", ")
    state = hass.states.get(OPTIMIZE)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_new_task_gets_a_button_after_next_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A server upgrade that adds a task adds its button without a reload."""
    assert hass.states.get(FUTURE) is None
    plex.set_tasks([*CURRENT_TASKS, FUTURE_TASK])

    await poll_with_freezer(hass, freezer)

    state = hass.states.get(FUTURE)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    # The buttons that were there already are not added a second time.
    assert (
        len(hass.states.async_entity_ids(BUTTON_DOMAIN))
        == sum(
            1
            for task in CURRENT_TASKS
            if KNOWN_TASKS[task.name].profile is not TaskProfile.HEAVY
        )
        + 1
    )


async def test_disappearing_task_turns_unavailable_then_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Only the vanished task's button goes unavailable, until it comes back."""
    plex.set_tasks([t for t in CURRENT_TASKS if t.name != "OptimizeDatabase"])
    await poll_with_freezer(hass, freezer)

    state = hass.states.get(OPTIMIZE)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE
    other = hass.states.get("button.living_room_plex_back_up_database")
    assert other is not None
    assert other.state == STATE_UNKNOWN

    plex.set_tasks(CURRENT_TASKS)
    await poll_with_freezer(hass, freezer)

    state = hass.states.get(OPTIMIZE)
    assert state is not None
    assert state.state == STATE_UNKNOWN


async def test_server_down_logged_once_and_recovery_logged_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Two failed polls make every button unavailable but log only one error."""
    caplog.set_level(logging.INFO, logger="custom_components.plex_butler")
    await plex.stop()

    await poll_with_freezer(hass, freezer)
    await poll_with_freezer(hass, freezer)

    buttons = hass.states.async_entity_ids(BUTTON_DOMAIN)
    assert buttons
    for entity_id in buttons:
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state == STATE_UNAVAILABLE, entity_id
    errors = [r for r in caplog.records if "Error fetching" in r.getMessage()]
    assert len(errors) == 1
    assert OWNER_TOKEN not in caplog.text

    await plex.start()
    await poll_with_freezer(hass, freezer)
    await poll_with_freezer(hass, freezer)

    for entity_id in buttons:
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state == STATE_UNKNOWN, entity_id
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(recovered) == 1


async def test_rejected_token_while_polling_starts_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A token revoked after setup is noticed by the next poll."""
    plex.fault = "401"

    await poll_with_freezer(hass, freezer)

    assert len(reauth_flows(hass, init_integration)) == 1
    state = hass.states.get(OPTIMIZE)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE
