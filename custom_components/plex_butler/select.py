"""The maintenance window's hours, and the library behaviours the butler obeys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import PlexSetting
from .coordinator import PlexButlerConfigEntry, PlexButlerCoordinator
from .entity import PlexSettingEntity, async_add_setting_entities
from .settings import (
    BEHAVIOUR_OPTIONS,
    BEHAVIOUR_SETTINGS,
    HOUR_OPTIONS,
    HOUR_SETTINGS,
)

PARALLEL_UPDATES = 1


def _hour_option(value: bool | int | float | str | None) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23:
        return HOUR_OPTIONS[value]
    return None


def _hour_value(option: str) -> int:
    return HOUR_OPTIONS.index(option)


def _behaviour_option(value: bool | int | float | str | None) -> str | None:
    return value if isinstance(value, str) and value in BEHAVIOUR_OPTIONS else None


@dataclass(frozen=True, kw_only=True)
class PlexSettingSelectDescription(SelectEntityDescription):
    """A setting shown as options: how to read its value and how to write one."""

    option_fn: Callable[[bool | int | float | str | None], str | None]
    value_fn: Callable[[str], int | str]


DESCRIPTIONS: tuple[PlexSettingSelectDescription, ...] = (
    *(
        PlexSettingSelectDescription(
            key=setting_id,
            translation_key=key,
            entity_category=EntityCategory.CONFIG,
            options=list(HOUR_OPTIONS),
            option_fn=_hour_option,
            value_fn=_hour_value,
        )
        for setting_id, key in HOUR_SETTINGS.items()
    ),
    *(
        PlexSettingSelectDescription(
            key=setting_id,
            translation_key=key,
            entity_category=EntityCategory.CONFIG,
            entity_registry_enabled_default=False,
            options=list(BEHAVIOUR_OPTIONS),
            option_fn=_behaviour_option,
            value_fn=str,
        )
        for setting_id, key in BEHAVIOUR_SETTINGS.items()
    ),
)
_BY_ID = {description.key: description for description in DESCRIPTIONS}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexButlerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a select for each of these settings the server has."""
    coordinator = entry.runtime_data

    def _make(setting: PlexSetting) -> list[PlexSettingSelect]:
        description = _BY_ID.get(setting.id)
        return (
            [] if description is None else [PlexSettingSelect(coordinator, description)]
        )

    async_add_setting_entities(entry, async_add_entities, _make)


class PlexSettingSelect(PlexSettingEntity, SelectEntity):
    """One setting as a choice of options."""

    entity_description: PlexSettingSelectDescription

    def __init__(
        self,
        coordinator: PlexButlerCoordinator,
        description: PlexSettingSelectDescription,
    ) -> None:
        """Keep the typed description."""
        super().__init__(coordinator, description)

    @property
    def current_option(self) -> str | None:
        """The server's value as an option; None for a value outside them."""
        return self.entity_description.option_fn(self.setting.value)

    async def async_select_option(self, option: str) -> None:
        """Write the option's value to the server."""
        await self.coordinator.async_set_setting(
            self.setting_id, self.entity_description.value_fn(option)
        )
