"""The project's blueprints, loaded by Home Assistant's automation.

Each blueprint is installed where Home Assistant looks for it and instantiated
with ``use_blueprint`` like a user's automation. "Run a task on a schedule" is
driven by moving the clock; the simulator's request log shows whether the task
was started. "Notify when an activity finishes" is driven by tasks the
simulator runs and ends; a test service stands in for the notification.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
import json
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from .common import start_task, until, wait_for_push
from .plex_simulator import PlexSimulator

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints" / "automation" / "plex_butler"
BLUEPRINT = BLUEPRINTS / "run_task_on_schedule.yaml"
NOTIFY_BLUEPRINT = BLUEPRINTS / "notify_when_activity_finishes.yaml"
INTEGRATION = ROOT / "custom_components" / "plex_butler"
START_PATH = "/butler/OptimizeDatabase"
AUTOMATION = "automation.nightly_plex_optimize"


@pytest.fixture
def blueprint_installed(hass: HomeAssistant, tmp_path: Path) -> None:
    """Copy the blueprints into this Home Assistant's blueprint folder.

    The test instance's config dir is a folder inside the test plugin's package,
    shared by every test: a fresh one keeps the copy from outliving the test.
    """
    hass.config.config_dir = str(tmp_path)
    folder = Path(hass.config.path("blueprints", "automation", "plex_butler"))
    folder.mkdir(parents=True)
    for blueprint in (BLUEPRINT, NOTIFY_BLUEPRINT):
        shutil.copy(blueprint, folder)


def _local(day: int, hour: int, minute: int) -> datetime:
    """A time in Home Assistant's time zone; 6 January 2025 was a Monday."""
    return datetime(2025, 1, day, hour, minute, tzinfo=dt_util.get_default_time_zone())


type Schedule = Callable[[list[str]], Awaitable[None]]


@pytest.fixture
async def schedule(
    hass: HomeAssistant, blueprint_installed: None, init_integration: MockConfigEntry
) -> AsyncGenerator[Schedule]:
    """Set up an automation from the blueprint: optimize the database at 03:30.

    Afterwards the automation is turned off, which cancels the trigger's timer
    for the next 03:30 (the test harness fails a test that leaves one behind).
    """

    async def _schedule(weekdays: list[str]) -> None:
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "id": "plex_nightly_optimize",
                    "alias": "Nightly Plex optimize",
                    "use_blueprint": {
                        "path": "plex_butler/run_task_on_schedule.yaml",
                        "input": {
                            "server": init_integration.entry_id,
                            "task": "optimize_database",
                            "time": "03:30:00",
                            "weekdays": weekdays,
                        },
                    },
                }
            },
        )
        await hass.async_block_till_done()
        state = hass.states.get(AUTOMATION)
        assert state is not None
        assert state.state == "on"

    yield _schedule
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": AUTOMATION}, blocking=True
    )


async def _at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime
) -> None:
    freezer.move_to(when)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def test_starts_the_task_at_the_time_on_a_selected_weekday(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    schedule: Schedule,
) -> None:
    freezer.move_to(_local(6, 3, 29))  # Monday, a minute early
    await schedule(["mon", "wed"])
    assert plex.requests_to("POST", START_PATH) == []

    await _at(hass, freezer, _local(6, 3, 30))

    [request] = plex.requests_to("POST", START_PATH)
    assert request.status == 200
    assert plex.is_running("OptimizeDatabase")


async def test_skips_a_weekday_not_selected_and_runs_on_the_next_selected(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    schedule: Schedule,
) -> None:
    freezer.move_to(_local(7, 3, 29))  # Tuesday
    await schedule(["wed"])

    await _at(hass, freezer, _local(7, 3, 30))
    assert plex.requests_to("POST", START_PATH) == []

    # The trigger is still armed: the same time on Wednesday starts the task.
    await _at(hass, freezer, _local(8, 3, 30))
    assert len(plex.requests_to("POST", START_PATH)) == 1


def _options(selector: dict[str, Any]) -> list[dict[str, str]]:
    options: list[dict[str, str]] = selector["select"]["options"]
    return options


def test_offers_the_same_tasks_and_names_as_the_action() -> None:
    """The blueprint's task list is a copy: keep it in step with the action's."""
    blueprint = load_yaml(BLUEPRINT)
    assert isinstance(blueprint, dict)
    offered = _options(blueprint["blueprint"]["input"]["task"]["selector"])
    services = load_yaml(INTEGRATION / "services.yaml")
    assert isinstance(services, dict)
    action_keys = services["start_task"]["fields"]["task"]["selector"]["select"][
        "options"
    ]
    labels = json.loads((INTEGRATION / "translations" / "en.json").read_text())[
        "selector"
    ]["task"]["options"]

    assert [option["value"] for option in offered] == action_keys
    assert {option["value"]: option["label"] for option in offered} == labels


