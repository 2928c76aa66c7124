"""One switch per butler task setting the server has: "run it in the window"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import PlexSetting
from .coordinator import PlexButlerConfigEntry, PlexButlerCoordinator
from .entity import PlexSettingEntity, async_add_setting_entities
from .settings import KNOWN_TASK_SETTINGS, OTHER_TASK_SETTING_KEY, is_task_setting

# Writes go one at a time per server through the client's own limit anyway.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PlexSettingSwitchDescription(SwitchEntityDescription):
    """A boolean setting; ``label`` names a setting without a translation."""

    label: str | None = None


def switch_description(setting: PlexSetting) -> PlexSettingSwitchDescription:
    """Describe the switch of a task setting, known or not."""
    key = KNOWN_TASK_SETTINGS.get(setting.id)
    return PlexSettingSwitchDescription(
        key=setting.id,
        translation_key=key or OTHER_TASK_SETTING_KEY,
        label=None if key else setting.label,
        entity_category=EntityCategory.CONFIG,
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch for each task setting the server reports, now and later."""
    coordinator = entry.runtime_data
    async_add_setting_entities(
        entry,
        async_add_entities,
        lambda setting: (
            [PlexSettingSwitch(coordinator, switch_description(setting))]
            if is_task_setting(setting)
            else []
        ),
    )


class PlexSettingSwitch(PlexSettingEntity, SwitchEntity):
    """Turns a butler task's scheduled run on or off."""

    entity_description: PlexSettingSwitchDescription

    def __init__(
        self,
        coordinator: PlexButlerCoordinator,
        description: PlexSettingSwitchDescription,
    ) -> None:
        """A setting unknown to the translations is named by the server's label."""
        super().__init__(coordinator, description)
        if description.label is not None:
            self._attr_name = description.label

    @property
    def is_on(self) -> bool | None:
        """Whether the server runs the task in its maintenance window."""
        value = self.setting.value
        return value if isinstance(value, bool) else None

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Enable the task's scheduled run."""
        await self.coordinator.async_set_setting(self.setting_id, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Disable the task's scheduled run."""
        await self.coordinator.async_set_setting(self.setting_id, False)
