"""The database backup folder, as a text entity."""

from __future__ import annotations

from homeassistant.components.text import (
    ATTR_VALUE,
    DOMAIN as TEXT_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import MACHINE_ID
from .plex_simulator import PlexSimulator

BACKUP_PATH = "text.living_room_plex_database_backup_folder"


async def test_disabled_by_default(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    entry = entity_registry.async_get(BACKUP_PATH)
    assert entry is not None
    assert entry.unique_id == f"{MACHINE_ID}_setting_ButlerDatabaseBackupPath"
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert entry.entity_category is EntityCategory.CONFIG


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_shows_and_writes_the_folder(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    state = hass.states.get(BACKUP_PATH)
    assert state is not None
    assert state.state == "/config/backups"

    await hass.services.async_call(
        TEXT_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: BACKUP_PATH, ATTR_VALUE: "/mnt/nas/plex backups"},
        blocking=True,
    )

    [put] = [r for r in plex.requests if r.method == "PUT"]
    assert put.query_string == "ButlerDatabaseBackupPath=/mnt/nas/plex backups"
    assert plex.setting("ButlerDatabaseBackupPath").value == "/mnt/nas/plex backups"
    state = hass.states.get(BACKUP_PATH)
    assert state is not None
    assert state.state == "/mnt/nas/plex backups"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_absent_when_the_server_lacks_it(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    plex.remove_settings("ButlerDatabaseBackupPath")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(BACKUP_PATH) is None
