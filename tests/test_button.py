"""The task buttons: one per task the server reports, pressed over real HTTP.

A press that fails (server down, erroring, hanging, refusing the token) is
part of the fault matrix in test_faults.py, next to the action's.
"""

from __future__ import annotations

from datetime import datetime
import json
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN
from custom_components.plex_butler.tasks import KNOWN_TASKS, TaskProfile

from .common import OPTIMIZE, poll_with_freezer, press, setup_entry, state_of
from .conftest import MACHINE_ID, OWNER_TOKEN
from .plex_simulator import CURRENT_TASKS, OLD_TASKS, PlexSimulator, SimTask

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
    assert await setup_entry(hass, mock_config_entry)

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
    assert await setup_entry(hass, mock_config_entry)

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


# A button name is an order: it starts with what the press does.
VERBS = {
    "Analyze",
    "Back",
    "Build",
    "Check",
    "Clean",
    "Detect",
    "Fetch",
    "Generate",
    "Optimize",
    "Refresh",
    "Run",
    "Upgrade",
}
# What the device page shows in full next to a button, in characters.
LONGEST_NAME = 27


@pytest.mark.parametrize(
    "tasks", [CURRENT_TASKS, OLD_TASKS], ids=["current_22", "old_14"]
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_button_names_say_what_a_press_does(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    tasks: tuple[SimTask, ...],
) -> None:
    """Every name is a short order, as the device page shows it, never a noun."""
    plex.set_tasks(tasks)
    await setup_entry(hass, mock_config_entry)

    for task in tasks:
        state = hass.states.get(_entity_id(entity_registry, task.name))
        assert state is not None
        name = state.name.removeprefix("Living Room Plex ")
        assert name.split()[0] in VERBS, name
        assert len(name) <= LONGEST_NAME, name


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
    assert await setup_entry(hass, mock_config_entry)

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
    assert await setup_entry(hass, mock_config_entry)

    entry = entity_registry.async_get(FUTURE)
    assert entry is not None
    assert entry.unique_id == f"{MACHINE_ID}_FutureTask"
    assert entry.entity_category is EntityCategory.CONFIG
    assert entry.disabled_by is None
    state = hass.states.get(FUTURE)
    assert state is not None
    assert state.name == "Living Room Plex Future Task"

    await press(hass, FUTURE)

    assert len(plex.requests_to("POST", "/butler/FutureTask")) == 1
    assert plex.is_running("FutureTask")


async def test_press_starts_the_task(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A press is one POST with the token in a header, and nothing else.

    (The push listener's own requests run beside it and are not the press's.)
    """
    sent = len(plex.requests)

    await press(hass, OPTIMIZE)

    (request,) = [
        r
        for r in plex.requests[sent:]
        if r.path not in ("/:/websockets/notifications", "/activities")
    ]
    assert (request.method, request.path) == ("POST", "/butler/OptimizeDatabase")
    assert request.headers["X-Plex-Token"] == OWNER_TOKEN
    assert OWNER_TOKEN not in request.url
    assert request.status == 200
    assert plex.is_running("OptimizeDatabase")


async def test_press_while_running_is_not_an_error(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Plex answers 202 to a task that already runs; the press still succeeds."""
    await press(hass, OPTIMIZE)
    await press(hass, OPTIMIZE)

    statuses = [r.status for r in plex.requests_to("POST", "/butler/OptimizeDatabase")]
    assert statuses == [200, 202]


async def test_press_of_task_gone_from_server(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A 404 on press is no misuse, and the button goes unavailable at once.

    What the message lists (the tasks read after the 404) is the coordinator's
    part, tested in test_coordinator.py.
    """
    plex.set_tasks([t for t in CURRENT_TASKS if t.name != "OptimizeDatabase"])

    with pytest.raises(HomeAssistantError) as exc_info:
        await press(hass, OPTIMIZE)

    assert not isinstance(exc_info.value, ServiceValidationError)
    assert exc_info.value.translation_key == "task_not_on_server"
    assert state_of(hass, OPTIMIZE) == STATE_UNAVAILABLE


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


async def test_a_poll_that_changes_nothing_writes_nothing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Every poll updates every entity; one that shows the same is not rewritten.

    Home Assistant notes even an unchanged write (``last_reported``, updated in
    place). A press does change the button, and is written.
    """

    def reported(entity_id: str) -> datetime:
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        return state.last_reported

    buttons = hass.states.async_entity_ids(BUTTON_DOMAIN)
    before = {b: reported(b) for b in buttons}

    await poll_with_freezer(hass, freezer)
    assert {b: reported(b) for b in buttons} == before

    await press(hass, OPTIMIZE)
    pressed = reported(OPTIMIZE)
    assert pressed != before[OPTIMIZE]
    await poll_with_freezer(hass, freezer)
    assert reported(OPTIMIZE) == pressed


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
