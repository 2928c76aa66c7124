"""The base entity: one device per Plex server, fed by the coordinator."""

from __future__ import annotations

from homeassistant.const import CONF_URL
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import PlexButlerCoordinator


class PlexButlerEntity(CoordinatorEntity[PlexButlerCoordinator]):
    """Ties an entity to its server's device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: PlexButlerCoordinator) -> None:
        """Describe the server as a service-type device."""
        super().__init__(coordinator)
        server = coordinator.server
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, server.machine_identifier)},
            name=server.friendly_name,
            manufacturer="Plex",
            model="Plex Media Server",
            sw_version=server.version,
            entry_type=DeviceEntryType.SERVICE,
            configuration_url=f"{coordinator.config_entry.data[CONF_URL].rstrip('/')}/web",
        )
