"""The task-setting switches: one per ``ButlerTask…`` boolean the server reports."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.switch import (
    DOMAIN as SWITCH_DOMAIN,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN
from custom_components.plex_butler.settings import KNOWN_TASK_SETTINGS

from .common import poll_with_freezer
from .conftest import MACHINE_ID, OWNER_TOKEN
from .plex_simulator import BUTLER_TASK_SETTINGS, PlexSimulator, SimSetting

BACKUP = "switch.living_room_plex_back_up_database_on_schedule"
LIBRARIES = "switch.living_room_plex_refresh_libraries_on_schedule"


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _turn(hass: HomeAssistant, service: str, entity_id: str) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _puts(plex: PlexSimulator) -> list[str]:
    return [r.url for r in plex.requests if r.method == "PUT"]


async def test_one_switch_per_task_setting(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Each ``ButlerTask`` boolean gets a named, config-category switch; nothing else."""
    switches = [
        entry
        for entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
        if entry.domain == SWITCH_DOMAIN
    ]
    assert sorted(entry.unique_id for entry in switches) == sorted(
        f"{MACHINE_ID}_setting_{id_}" for id_, _, _ in BUTLER_TASK_SETTINGS
    )
    for entry in switches:
        assert entry.entity_category is EntityCategory.CONFIG
        assert entry.disabled_by is None
        assert (
            entry.translation_key
            == KNOWN_TASK_SETTINGS[
                entry.unique_id.removeprefix(f"{MACHINE_ID}_setting_")
            ]
        )
    state = hass.states.get(BACKUP)
    assert state is not None
    assert state.name == "Living Room Plex Back up database on schedule"
    assert state.state == STATE_ON
    assert _state(hass, LIBRARIES) == STATE_OFF


async def test_only_settings_the_server_has(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A server without a setting gets no switch for it; an unknown one is named by its label."""
    plex.remove_settings("ButlerTaskBackupDatabase", "ButlerTaskReverseGeocode")
    plex.settings.append(
        SimSetting("ButlerTaskFutureChore", "Do the future chore nightly", "bool", True)
    )
    await _setup(hass, mock_config_entry)

    assert hass.states.get(BACKUP) is None
    assert not entity_registry.async_get_entity_id(
        SWITCH_DOMAIN, DOMAIN, f"{MACHINE_ID}_setting_ButlerTaskReverseGeocode"
    )
    future = entity_registry.async_get_entity_id(
        SWITCH_DOMAIN, DOMAIN, f"{MACHINE_ID}_setting_ButlerTaskFutureChore"
    )
    assert future == "switch.living_room_plex_do_the_future_chore_nightly"
    state = hass.states.get(future)
    assert state is not None
    assert state.name == "Living Room Plex Do the future chore nightly"
    assert state.state == STATE_ON


async def test_turning_writes_the_setting_and_shows_at_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Off and on are PUTs of 0 and 1; the state follows at once, the poll confirms."""
    await _turn(hass, SERVICE_TURN_OFF, BACKUP)
    assert _puts(plex) == ["/:/prefs?ButlerTaskBackupDatabase=0"]
    assert _state(hass, BACKUP) == STATE_OFF
    assert plex.setting("ButlerTaskBackupDatabase").value is False

    await _turn(hass, SERVICE_TURN_ON, LIBRARIES)
    assert _puts(plex)[-1] == "/:/prefs?ButlerTaskRefreshLibraries=1"
    assert _state(hass, LIBRARIES) == STATE_ON

    await poll_with_freezer(hass, freezer)
    assert _state(hass, BACKUP) == STATE_OFF
    assert _state(hass, LIBRARIES) == STATE_ON
    assert all(OWNER_TOKEN not in r.query_string for r in plex.requests)


async def test_a_change_in_plex_web_shows_by_the_next_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    plex.setting("ButlerTaskBackupDatabase").value = False
    await poll_with_freezer(hass, freezer)
    assert _state(hass, BACKUP) == STATE_OFF


async def test_a_refused_write_keeps_the_state_and_names_server_and_setting(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Plex answers 400 for an id it does not have (any more)."""
    plex.remove_settings("ButlerTaskBackupDatabase")

    with pytest.raises(HomeAssistantError) as exc_info:
        await _turn(hass, SERVICE_TURN_OFF, BACKUP)

    assert not isinstance(exc_info.value, ServiceValidationError)
    assert [r.status for r in plex.requests if r.method == "PUT"] == [400]
    assert exc_info.value.translation_key == "setting_refused"
    assert str(exc_info.value) == (
        "Living Room Plex refused the value False for the setting "
        '"Backup database every three days"'
    )
    assert _state(hass, BACKUP) == STATE_ON


async def test_a_write_to_a_server_that_is_down_fails_translated(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    await plex.stop()

    with pytest.raises(HomeAssistantError) as exc_info:
        await _turn(hass, SERVICE_TURN_OFF, BACKUP)

    assert exc_info.value.translation_key == "setting_failed"
    assert exc_info.value.translation_placeholders == {
        "server": "Living Room Plex",
        "setting": "Backup database every three days",
        "value": "False",
        "error": "The connection was refused",
    }
    assert "Backup database every three days" in str(exc_info.value)
    assert _state(hass, BACKUP) == STATE_ON


async def test_a_rejected_token_on_write_starts_reauth(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    plex.fault = "401"

    with pytest.raises(HomeAssistantError):
        await _turn(hass, SERVICE_TURN_OFF, BACKUP)
    await hass.async_block_till_done()

    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
