"""One button per butler task the server reports, and one per library."""

from __future__ import annotations

from typing import Any

from homeassistant.components.button import ButtonEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import ButlerTask, LibrarySection
from .coordinator import PlexButlerConfigEntry, PlexButlerCoordinator
from .entity import PlexButlerEntity, libraries_device_info
from .tasks import KNOWN_TASKS, OTHER_TASK_KEY, TaskProfile

# No limit from Home Assistant: it applies PARALLEL_UPDATES only to a press aimed
# at several entities at once, never to a single press or to the action. The one
# limit that holds on every path is the client's: at most 4 requests in flight
# per server (api.DEFAULT_MAX_CONCURRENT_REQUESTS); the rest wait their turn.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a button for every task now, and for tasks the server gains later."""
    coordinator = entry.runtime_data
    added: set[str] = set()

    @callback
    def _add_new_tasks() -> None:
        new = [
            task for name, task in coordinator.data.tasks.items() if name not in added
        ]
        if not new:
            return
        added.update(task.name for task in new)
        async_add_entities(PlexButlerTaskButton(coordinator, task) for task in new)

    _add_new_tasks()
    entry.async_on_unload(coordinator.async_add_listener(_add_new_tasks))
    _async_setup_library_buttons(entry, async_add_entities)


class PlexButlerTaskButton(PlexButlerEntity, ButtonEntity):
    """Starts one butler task; unavailable while the server lacks the task."""

    def __init__(self, coordinator: PlexButlerCoordinator, task: ButlerTask) -> None:
        """Name, icon and category come from the known-task table if listed."""
        super().__init__(coordinator)
        self.task_name = task.name
        self._attr_unique_id = f"{coordinator.server.machine_identifier}_{task.name}"
        if (known := KNOWN_TASKS.get(task.name)) is not None:
            self._attr_translation_key = known.key
            if known.profile is not TaskProfile.EVERYDAY:
                self._attr_entity_category = EntityCategory.CONFIG
            self._attr_entity_registry_enabled_default = (
                known.profile is not TaskProfile.HEAVY
            )
        else:
            # A task newer than this integration: the server's title names it.
            self._attr_translation_key = OTHER_TASK_KEY
            self._attr_name = task.title
            self._attr_entity_category = EntityCategory.CONFIG

    @property
    def available(self) -> bool:
        """Only while the server still lists this task."""
        return super().available and self.task_name in self.coordinator.data.tasks

    async def async_press(self) -> None:
        """Start the task; already running is fine, errors are raised translated."""
        await self.coordinator.async_start_task(self.task_name)


@callback
def _async_setup_library_buttons(
    entry: PlexButlerConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add a button for every library now, and for libraries added later."""
    coordinator = entry.runtime_data
    added: set[str] = set()

    @callback
    def _add_new_libraries() -> None:
        new = [
            section
            for uuid, section in coordinator.data.libraries.items()
            if uuid not in added
        ]
        if not new:
            return
        added.update(section.uuid for section in new)
        async_add_entities(
            PlexButlerLibraryButton(coordinator, section) for section in new
        )

    _add_new_libraries()
    entry.async_on_unload(coordinator.async_add_listener(_add_new_libraries))


class PlexButlerLibraryButton(PlexButlerEntity, ButtonEntity):
    """Scans one library; unavailable while the server lacks it.

    It follows the library by its uuid, so a library renamed in Plex keeps
    its entity, and a re-created one (new key, same uuid) too.
    """

    _attr_translation_key = "library"

    def __init__(
        self, coordinator: PlexButlerCoordinator, section: LibrarySection
    ) -> None:
        """Name the button "Refresh <title>" on the server's libraries device."""
        super().__init__(coordinator)
        self.library_uuid = section.uuid
        self._attr_unique_id = (
            f"{coordinator.server.machine_identifier}_library_{section.uuid}"
        )
        self._attr_device_info = libraries_device_info(coordinator)
        self._attr_translation_placeholders = {"title": section.title}

    @property
    def _section(self) -> LibrarySection | None:
        return self.coordinator.data.libraries.get(self.library_uuid)

    @property
    def available(self) -> bool:
        """Only while the server still lists this library."""
        return super().available and self._section is not None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Whether a scan runs, the library's key and its folders.

        Home Assistant reads these only while the button is available, that
        is while the server lists the library.
        """
        section = self.coordinator.data.libraries[self.library_uuid]
        return {
            "refreshing": section.refreshing,
            "library_key": section.key,
            "locations": list(section.locations),
        }

    @callback
    def _handle_coordinator_update(self) -> None:
        """Follow a library renamed in Plex."""
        section = self._section
        if section is not None and self.translation_placeholders != {
            "title": section.title
        }:
            self._attr_translation_placeholders = {"title": section.title}
            # Home Assistant caches the name and only forgets it when
            # _attr_name is set; drop it so the new title is used.
            self.__dict__.pop("name", None)
        super()._handle_coordinator_update()

    async def async_press(self) -> None:
        """Scan the library; one already scanning is left alone."""
        # Home Assistant presses only available buttons: the library is listed.
        section = self.coordinator.data.libraries[self.library_uuid]
        await self.coordinator.async_refresh_library(section)
