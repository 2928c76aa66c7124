"""The "refresh a library on an event" blueprint, loaded by Home Assistant's automation.

Installed where Home Assistant looks for blueprints and instantiated with
``use_blueprint`` like a user's automation; a download client's entity is
played by states set on it, and the simulator's request log shows the scans.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
import shutil
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .common import setup_entry
from .plex_simulator import DEFAULT_LIBRARIES, PlexSimulator

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINT = (
    ROOT / "blueprints" / "automation" / "plex_butler" / "refresh_library_on_event.yaml"
)
AUTOMATION = "automation.scan_new_downloads"
DOWNLOADS = "sensor.downloader_last_import"

type Automate = Callable[[dict[str, Any]], Awaitable[None]]


@pytest.fixture
def blueprint_installed(hass: HomeAssistant, tmp_path: Path) -> None:
    """Copy the blueprint into a fresh config dir of this Home Assistant."""
    hass.config.config_dir = str(tmp_path)
    folder = Path(hass.config.path("blueprints", "automation", "plex_butler"))
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder)


@pytest.fixture
async def automate(
    hass: HomeAssistant,
    blueprint_installed: None,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> AsyncGenerator[Automate]:
    """Set up the server, and make an automation from the blueprint's inputs."""
    plex.set_libraries(list(DEFAULT_LIBRARIES))
    plex.scan_seconds = 0  # every scan is over at once: none is skipped
    assert await setup_entry(hass, mock_config_entry)
    hass.states.async_set(DOWNLOADS, "idle")

    async def _automate(inputs: dict[str, Any]) -> None:
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "id": "scan_new_downloads",
                    "alias": "Scan new downloads",
                    "use_blueprint": {
                        "path": "plex_butler/refresh_library_on_event.yaml",
                        "input": {
                            "trigger_entity": DOWNLOADS,
                            "server": mock_config_entry.entry_id,
                            **inputs,
                        },
                    },
                }
            },
        )
        await hass.async_block_till_done()
        state = hass.states.get(AUTOMATION)
        assert state is not None
        assert state.state == "on"

    yield _automate
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": AUTOMATION}, blocking=True
    )


async def _set(hass: HomeAssistant, state: str, **attributes: Any) -> None:
    hass.states.async_set(DOWNLOADS, state, attributes)
    await hass.async_block_till_done()


async def test_scans_the_whole_library_on_any_change(
    hass: HomeAssistant, plex: PlexSimulator, automate: Automate
) -> None:
    await automate({"library": "tv shows"})
    assert plex.refreshes("2") == []

    await _set(hass, "importing")
    await _set(hass, "completed")

    assert plex.refreshes("2") == [{}, {}]


async def test_scans_only_the_folder_and_only_on_the_chosen_state(
    hass: HomeAssistant, plex: PlexSimulator, automate: Automate
) -> None:
    await automate(
        {"library": "YouTube", "folder": "/data/youtube/", "to_state": "completed"}
    )

    await _set(hass, "importing")
    await _set(hass, "unavailable")
    await _set(hass, "completed")

    assert plex.refreshes("7") == [{"path": "/data/youtube"}]


async def test_the_folder_the_download_client_reports(
    hass: HomeAssistant, plex: PlexSimulator, automate: Automate
) -> None:
    """The attribute's folder wins; a new one scans even if the state stays."""
    await automate(
        {
            "library": "YouTube",
            "folder": "/data/youtube",
            "folder_attribute": "path",
            "to_state": "completed",
        }
    )

    await _set(hass, "completed", path="/data/youtube/Channel A/Video 1")
    await _set(hass, "completed", path="/data/youtube/Channel B")
    await _set(hass, "completed", path="/data/youtube/Channel B", size=3)
    await _set(hass, "importing")
    await _set(hass, "completed")  # no path reported: the folder input

    assert plex.refreshes("7") == [
        {"path": "/data/youtube/Channel A/Video 1"},
        {"path": "/data/youtube/Channel B"},
        {"path": "/data/youtube"},
    ]
