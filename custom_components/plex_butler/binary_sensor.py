"""Whether the server is busy with any activity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .activity import ActivityData
from .coordinator import PlexButlerConfigEntry
from .entity import PlexActivityEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PlexActivityBinarySensorDescription(BinarySensorEntityDescription):
    """A yes/no computed from the running activities."""

    is_on_fn: Callable[[ActivityData], bool]


DESCRIPTIONS: tuple[PlexActivityBinarySensorDescription, ...] = (
    PlexActivityBinarySensorDescription(
        key="busy",
        translation_key="busy",
        device_class=BinarySensorDeviceClass.RUNNING,
        is_on_fn=lambda data: bool(data.activities),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the activity binary sensors."""
    async_add_entities(
        PlexActivityBinarySensor(entry.runtime_data, description)
        for description in DESCRIPTIONS
    )


class PlexActivityBinarySensor(PlexActivityEntity, BinarySensorEntity):
    """On while the description says so of the current activities."""

    entity_description: PlexActivityBinarySensorDescription

    @property
    def is_on(self) -> bool:
        """The description's verdict on the current activities."""
        return self.entity_description.is_on_fn(self.coordinator.data)
