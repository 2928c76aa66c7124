"""A first end-to-end pass through setup, a button and the action."""

from __future__ import annotations

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.components.button.const import SERVICE_PRESS
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN

from .plex_simulator import PlexSimulator


async def test_setup_press_and_action(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    assert init_integration.state is ConfigEntryState.LOADED
    state = hass.states.get("button.living_room_plex_optimize_database")
    assert state is not None
    await hass.services.async_call(
        BUTTON_DOMAIN,
        SERVICE_PRESS,
        {ATTR_ENTITY_ID: "button.living_room_plex_optimize_database"},
        blocking=True,
    )
    assert plex.is_running("OptimizeDatabase")
    response = await hass.services.async_call(
        DOMAIN,
        "start_task",
        {"config_entry_id": init_integration.entry_id, "task": "optimize_database"},
        blocking=True,
        return_response=True,
    )
    assert response == {"task": "OptimizeDatabase", "result": "already_running"}
