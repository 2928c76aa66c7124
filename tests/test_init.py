"""Setting up and unloading a config entry against the simulated server.

How setup copes with a broken server or a refused token, in every phase, is
the fault matrix of test_faults.py; here are the tokens and servers a setup
meets on a healthy server, and the unload.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_RESTORED,
    CONF_TOKEN,
    CONF_URL,
    CONF_VERIFY_SSL,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN, SERVICE_START_TASK

from .common import OPTIMIZE, poll_with_freezer, reauth_flows, setup_entry
from .conftest import MACHINE_ID, SHARED_TOKEN
from .plex_simulator import PlexSimulator


def _entry(plex: PlexSimulator, *, token: str, unique_id: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=plex.friendly_name,
        unique_id=unique_id,
        data={CONF_URL: plex.url, CONF_TOKEN: token, CONF_VERIFY_SSL: True},
    )


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


async def test_setup_with_wrong_token_starts_reauth(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """The server's own 401 for an unknown token leads to reauthentication."""
    entry = _entry(plex, token="not-a-valid-token", unique_id=MACHINE_ID)

    assert not await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass, entry)) == 1
    # Only the identity read was tried; the butler was never asked.
    assert not plex.requests_to("GET", "/butler")


async def test_setup_with_shared_users_token_starts_reauth(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """A shared user's token reads the server but not the butler: reauth too."""
    entry = _entry(plex, token=SHARED_TOKEN, unique_id=MACHINE_ID)

    assert not await setup_entry(hass, entry)

    assert [r.status for r in plex.requests_to("GET", "/")] == [200]
    assert [r.status for r in plex.requests_to("GET", "/butler")] == [401]
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(reauth_flows(hass, entry)) == 1


async def test_setup_against_a_different_server_fails(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """If the URL now leads to another server, don't attach its tasks to this entry."""
    entry = _entry(plex, token=plex.token, unique_id="f" * 40)

    assert not await setup_entry(hass, entry)

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
    """Unloading leaves the registry entries but no live buttons.

    Home Assistant marks the removed entities of enabled registry entries as
    restored and unavailable; disabled ones never had a state.
    """
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()

    assert init_integration.state is ConfigEntryState.NOT_LOADED
    entries = er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    )
    assert OPTIMIZE in {entry.entity_id for entry in entries}
    for entry in entries:
        state = hass.states.get(entry.entity_id)
        if entry.disabled_by is not None:
            assert state is None, entry.entity_id
            continue
        assert state is not None, entry.entity_id
        assert (state.state, state.attributes.get(ATTR_RESTORED)) == (
            STATE_UNAVAILABLE,
            True,
        ), entry.entity_id


async def test_unloaded_entry_stops_polling(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """After unload nothing talks to the server any more."""
    await poll_with_freezer(hass, freezer)
    # Polling runs while loaded, so the check below can tell a difference.
    assert len(plex.requests_to("GET", "/butler")) == 2

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    for _ in range(3):
        await poll_with_freezer(hass, freezer)

    assert len(plex.requests_to("GET", "/butler")) == 2


async def test_action_registered_without_any_entry(hass: HomeAssistant) -> None:
    """Automations using the action validate even before a server is set up."""
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    assert hass.services.has_service(DOMAIN, SERVICE_START_TASK)
    assert hass.config_entries.async_entries(DOMAIN) == []
