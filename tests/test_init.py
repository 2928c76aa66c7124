"""Setting up and unloading a config entry against the simulated server."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_TOKEN,
    CONF_URL,
    CONF_VERIFY_SSL,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.plex_butler.const import (
    DOMAIN,
    SCAN_INTERVAL,
    SERVICE_START_TASK,
)

from .common import reauth_flows
from .conftest import MACHINE_ID, SHARED_TOKEN
from .plex_simulator import PlexSimulator

OPTIMIZE = "button.living_room_plex_optimize_database"


def _entry(plex: PlexSimulator, *, token: str, unique_id: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=plex.friendly_name,
        unique_id=unique_id,
        data={CONF_URL: plex.url, CONF_TOKEN: token, CONF_VERIFY_SSL: True},
    )


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add and set up the entry; failure is reported by its state, not raised."""
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _state(entry: MockConfigEntry) -> ConfigEntryState:
    """Read the state through a call, so mypy does not narrow it across awaits."""
    return entry.state


async def test_setup_creates_one_service_device(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """The server is one service device, described from its own answers."""
    assert init_integration.state is ConfigEntryState.LOADED

    devices = dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    )
    assert len(devices) == 1
    device = devices[0]
    assert device.identifiers == {(DOMAIN, MACHINE_ID)}
    assert device.name == "Living Room Plex"
    assert device.manufacturer == "Plex"
    assert device.model == "Plex Media Server"
    assert device.sw_version == plex.version
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert device.configuration_url == f"{plex.url}/web"

    entry = entity_registry.async_get(OPTIMIZE)
    assert entry is not None
    assert entry.device_id == device.id


async def test_setup_reads_identity_and_tasks_with_owner_token(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Setup costs one identity read and one task list, both authenticated."""
    assert len(plex.requests_to("GET", "/")) == 1
    assert len(plex.requests_to("GET", "/butler")) == 1
    assert all(r.headers.get("X-Plex-Token") == plex.token for r in plex.requests)
    assert all("X-Plex-Token" not in r.query_string for r in plex.requests)


async def test_setup_retries_while_server_is_down(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A server that is off is expected to come back: retry, don't fail."""
    await plex.stop()

    await _setup(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


@pytest.mark.parametrize(
    ("fault", "fault_path"),
    [
        ("500", None),
        ("garbage", None),
        ("html", None),
        ("html", "/butler"),
        ("truncated", "/butler"),
        ("503", "/butler"),
        ("redirect", None),
        ("reset", None),
        ("garbage", "/butler"),
    ],
)
async def test_setup_retries_on_broken_answers(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    fault: str,
    fault_path: str | None,
) -> None:
    """Answers that cannot be used are treated as a passing server problem."""
    plex.fault = fault
    plex.fault_path = fault_path

    await _setup(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not reauth_flows(hass, mock_config_entry)


async def test_setup_retry_succeeds_once_server_is_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """After a failed start the entry loads by itself when the server answers."""
    plex.fault = "500"
    await _setup(hass, mock_config_entry)
    assert _state(mock_config_entry) is ConfigEntryState.SETUP_RETRY

    plex.fault = None
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert _state(mock_config_entry) is ConfigEntryState.LOADED
    assert hass.states.get(OPTIMIZE) is not None


async def test_setup_reads_xml_answers(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A proxy that drops the Accept header makes Plex answer XML; that works too."""
    plex.fault = "xml"

    await _setup(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert hass.states.get(OPTIMIZE) is not None
    assert hass.states.get("button.living_room_plex_refresh_libraries") is not None


@pytest.mark.parametrize("fault", ["401", "403"])
async def test_setup_with_rejected_token_starts_reauth(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    fault: str,
) -> None:
    """A token the server refuses cannot fix itself: ask the user for a new one."""
    plex.fault = fault

    await _setup(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass, mock_config_entry)) == 1


async def test_setup_with_wrong_token_starts_reauth(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """The server's own 401 for an unknown token leads to reauthentication."""
    entry = _entry(plex, token="not-a-valid-token", unique_id=MACHINE_ID)

    await _setup(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass, entry)) == 1
    # Only the identity read was tried; the butler was never asked.
    assert not plex.requests_to("GET", "/butler")


async def test_setup_with_shared_users_token_starts_reauth(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """A shared user's token reads the server but not the butler: reauth too."""
    entry = _entry(plex, token=SHARED_TOKEN, unique_id=MACHINE_ID)

    await _setup(hass, entry)

    assert [r.status for r in plex.requests_to("GET", "/")] == [200]
    assert [r.status for r in plex.requests_to("GET", "/butler")] == [401]
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass, entry)) == 1


async def test_setup_against_a_different_server_fails(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """If the URL now leads to another server, don't attach its tasks to this entry."""
    entry = _entry(plex, token=plex.token, unique_id="f" * 40)

    await _setup(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert not reauth_flows(hass, entry)
    assert hass.states.async_entity_ids(BUTTON_DOMAIN) == []
    assert not plex.requests_to("GET", "/butler")
    assert entry.reason is not None
    assert "different Plex server (Living Room Plex)" in entry.reason


async def test_unload_removes_buttons(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Unloading leaves the registry entries but no live buttons."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()

    assert init_integration.state is ConfigEntryState.NOT_LOADED
    entity_ids = [
        entry.entity_id
        for entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
    ]
    assert OPTIMIZE in entity_ids
    for entity_id in entity_ids:
        state = hass.states.get(entity_id)
        assert state is None or state.state == STATE_UNAVAILABLE, entity_id


async def test_unloaded_entry_stops_polling(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """After unload nothing talks to the server any more."""
    freezer.tick(SCAN_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    # Polling runs while loaded, so the check below can tell a difference.
    assert len(plex.requests_to("GET", "/butler")) == 2

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    freezer.tick(SCAN_INTERVAL * 3)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert len(plex.requests_to("GET", "/butler")) == 2


async def test_action_registered_without_any_entry(hass: HomeAssistant) -> None:
    """Automations using the action validate even before a server is set up."""
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    assert hass.services.has_service(DOMAIN, SERVICE_START_TASK)
    assert hass.config_entries.async_entries(DOMAIN) == []
