"""The base entity: one device per Plex server, fed by the coordinator."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from homeassistant.const import CONF_URL
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import (
    CoordinatorEntity,
    DataUpdateCoordinator,
)

from .activity import PlexActivityCoordinator
from .api import PlexSetting
from .const import DOMAIN
from .coordinator import PlexButlerConfigEntry, PlexButlerCoordinator


class WritesWhenShownChanges[CoordinatorT: DataUpdateCoordinator[Any]](
    CoordinatorEntity[CoordinatorT]
):
    """A coordinator entity that writes its state only when what it shows changed.

    Every poll updates all of a server's entities, and Plex reports a running
    activity's progress every few seconds; most of those updates leave most
    entities as they were (a button, Busy), and Home Assistant would still
    work out and record each unchanged state.
    """

    _shown: tuple[object, ...] | None = None

    def _shown_now(self) -> tuple[object, ...]:
        """Everything this entity shows: availability, name, state and attributes.

        Home Assistant reads the state and attributes only while the entity is
        available, and so does this.
        """
        if not self.available:
            return (False, self.name)
        return (True, self.name, self.state, self.extra_state_attributes)

    @callback
    def async_write_ha_state(self) -> None:
        """Write the state, and remember what it shows."""
        self._shown = self._shown_now()
        super().async_write_ha_state()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only if it differs from the one written last."""
        if self._shown_now() != self._shown:
            super()._handle_coordinator_update()


class PlexButlerEntity(WritesWhenShownChanges[PlexButlerCoordinator]):
    """Ties an entity to its server's device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: PlexButlerCoordinator) -> None:
        """Describe the server as a service-type device."""
        super().__init__(coordinator)
        self._attr_device_info = server_device_info(coordinator)


def server_device_info(coordinator: PlexButlerCoordinator) -> DeviceInfo:
    """The server as a service-type device; whichever platform loads first makes it."""
    server = coordinator.server
    return DeviceInfo(
        identifiers={(DOMAIN, server.machine_identifier)},
        name=server.friendly_name,
        manufacturer="Plex",
        model="Plex Media Server",
        sw_version=server.version,
        entry_type=DeviceEntryType.SERVICE,
        configuration_url=f"{coordinator.config_entry.data[CONF_URL].rstrip('/')}/web",
    )


class PlexSettingEntity(PlexButlerEntity):
    """Shows and writes one server setting; unavailable while the server lacks it.

    The description's ``key`` is the setting's Plex id. A description without a
    translation key comes from a setting this integration does not know: the
    server's label names it.
    """

    def __init__(
        self, coordinator: PlexButlerCoordinator, description: EntityDescription
    ) -> None:
        """Build the unique id from the server and the setting id."""
        super().__init__(coordinator)
        self.entity_description = description
        self.setting_id = description.key
        self._attr_unique_id = (
            f"{coordinator.server.machine_identifier}_setting_{description.key}"
        )

    @property
    def setting(self) -> PlexSetting:
        """The setting as last read (or just written)."""
        return self.coordinator.data.settings[self.setting_id]

    @property
    def available(self) -> bool:
        """Only while the server still reports this setting."""
        return super().available and self.setting_id in self.coordinator.data.settings


@callback
def async_add_setting_entities(
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    make: Callable[[PlexSetting], Iterable[Entity]],
) -> None:
    """Add entities (``make``) for each setting now, and for settings added later."""
    coordinator = entry.runtime_data
    seen: set[str] = set()

    @callback
    def _add_new() -> None:
        new = [s for s in coordinator.data.settings.values() if s.id not in seen]
        seen.update(s.id for s in new)
        if entities := [entity for s in new for entity in make(s)]:
            async_add_entities(entities)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))


class PlexActivityEntity(WritesWhenShownChanges[PlexActivityCoordinator]):
    """Shows what the server is busy with, on the server's device."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: PlexButlerCoordinator, description: EntityDescription
    ) -> None:
        """Attach to the server's device; the unique id ends in the key."""
        super().__init__(coordinator.activity)
        self._server_coordinator = coordinator
        self.entity_description = description
        machine_identifier = coordinator.server.machine_identifier
        self._attr_unique_id = f"{machine_identifier}_{description.key}"
        self._attr_device_info = server_device_info(coordinator)

    async def async_added_to_hass(self) -> None:
        """Also follow the task-list poll, which tells whether the server is there."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self._server_coordinator.async_add_listener(self._handle_coordinator_update)
        )

    @property
    def available(self) -> bool:
        """While the server answers its polls and the activities are known."""
        return super().available and self._server_coordinator.last_update_success


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
