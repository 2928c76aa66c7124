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


def libraries_device_info(coordinator: PlexButlerCoordinator) -> DeviceInfo:
    """The device of a server's libraries, listed under the server's device.

    Home Assistant groups a device's entities only by category, so the
    libraries, as many as the server has, get a device of their own instead of
    crowding the server's controls: "<server> libraries", linked to the server.
    """
    server = coordinator.server
    return DeviceInfo(
        identifiers={(DOMAIN, f"{server.machine_identifier}_libraries")},
        translation_key="libraries",
        translation_placeholders={"server": server.friendly_name},
        manufacturer="Plex",
        model="Plex Media Server libraries",
        entry_type=DeviceEntryType.SERVICE,
        via_device=(DOMAIN, server.machine_identifier),
        configuration_url=f"{coordinator.config_entry.data[CONF_URL].rstrip('/')}/web",
    )
