"""The "run a task on a schedule" blueprint, loaded by Home Assistant's automation.

The blueprint is installed where Home Assistant looks for it, instantiated with
``use_blueprint`` like a user's automation, and driven by moving the clock; the
simulator's request log shows whether the task was started.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
import json
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from .plex_simulator import PlexSimulator

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINT = (
    ROOT / "blueprints" / "automation" / "plex_butler" / "run_task_on_schedule.yaml"
)
INTEGRATION = ROOT / "custom_components" / "plex_butler"
START_PATH = "/butler/OptimizeDatabase"
AUTOMATION = "automation.nightly_plex_optimize"


@pytest.fixture
def blueprint_installed(hass: HomeAssistant, tmp_path: Path) -> None:
    """Copy the blueprint into this Home Assistant's blueprint folder.

    The test instance's config dir is a folder inside the test plugin's package,
    shared by every test: a fresh one keeps the copy from outliving the test.
    """
    hass.config.config_dir = str(tmp_path)
    folder = Path(hass.config.path("blueprints", "automation", "plex_butler"))
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder)


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
