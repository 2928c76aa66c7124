"""What the server is busy with: a sibling coordinator fed by push and by reads.

While the notification websocket is connected (see ``notifications.py``), its
frames update the data and nothing is polled. While it is down, ``GET
/activities`` is read with each poll of the task list. Each update carries the
``started``/``finished`` events that led to it, for the event entity.

Which butler task an activity belongs to is not documented by Plex, so none is
claimed: an activity is shown with the type and title the server sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import ActivityNotification, PlexActivity, PlexButlerClient, PlexError
from .const import DOMAIN, LOGGER
from .coordinator import PlexButlerConfigEntry
from .errors import translated_error

EVENT_STARTED: Final = "started"
EVENT_FINISHED: Final = "finished"


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """An activity began or ended."""

    event_type: str
    activity: PlexActivity


@dataclass(frozen=True, slots=True)
class ActivityData:
    """The running activities by uuid, and the events of the last change."""

    activities: dict[str, PlexActivity]
    events: tuple[ActivityEvent, ...] = ()


class PlexActivityCoordinator(DataUpdateCoordinator[ActivityData]):
    """Keeps one server's running activities; it never polls on its own.

    While ``pushed`` (the websocket is connected) its frames update the data.
    Otherwise the task-list coordinator calls ``async_poll`` at each of its
    polls, so an outage fails, and is logged, once: there.
    """

    config_entry: PlexButlerConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PlexButlerConfigEntry,
        client: PlexButlerClient,
    ) -> None:
        """No interval: the websocket or the task-list poll feeds it."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} activities {entry.title}",
            update_interval=None,
        )
        self.client = client
        self.pushed = False

    async def _async_update_data(self) -> ActivityData:
        """Read ``/activities`` when asked to (``homeassistant.update_entity``)."""
        try:
            activities = await self.client.async_get_activities()
        except PlexError as err:
            raise translated_error(UpdateFailed, err, self.config_entry.title) from err
        return self._changed_to(activities)

    async def async_poll(self) -> None:
        """Read ``/activities`` and show it; a ``PlexError`` is the caller's to map."""
        self.async_set_updated_data(
            self._changed_to(await self.client.async_get_activities())
        )

    def _changed_to(self, activities: Iterable[PlexActivity]) -> ActivityData:
        """A full read: what appeared or vanished since the last data are events."""
        current = {activity.uuid: activity for activity in activities}
        previous = self.data.activities if self.data is not None else {}
        events = [
            ActivityEvent(EVENT_STARTED, a)
            for uuid, a in current.items()
            if uuid not in previous
        ]
        events += [
            ActivityEvent(EVENT_FINISHED, a)
            for uuid, a in previous.items()
            if uuid not in current
        ]
        return ActivityData(current, tuple(events))

    @callback
    def async_set_unreachable(self, err: PlexError) -> None:
        """The server did not answer: the activities are unknown until it does.

        Unlike ``async_set_update_error`` this logs nothing: the listener
        already said once that the connection was lost.
        """
        self.last_exception = err
        if self.last_update_success:
            self.last_update_success = False
            self.async_update_listeners()

    @callback
    def async_apply(self, notes: Iterable[ActivityNotification]) -> None:
        """Apply the activity items of one websocket frame.

        An ``ended`` for an activity never seen started is ignored: it ended
        before the last full read, which already reported it.
        """
        activities = dict(self.data.activities)
        events: list[ActivityEvent] = []
        for note in notes:
            if note.event == "ended":
                gone = activities.pop(note.uuid, None)
                if gone is not None:
                    events.append(ActivityEvent(EVENT_FINISHED, note.activity or gone))
            elif note.activity is not None:
                if note.uuid not in activities:
                    events.append(ActivityEvent(EVENT_STARTED, note.activity))
                activities[note.uuid] = note.activity
        self.async_set_updated_data(ActivityData(activities, tuple(events)))
