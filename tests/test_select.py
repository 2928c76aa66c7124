"""The maintenance window and the library behaviours, as selects."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import (
    ATTR_OPTION,
    ATTR_OPTIONS,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN

from .common import poll_with_freezer
from .conftest import MACHINE_ID
from .plex_simulator import PlexSimulator

START = "select.living_room_plex_maintenance_window_start"
END = "select.living_room_plex_maintenance_window_end"
BIF = "select.living_room_plex_generate_video_preview_thumbnails"
CHAPTERS = "select.living_room_plex_generate_chapter_thumbnails"
LOUDNESS = "select.living_room_plex_analyze_audio_loudness"


async def _select(hass: HomeAssistant, entity_id: str, option: str) -> None:
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id, ATTR_OPTION: option},
        blocking=True,
    )


def _option(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_window_hours_are_selects_of_whole_hours(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    state = hass.states.get(START)
    assert state is not None
    assert state.name == "Living Room Plex Maintenance window start"
    assert state.attributes[ATTR_OPTIONS] == [f"{h:02d}:00" for h in range(24)]
    assert state.state == "02:00"
    assert _option(hass, END) == "05:00"
    for entity_id, setting in ((START, "ButlerStartHour"), (END, "ButlerEndHour")):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.unique_id == f"{MACHINE_ID}_setting_{setting}"
        assert entry.entity_category is EntityCategory.CONFIG


async def test_a_window_past_midnight_is_set_as_in_plex(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """23:00 to 04:00 wraps midnight; Plex takes it, and so do we."""
    await _select(hass, START, "23:00")
    await _select(hass, END, "04:00")

    assert [r.url for r in plex.requests if r.method == "PUT"] == [
        "/:/prefs?ButlerStartHour=23",
        "/:/prefs?ButlerEndHour=4",
    ]
    assert (_option(hass, START), _option(hass, END)) == ("23:00", "04:00")
    await poll_with_freezer(hass, freezer)
    assert (_option(hass, START), _option(hass, END)) == ("23:00", "04:00")
    assert plex.setting("ButlerStartHour").value == 23


async def test_an_option_outside_the_list_is_refused_before_plex(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(HomeAssistantError):
        await _select(hass, START, "24:00")
    assert not [r for r in plex.requests if r.method == "PUT"]


async def test_behaviours_are_disabled_by_default(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    for entity_id in (BIF, CHAPTERS, LOUDNESS):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert entry.entity_category is EntityCategory.CONFIG
        assert hass.states.get(entity_id) is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_behaviours_show_and_write_plex_values(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    state = hass.states.get(BIF)
    assert state is not None
    assert state.attributes[ATTR_OPTIONS] == ["never", "scheduled", "asap"]
    assert (state.state, _option(hass, CHAPTERS), _option(hass, LOUDNESS)) == (
        "asap",
        "scheduled",
        "never",
    )

    await _select(hass, LOUDNESS, "scheduled")

    assert plex.setting("LoudnessAnalysisBehavior").value == "scheduled"
    assert _option(hass, LOUDNESS) == "scheduled"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_only_behaviours_the_server_has(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    plex.remove_settings("LoudnessAnalysisBehavior", "ButlerEndHour")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert hass.states.get(BIF) is not None
    for setting in ("LoudnessAnalysisBehavior", "ButlerEndHour"):
        assert not entity_registry.async_get_entity_id(
            SELECT_DOMAIN, DOMAIN, f"{MACHINE_ID}_setting_{setting}"
        )
