"""The folder the butler backs the database up to."""

from __future__ import annotations

from homeassistant.components.text import TextEntity, TextEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import PlexSetting
from .coordinator import PlexButlerConfigEntry
from .entity import PlexSettingEntity, async_add_setting_entities
from .settings import BACKUP_PATH

PARALLEL_UPDATES = 1

BACKUP_PATH_DESCRIPTION = TextEntityDescription(
    key=BACKUP_PATH,
    translation_key="backup_path",
    entity_category=EntityCategory.CONFIG,
    entity_registry_enabled_default=False,
    native_max=1024,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the backup folder if the server has that setting."""
    coordinator = entry.runtime_data

    def _make(setting: PlexSetting) -> list[PlexSettingText]:
        if setting.id != BACKUP_PATH:
            return []
        return [PlexSettingText(coordinator, BACKUP_PATH_DESCRIPTION)]

    async_add_setting_entities(entry, async_add_entities, _make)


class PlexSettingText(PlexSettingEntity, TextEntity):
    """A text setting of the server."""

    @property
    def native_value(self) -> str | None:
        """The server's value."""
        value = self.setting.value
        return value if isinstance(value, str) else None

    async def async_set_value(self, value: str) -> None:
        """Write a new value to the server."""
        await self.coordinator.async_set_setting(self.setting_id, value)
