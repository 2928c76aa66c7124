"""The README's examples name things that exist.

Users copy the YAML in the README. Each block must parse, each
``plex_butler`` action it calls must be registered with the fields it passes,
and each of the simulated server's entities it names must exist (enabled or
not) once the integration is set up, so that a rename cannot leave the docs
behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.plex_butler.const import DOMAIN

from .common import setup_entry
from .plex_simulator import DEFAULT_LIBRARIES, PlexSimulator

README = Path(__file__).parent.parent / "README.md"
SERVICES = Path(__file__).parent.parent / "custom_components" / DOMAIN / "services.yaml"
# The simulated server is "Living Room Plex", as in every README example.
ENTITY_ID = re.compile(r"\b([a-z_]+\.living_room_plex_[a-z0-9_]+)\b")


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _action_calls(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``action: plex_butler.x`` in a parsed block, with its data."""
    if isinstance(node, dict):
        action = node.get("action")
        if isinstance(action, str) and action.startswith(f"{DOMAIN}."):
            yield action.removeprefix(f"{DOMAIN}."), node.get("data") or {}
        for value in node.values():
            yield from _action_calls(value)
    elif isinstance(node, list):
        for item in node:
            yield from _action_calls(item)


def test_every_yaml_block_parses() -> None:
    blocks = _yaml_blocks()
    assert len(blocks) >= 10
    for block in blocks:
        yaml.safe_load(block)


def test_actions_exist_with_the_fields_passed() -> None:
    """Fields come from services.yaml, which the action forms are built from."""
    fields = {
        name: set((spec or {}).get("fields", {}))
        for name, spec in yaml.safe_load(SERVICES.read_text(encoding="utf-8")).items()
    }
    calls = [
        call
        for block in _yaml_blocks()
        for call in _action_calls(yaml.safe_load(block))
    ]
    assert {name for name, _ in calls} >= {
        "start_task",
        "stop_task",
        "start_all_tasks",
        "stop_all_tasks",
        "refresh_library",
    }
    for name, data in calls:
        assert name in fields, name
        assert set(data) <= fields[name], (name, data)


async def test_entities_named_in_the_readme_exist(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """On the simulated server with its usual libraries (Movies, YouTube, …)."""
    plex.set_libraries(list(DEFAULT_LIBRARIES))
    assert await setup_entry(hass, mock_config_entry)
    named = set(ENTITY_ID.findall(README.read_text(encoding="utf-8")))
    assert len(named) >= 8
    registered = {
        entry.entity_id
        for entry in er.async_entries_for_config_entry(
            entity_registry, mock_config_entry.entry_id
        )
    }
    assert named <= registered, sorted(named - registered)