# --- notify when an activity finishes ---------------------------------------

ACTIVITY_EVENT = "event.living_room_plex_activity"
NOTIFY_AUTOMATION = "automation.plex_activity_finished"


async def _notify_on_finish(hass: HomeAssistant, match: str | None) -> None:
    """Set up the blueprint with ``test.notify`` as the notification.

    ``match=None`` leaves the input out, so its default applies.
    """
    inputs: dict[str, Any] = {
        "activity_event": ACTIVITY_EVENT,
        "notify": [
            {
                "action": "test.notify",
                "data": {
                    "message": "{{ activity_title }} ({{ activity_type }}) finished"
                },
            }
        ],
    }
    if match is not None:
        inputs["match"] = match
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "plex_activity_finished",
                "alias": "Plex activity finished",
                "use_blueprint": {
                    "path": "plex_butler/notify_when_activity_finishes.yaml",
                    "input": inputs,
                },
            }
        },
    )
    await hass.async_block_till_done()
    state = hass.states.get(NOTIFY_AUTOMATION)
    assert state is not None
    assert state.state == "on"


def _event_type(hass: HomeAssistant) -> str | None:
    state = hass.states.get(ACTIVITY_EVENT)
    assert state is not None
    event_type: str | None = state.attributes.get("event_type")
    return event_type


async def _run_two_tasks(
    hass: HomeAssistant, plex: PlexSimulator, entry: MockConfigEntry
) -> None:
    """Start a library refresh and a database optimization; wait until both end.

    They show as Plex shows them: ``library.update.section`` "Refresh
    Libraries" and ``butler.task`` "Optimize Database".
    """
    finished: list[str] = []

    @callback
    def _on_change(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.attributes.get("event_type") == "finished":
            finished.append(new.attributes["title"])

    unsubscribe = hass.bus.async_listen("state_changed", _on_change)
    plex.run_seconds = 0.2
    await wait_for_push(hass, plex)
    for task in ("refresh_libraries", "optimize_database"):
        await start_task(hass, {"config_entry_id": entry.entry_id, "task": task})
    await until(hass, lambda: len(finished) == 2)
    unsubscribe()
    await hass.async_block_till_done()
    assert sorted(finished) == ["Optimize Database", "Refresh Libraries"]
    assert plex.activities == {}


@pytest.mark.parametrize(
    ("match", "notified"),
    [
        # The type library.update.section; the title "Refresh Libraries" lacks it.
        ("library", ["Refresh Libraries (library.update.section) finished"]),
        # A title, in another letter case.
        ("OPTIMIZE", ["Optimize Database (butler.task) finished"]),
        ("optimize database", ["Optimize Database (butler.task) finished"]),
        # A type, whole.
        ("Butler.Task", ["Optimize Database (butler.task) finished"]),
        ("transcode", []),
        # Empty, blank or left out: every activity.
        (
            "",
            [
                "Optimize Database (butler.task) finished",
                "Refresh Libraries (library.update.section) finished",
            ],
        ),
        (
            "   ",
            [
                "Optimize Database (butler.task) finished",
                "Refresh Libraries (library.update.section) finished",
            ],
        ),
        (
            None,
            [
                "Optimize Database (butler.task) finished",
                "Refresh Libraries (library.update.section) finished",
            ],
        ),
    ],
)
async def test_notifies_when_a_matching_activity_finishes(
    hass: HomeAssistant,
    plex: PlexSimulator,
    blueprint_installed: None,
    init_integration: MockConfigEntry,
    *,
    match: str | None,
    notified: list[str],
) -> None:
    """Only ``finished`` events of matching activities notify, once each."""
    calls = async_mock_service(hass, "test", "notify")
    await _notify_on_finish(hass, match)

    await _run_two_tasks(hass, plex, init_integration)

    # Two activities started and finished: the starts notify nobody.
    assert sorted(call.data["message"] for call in calls) == notified


async def test_a_stopped_task_counts_as_finished(
    hass: HomeAssistant,
    plex: PlexSimulator,
    blueprint_installed: None,
    init_integration: MockConfigEntry,
) -> None:
    """Plex ends a stopped task's activity, so its end is reported too."""
    calls = async_mock_service(hass, "test", "notify")
    await _notify_on_finish(hass, "optimize")
    await wait_for_push(hass, plex)
    data = {"config_entry_id": init_integration.entry_id, "task": "optimize_database"}
    await start_task(hass, data)
    await until(hass, lambda: _event_type(hass) == "started")
    assert calls == []

    await hass.services.async_call(
        "plex_butler", "stop_task", data, blocking=True, return_response=True
    )

    await until(hass, lambda: len(calls) == 1)
    assert calls[0].data == {"message": "Optimize Database (butler.task) finished"}
