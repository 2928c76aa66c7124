"""The Plex Butler integration: a Plex server's maintenance tasks in Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from .activity import PlexActivityCoordinator
from .const import DOMAIN
from .coordinator import (
    PlexButlerConfigEntry,
    PlexButlerCoordinator,
    wrong_server_issue_id,
)
from .discovery import async_start_discovery
from .helpers import async_create_client
from .notifications import NotificationListener
from .services import async_setup_services

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TEXT,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, so automations validate even before setup."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PlexButlerConfigEntry) -> bool:
    """Connect to the server, add its entities and listen to its notifications."""
    client = await async_create_client(hass, entry.data)
    coordinator = PlexButlerCoordinator(hass, entry, client)
    coordinator.activity = PlexActivityCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(
        coordinator.activity.async_add_listener(coordinator.async_follow_library_scans)
    )
    NotificationListener(hass, entry, client, coordinator.activity).start()
    entry.async_on_unload(async_start_discovery(hass, entry.entry_id))
    return True


async def async_remove_entry(hass: HomeAssistant, entry: PlexButlerConfigEntry) -> None:
    """Withdraw the repair issue of a removed entry."""
    ir.async_delete_issue(hass, DOMAIN, wrong_server_issue_id(entry))


async def async_unload_entry(hass: HomeAssistant, entry: PlexButlerConfigEntry) -> bool:
    """Remove the entities; the coordinators and the listener stop with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
