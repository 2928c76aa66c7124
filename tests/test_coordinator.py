"""The coordinator: polling over rude links, following the server, fresh errors.

Everything goes through Home Assistant's interfaces (services, states,
registries, config entries) against the simulator over a real socket.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN, SERVICE_START_TASK
from custom_components.plex_butler.coordinator import UNKNOWN_NAME_REFRESH_AFTER

from .common import poll, poll_with_freezer, wait_for_push
from .plex_simulator import CURRENT_TASKS, OLD_TASKS, PlexSimulator, SimTask

OPTIMIZE = "button.living_room_plex_optimize_database"


async def _start(hass: HomeAssistant, entry: MockConfigEntry, task: str) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        SERVICE_START_TASK,
        {"config_entry_id": entry.entry_id, "task": task},
        blocking=True,
        return_response=True,
    )


def _device(hass: HomeAssistant, plex: PlexSimulator) -> dr.DeviceEntry:
    # By its config entry: async_get_device is deprecated on newer Home Assistant.
    [device] = [
        device
        for entry in hass.config_entries.async_entries(DOMAIN)
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        if (DOMAIN, plex.machine_identifier) in device.identifiers
    ]
    return device


def _root_reads(plex: PlexSimulator) -> int:
    return len(plex.requests_to("GET", "/"))


# --- rude links ----------------------------------------------------------------


async def test_setup_and_polls_over_a_trickling_link(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """Replies in 200-byte pieces set the entry up and keep the buttons available.

    No frozen clock here: the simulator's pauses need the loop's time to move.
    """
    plex.trickle = True
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED

    await poll(hass)

    assert hass.states.get(OPTIMIZE).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert [r.status for r in plex.requests_to("GET", "/butler")] == [200, 200]


# --- following the server --------------------------------------------------------


async def test_upgrade_renames_device_and_title(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A new task list means an upgrade: name, version and title follow."""
    plex.friendly_name = "Den Plex"
    plex.version = "1.43.0.10000-abcdef012"
    plex.set_tasks(OLD_TASKS)

    await poll_with_freezer(hass, freezer)

    device = _device(hass, plex)
    assert (device.name, device.sw_version) == ("Den Plex", "1.43.0.10000-abcdef012")
    assert init_integration.title == "Den Plex"


