"""An event each time an activity of the server starts or finishes."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .activity import EVENT_FINISHED, EVENT_STARTED, ActivityData
from .coordinator import PlexButlerConfigEntry
from .entity import PlexActivityEntity

PARALLEL_UPDATES = 0

ACTIVITY_EVENT = EventEntityDescription(
    key="activity",
    translation_key="activity",
    event_types=[EVENT_STARTED, EVENT_FINISHED],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the activity event entity."""
    async_add_entities([PlexActivityEventEntity(entry.runtime_data, ACTIVITY_EVENT)])


class PlexActivityEventEntity(PlexActivityEntity, EventEntity):
    """Fires ``started`` and ``finished`` with the activity's type and titles."""

    _seen: ActivityData | None = None

    async def async_added_to_hass(self) -> None:
        """Events before the entity existed are not replayed."""
        await super().async_added_to_hass()
        self._seen = self.coordinator.data

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire the events of a new update; a failed poll repeats none."""
        data = self.coordinator.data
        if data is self._seen:
            super()._handle_coordinator_update()
            return
        self._seen = data
        for event in data.events:
            self._trigger_event(
                event.event_type,
                {
                    "type": event.activity.type,
                    "title": event.activity.title,
                    "subtitle": event.activity.subtitle,
                },
            )
            self.async_write_ha_state()
        if not data.events:
            super()._handle_coordinator_update()
