"""Small helpers shared by several test modules."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import HomeAssistant


def reauth_flows(hass: HomeAssistant, entry: ConfigEntry) -> list[Any]:
    """The reauthentication flows in progress for this entry."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"]["source"] == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]
