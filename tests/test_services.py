"""The plex_butler.start_task action, called the way automations call it.

A start that fails on the server's side (down, erroring, hanging, refusing
the token) is part of the fault matrix in test_faults.py, next to the button's;
a task the server dropped is the coordinator's, in test_coordinator.py.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.plex_butler.tasks import task_key

from .common import setup_entry, start_task
from .plex_simulator import CURRENT_TASKS, PlexSimulator, SimTask


def _posts(plex: PlexSimulator) -> list[str]:
    return [r.path for r in plex.requests if r.method == "POST"]


async def test_start_then_already_running(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """The response tells a fresh start from a task that was already running."""
    data = {"config_entry_id": init_integration.entry_id, "task": "OptimizeDatabase"}

    assert await start_task(hass, data) == {
        "task": "OptimizeDatabase",
        "result": "started",
    }
    assert await start_task(hass, data) == {
        "task": "OptimizeDatabase",
        "result": "already_running",
    }
    assert _posts(plex) == ["/butler/OptimizeDatabase"] * 2


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("OptimizeDatabase", "OptimizeDatabase"),
        ("optimize_database", "OptimizeDatabase"),
        ("OPTIMIZE_DATABASE", "OptimizeDatabase"),
        ("optimizedatabase", "OptimizeDatabase"),
        ("generate_intro_markers", "ButlerTaskGenerateIntroMarkers"),
        ("ButlerTaskGenerateIntroMarkers", "ButlerTaskGenerateIntroMarkers"),
        ("refresh_epg_guides", "RefreshEpgGuides"),
    ],
)
async def test_task_spellings(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    requested: str,
    expected: str,
) -> None:
    """Users may type the Plex name or the snake_case key, in any case."""
    response = await start_task(
        hass, {"config_entry_id": init_integration.entry_id, "task": requested}
    )

    assert response == {"task": expected, "result": "started"}
    assert _posts(plex) == [f"/butler/{expected}"]


async def test_without_response(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Scripts that don't ask for a response still start the task."""
    response = await start_task(
        hass,
        {"config_entry_id": init_integration.entry_id, "task": "backup_database"},
        return_response=False,
    )

    assert response is None
    assert _posts(plex) == ["/butler/BackupDatabase"]
    assert plex.is_running("BackupDatabase")


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("future_task", "FutureTask"),
        ("FutureTask", "FutureTask"),
        ("future_markers", "ButlerTaskFutureMarkers"),
        ("butler_task_future_markers", "ButlerTaskFutureMarkers"),
    ],
)
async def test_tasks_unknown_to_the_integration_can_be_started(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    requested: str,
    expected: str,
) -> None:
    """Tasks of newer servers take the same spellings, prefix optional."""
    plex.set_tasks(
        [
            *CURRENT_TASKS,
            SimTask("FutureTask", "Future Task"),
            SimTask("ButlerTaskFutureMarkers", "Generate Future Markers"),
        ]
    )
    assert await setup_entry(hass, mock_config_entry)

    response = await start_task(
        hass, {"config_entry_id": mock_config_entry.entry_id, "task": requested}
    )

    assert response == {"task": expected, "result": "started"}
    assert _posts(plex) == [f"/butler/{expected}"]


def _valid_tasks_text() -> str:
    """How the error lists the tasks: the keys users type, then Plex's names."""
    names = sorted((t.name for t in CURRENT_TASKS), key=task_key)
    return ", ".join(f"{task_key(name)} ({name})" for name in names)


@pytest.mark.parametrize(
    ("task", "shown_as"),
    [
        ("NoSuchTask", "NoSuchTask"),
        ("", ""),
        ("   ", "   "),
        ("_", "_"),
        # cv.string turns a number into text, so it is an unknown task name.
        (42, "42"),
    ],
)
async def test_unknown_task_lists_valid_ones(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    task: Any,
    shown_as: str,
) -> None:
    """A typo is the caller's mistake: nothing is sent, and the valid names shown."""
    sent = len(plex.requests)
    with pytest.raises(ServiceValidationError) as exc_info:
        await start_task(
            hass, {"config_entry_id": init_integration.entry_id, "task": task}
        )

    assert exc_info.value.translation_key == "unknown_task"
    assert exc_info.value.translation_placeholders == {
        "server": "Living Room Plex",
        "task": shown_as,
        "tasks": _valid_tasks_text(),
    }
    assert len(plex.requests) == sent