async def test_return_after_outage_rereads_the_server(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A server back from being unreachable may have been upgraded meanwhile."""
    await plex.stop()
    await poll_with_freezer(hass, freezer)
    plex.version = "1.43.1.10001-0123abcde"
    await plex.start(port=None)

    await poll_with_freezer(hass, freezer)

    assert _device(hass, plex).sw_version == "1.43.1.10001-0123abcde"


async def test_choices_of_the_user_stay(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A device name and an entry title the user chose are not overwritten."""
    device_registry = dr.async_get(hass)
    device_registry.async_update_device(
        _device(hass, plex).id, name_by_user="Media box"
    )
    hass.config_entries.async_update_entry(init_integration, title="My Plex")
    plex.friendly_name = "Den Plex"
    plex.set_tasks(OLD_TASKS)

    await poll_with_freezer(hass, freezer)

    device = _device(hass, plex)
    assert (device.name_by_user, device.name) == ("Media box", "Den Plex")
    assert init_integration.title == "My Plex"


async def test_steady_polls_read_only_the_task_list_and_libraries(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Three requests per server per poll while nothing changes.

    Tasks, settings and libraries; the activities come over the websocket.
    """
    await wait_for_push(hass, plex)
    before = len(plex.requests)
    for _ in range(3):
        await poll_with_freezer(hass, freezer)
    assert [r.url for r in plex.requests[before:]] == [
        "/butler",
        "/:/prefs",
        "/library/sections",
    ] * 3


# --- a reinstalled server -------------------------------------------------------


async def test_other_server_at_the_address_raises_a_repair_issue(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """The issue and the error both say what works; removing the entry ends it."""
    plex.machine_identifier = "a-reinstalled-server-has-a-new-identifier"
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert "remove this entry and add the server again" in (
        mock_config_entry.reason or ""
    )
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"wrong_server_{mock_config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "wrong_server"
    assert issue.translation_placeholders == {
        "server": "Living Room Plex",
        "name": "Living Room Plex",
        "url": plex.url,
    }

    assert await hass.config_entries.async_remove(mock_config_entry.entry_id)
    assert not ir.async_get(hass).issues


# --- fresh errors and availability ----------------------------------------------------


async def test_each_dropped_task_is_reported_from_a_fresh_list(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Two tasks dropped in turn: neither message still lists the task it names."""
    for dropped in ("MusicAnalysis", "LoudnessAnalysis"):
        plex.set_tasks([t for t in CURRENT_TASKS if t.name != dropped])
        with pytest.raises(HomeAssistantError) as exc_info:
            await _start(hass, init_integration, dropped)

        assert not isinstance(exc_info.value, ServiceValidationError)
        assert exc_info.value.translation_key == "task_not_on_server"
        listed = (exc_info.value.translation_placeholders or {})["tasks"].split(", ")
        assert dropped not in listed
        assert "OptimizeDatabase" in listed


async def test_action_finds_a_task_gained_since_the_last_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A name the last poll lacked is looked up once more before it is refused."""
    freezer.tick(UNKNOWN_NAME_REFRESH_AFTER)
    plex.set_tasks([*CURRENT_TASKS, SimTask("ButlerTaskTranscodeCleanup", "Tidy")])

    response = await _start(hass, init_integration, "ButlerTaskTranscodeCleanup")

    assert response == {"task": "ButlerTaskTranscodeCleanup", "result": "started"}


async def test_unknown_names_reread_the_list_at_most_once_per_interval(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A typo repeated by an automation costs one extra read, not one per call."""
    freezer.tick(UNKNOWN_NAME_REFRESH_AFTER)
    reads = len(plex.requests_to("GET", "/butler"))
    for _ in range(5):
        with pytest.raises(ServiceValidationError):
            await _start(hass, init_integration, "NoSuchTask")
    assert len(plex.requests_to("GET", "/butler")) == reads + 1


async def test_successful_start_brings_buttons_back_at_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """After an outage, a start that works proves the server is back."""
    await plex.stop()
    await poll_with_freezer(hass, freezer)
    assert hass.states.get(OPTIMIZE).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    await plex.start(port=None)

    await _start(hass, init_integration, "BackupDatabase")
    await hass.async_block_till_done()

    assert hass.states.get(OPTIMIZE).state != STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_concurrent_unknown_names_share_one_read(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Calls that ask at once wait for the same read of the task list."""
    freezer.tick(UNKNOWN_NAME_REFRESH_AFTER)
    reads = len(plex.requests_to("GET", "/butler"))

    results = await asyncio.gather(
        *(_start(hass, init_integration, "NoSuchTask") for _ in range(5)),
        return_exceptions=True,
    )

    assert all(isinstance(r, ServiceValidationError) for r in results)
    assert len(plex.requests_to("GET", "/butler")) == reads + 1


async def test_other_server_appearing_while_polling(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A new identity behind the address mid-run: unavailable, and the issue."""
    plex.machine_identifier = "a-reinstalled-server-has-a-new-identifier"
    plex.set_tasks(OLD_TASKS)

    await poll_with_freezer(hass, freezer)

    assert hass.states.get(OPTIMIZE).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert ir.async_get(hass).async_get_issue(
        DOMAIN, f"wrong_server_{init_integration.entry_id}"
    )


# --- what a user reads: errors and the debug log ------------------------------------


async def test_debug_log_shows_requests_and_polls_and_errors_stay_plain(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Debug lines name method, path, status and time; the error names the cause.

    The network library's own text ("Cannot connect to host …") goes to the
    debug log only, never into the message the user reads.
    """
    caplog.set_level(logging.DEBUG, logger="custom_components.plex_butler")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await poll_with_freezer(hass, freezer)

    messages = [r.getMessage() for r in caplog.records]
    assert any(re.fullmatch(r"GET /butler -> 200 in \d+ ms", m) for m in messages)
    assert "Poll of Living Room Plex: 22 butler tasks" in messages

    await plex.stop()
    with pytest.raises(HomeAssistantError) as exc_info:
        await _start(hass, mock_config_entry, "OptimizeDatabase")
    shown = str(exc_info.value)
    assert shown.startswith("Living Room Plex ")
    assert "Cannot connect to host" not in shown
    assert "Client" not in shown
    assert any("Cannot connect to host" in r.getMessage() for r in caplog.records)
    assert all(plex.token not in r.getMessage() for r in caplog.records)
