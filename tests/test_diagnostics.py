"""Diagnostics: what a bug report needs, and never the token."""

from __future__ import annotations

import json
from typing import Any, cast

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.plex_butler.const import SCAN_INTERVAL

from .conftest import MACHINE_ID, OWNER_TOKEN
from .plex_simulator import CURRENT_TASKS, PlexSimulator


async def test_diagnostics_redact_the_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """The token is replaced in the entry data and appears nowhere else."""
    result = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    assert OWNER_TOKEN not in json.dumps(result)
    assert result["entry"] == {
        "data": {"url": plex.url, "token": "**REDACTED**", "verify_ssl": True},
        "unique_id": MACHINE_ID,
        "title": "Living Room Plex",
    }


async def test_diagnostics_describe_server_and_tasks(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """The server's identity and every task as the server described it."""
    result = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    assert result["server"] == {
        "machine_identifier": MACHINE_ID,
        "friendly_name": "Living Room Plex",
        "version": plex.version,
        "platform": "Linux",
    }
    assert result["coordinator"] == {
        "last_update_success": True,
        "update_interval_seconds": SCAN_INTERVAL.total_seconds(),
    }
    assert isinstance(result["tasks"], list)
    tasks = cast("list[dict[str, Any]]", result["tasks"])
    assert [(t["name"], t["title"]) for t in tasks] == [
        (t.name, t.title) for t in CURRENT_TASKS
    ]
    refresh_libraries = next(t for t in tasks if t["name"] == "RefreshLibraries")
    assert refresh_libraries == {
        "name": "RefreshLibraries",
        "title": "Refresh Libraries",
        "description": "Refresh Libraries (simulated)",
        "interval_days": 1,
        "enabled": False,
        "schedule_randomized": False,
    }
