"""How many activities the server is running, and which."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .activity import ActivityData
from .coordinator import PlexButlerConfigEntry
from .entity import PlexActivityEntity

# Read-only: state comes from the coordinator, nothing is requested per entity.
PARALLEL_UPDATES = 0


def _activity_list(data: ActivityData) -> dict[str, Any]:
    """Title, subtitle, type and progress of each; no ids, no users, no token."""
    return {
        "activities": [
            {
                "title": a.title,
                "subtitle": a.subtitle,
                "type": a.type,
                "progress": a.progress,
            }
            for a in data.activities.values()
        ]
    }


@dataclass(frozen=True, kw_only=True)
class PlexActivitySensorDescription(SensorEntityDescription):
    """A sensor computed from the running activities."""

    value_fn: Callable[[ActivityData], int]
    attributes_fn: Callable[[ActivityData], dict[str, Any]]


DESCRIPTIONS: tuple[PlexActivitySensorDescription, ...] = (
    PlexActivitySensorDescription(
        key="activities",
        translation_key="activities",
        value_fn=lambda data: len(data.activities),
        attributes_fn=_activity_list,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the activity sensors."""
    async_add_entities(
        PlexActivitySensor(entry.runtime_data, description)
        for description in DESCRIPTIONS
    )


class PlexActivitySensor(PlexActivityEntity, SensorEntity):
    """A number computed from the server's activities."""

    entity_description: PlexActivitySensorDescription

    @property
    def native_value(self) -> int:
        """The description's value of the current activities."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The description's attributes of the current activities."""
        return self.entity_description.attributes_fn(self.coordinator.data)