@pytest.mark.parametrize(
    ("task", "suggestion"),
    [
        ("optimise_database", "optimize_database (OptimizeDatabase)"),
        ("OptimizeDatabase2", "optimize_database (OptimizeDatabase)"),
        ("backup_databse", "backup_database (BackupDatabase)"),
        (
            "GenerateIntroMarker",
            "generate_intro_markers (ButlerTaskGenerateIntroMarkers)",
        ),
    ],
)
async def test_unknown_task_suggests_the_closest(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    task: str,
    suggestion: str,
) -> None:
    """A near miss names the task probably meant, in the form users type."""
    with pytest.raises(ServiceValidationError) as exc_info:
        await start_task(
            hass, {"config_entry_id": init_integration.entry_id, "task": task}
        )

    assert exc_info.value.translation_key == "unknown_task_suggestion"
    placeholders = exc_info.value.translation_placeholders or {}
    assert placeholders["suggestion"] == suggestion
    assert str(exc_info.value) == (
        f'Living Room Plex has no butler task "{task}". Did you mean {suggestion}? '
        f"Valid tasks: {_valid_tasks_text()}"
    )
    assert _posts(plex) == []


async def test_unknown_entry_id(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """An entry id that doesn't exist is reported as such."""
    with pytest.raises(ServiceValidationError) as exc_info:
        await start_task(
            hass, {"config_entry_id": "no-such-entry", "task": "OptimizeDatabase"}
        )

    assert exc_info.value.translation_key == "entry_not_found"
    assert exc_info.value.translation_placeholders == {"entry_id": "no-such-entry"}
    assert _posts(plex) == []


async def test_entry_of_another_integration(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Another integration's entry is not a Plex server, even if it exists."""
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)

    with pytest.raises(ServiceValidationError) as exc_info:
        await start_task(
            hass, {"config_entry_id": other.entry_id, "task": "OptimizeDatabase"}
        )

    assert exc_info.value.translation_key == "entry_not_found"
    assert _posts(plex) == []


async def test_unloaded_entry(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A server whose entry is not loaded cannot take tasks."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()

    with pytest.raises(ServiceValidationError) as exc_info:
        await start_task(
            hass,
            {"config_entry_id": init_integration.entry_id, "task": "OptimizeDatabase"},
        )

    assert exc_info.value.translation_key == "entry_not_loaded"
    assert exc_info.value.translation_placeholders == {"title": "Living Room Plex"}
    assert _posts(plex) == []


async def test_entry_that_failed_to_set_up(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """An entry waiting to retry setup is not loaded either."""
    await plex.stop()
    assert not await setup_entry(hass, mock_config_entry)

    with pytest.raises(ServiceValidationError) as exc_info:
        await start_task(
            hass,
            {"config_entry_id": mock_config_entry.entry_id, "task": "OptimizeDatabase"},
        )

    assert exc_info.value.translation_key == "entry_not_loaded"


@pytest.mark.parametrize(
    "data",
    [
        {"task": "OptimizeDatabase"},
        {"config_entry_id": "abc"},
        {},
        {"config_entry_id": "abc", "task": ["OptimizeDatabase"]},
        {"config_entry_id": {"id": "abc"}, "task": "OptimizeDatabase"},
        {"config_entry_id": "abc", "task": None},
        {"config_entry_id": "abc", "task": "OptimizeDatabase", "extra": 1},
    ],
)
async def test_schema_rejects_bad_calls(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    data: dict[str, Any],
) -> None:
    """Missing fields, wrong types and unknown fields fail validation."""
    with pytest.raises(vol.Invalid):
        await start_task(hass, data)

    assert _posts(plex) == []
