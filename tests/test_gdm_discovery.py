"""GDM discovery while an entry is loaded, against a GdmResponder on 127.0.0.1.

The autouse ``gdm_on_loopback`` fixture already keeps scans off the real
multicast group; here the port is pointed at a responder that answers as
the simulated servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.plex_butler.const import DOMAIN
from custom_components.plex_butler.discovery import GDM_INTERVAL, GDM_PORT_ENV
from custom_components.plex_butler.gdm import SCAN_SECONDS

from .common import setup_entry
from .conftest import MACHINE_ID, OWNER_TOKEN
from .gdm_simulator import GdmResponder
from .plex_simulator import PlexSimulator

OTHER_MACHINE_ID = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
async def other_plex(socket_enabled: None) -> AsyncGenerator[PlexSimulator]:
    """A server not set up yet."""
    simulator = PlexSimulator(
        token="other-owner-token",
        machine_identifier=OTHER_MACHINE_ID,
        friendly_name="Basement Plex",
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def responder(
    plex: PlexSimulator, other_plex: PlexSimulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[GdmResponder]:
    """Answers GDM searches on 127.0.0.1 as both simulated servers."""
    gdm = GdmResponder([plex, other_plex])
    await gdm.start()
    monkeypatch.setenv(GDM_PORT_ENV, str(gdm.port))
    yield gdm
    gdm.stop()


def _entry(url: str, **kwargs: object) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Living Room Plex",
        unique_id=MACHINE_ID,
        data={CONF_URL: url, CONF_TOKEN: OWNER_TOKEN, CONF_VERIFY_SSL: True},
        **kwargs,  # type: ignore[arg-type]
    )


def _discovered(hass: HomeAssistant) -> list[ConfigFlowResult]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    ]


async def _scan_done(hass: HomeAssistant) -> None:
    """Let the search go out and be answered, end the scan, and run its flows."""
    await hass.async_block_till_done(wait_background_tasks=True)
    # Replies travel over a real (loopback) socket.
    await asyncio.sleep(0.3)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=SCAN_SECONDS))
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.usefixtures("responder")
async def test_new_server_becomes_a_discovered_card(
    hass: HomeAssistant, plex: PlexSimulator, other_plex: PlexSimulator
) -> None:
    """A loaded entry starts scanning; the unknown server is offered by name."""
    assert await setup_entry(hass, _entry(plex.url))
    await _scan_done(hass)

    (flow,) = _discovered(hass)
    assert flow["context"]["title_placeholders"] == {"name": "Basement Plex"}
    assert flow["context"]["unique_id"] == OTHER_MACHINE_ID
    assert flow["step_id"] == "discovered"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "zeroconf_confirm"}
    )
    assert result["description_placeholders"] == {
        "name": "Basement Plex",
        "url": other_plex.url,
    }
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: "other-owner-token"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Basement Plex"


async def test_scans_every_ten_minutes_only_while_loaded(
    hass: HomeAssistant, responder: GdmResponder, plex: PlexSimulator
) -> None:
    """Scanning starts with the first entry and stops with the last."""
    entry = _entry(plex.url)
    assert await setup_entry(hass, entry)
    await _scan_done(hass)
    assert len(responder.queries) == 1
    assert {addr[0] for _, addr in responder.queries} == {"127.0.0.1"}

    async_fire_time_changed(hass, dt_util.utcnow() + GDM_INTERVAL)
    await _scan_done(hass)
    assert len(responder.queries) == 2

    assert await hass.config_entries.async_unload(entry.entry_id)
    async_fire_time_changed(hass, dt_util.utcnow() + 2 * GDM_INTERVAL)
    await _scan_done(hass)
    assert len(responder.queries) == 2


@pytest.mark.usefixtures("responder")
async def test_known_server_at_a_new_address_is_followed(
    hass: HomeAssistant, plex: PlexSimulator, other_plex: PlexSimulator
) -> None:
    """An http://IP entry whose server moved gets the address GDM found."""
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id=OTHER_MACHINE_ID,
        data={CONF_URL: other_plex.url, CONF_TOKEN: "other-owner-token"}
        | {CONF_VERIFY_SSL: True},
    )
    assert await setup_entry(hass, other)
    moved = _entry("http://127.0.0.1:1")
    moved.add_to_hass(hass)
    await _scan_done(hass)
    assert moved.data[CONF_URL] == plex.url
    assert moved.state is ConfigEntryState.NOT_LOADED
    assert _discovered(hass) == []


@pytest.mark.usefixtures("responder")
async def test_plex_direct_name_follows_a_new_ip(
    hass: HomeAssistant, plex: PlexSimulator, other_plex: PlexSimulator
) -> None:
    """The IP spelled in a plex.direct name is rewritten; hash and port stay."""
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id=OTHER_MACHINE_ID,
        data={CONF_URL: other_plex.url, CONF_TOKEN: "other-owner-token"}
        | {CONF_VERIFY_SSL: True},
    )
    assert await setup_entry(hass, other)
    moved = _entry("https://192-168-1-20.0a1b2c3d.plex.direct:32400")
    moved.add_to_hass(hass)
    await _scan_done(hass)
    assert moved.data[CONF_URL] == "https://127-0-0-1.0a1b2c3d.plex.direct:32400"


@pytest.mark.usefixtures("responder")
async def test_ignored_server_is_not_offered(
    hass: HomeAssistant, plex: PlexSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A server the user ignored stays ignored, scan after scan."""
    ignored = MockConfigEntry(
        domain=DOMAIN, source=SOURCE_IGNORE, unique_id=OTHER_MACHINE_ID, data={}
    )
    ignored.add_to_hass(hass)
    assert await setup_entry(hass, _entry(plex.url))
    await _scan_done(hass)
    async_fire_time_changed(hass, dt_util.utcnow() + GDM_INTERVAL)
    await _scan_done(hass)
    assert _discovered(hass) == []
    assert ignored.data == {}


async def test_failed_scan_is_only_logged(
    hass: HomeAssistant,
    plex: PlexSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A target that is not an IPv4 address makes the scan fail quietly."""
    monkeypatch.setenv("PLEX_BUTLER_GDM_ADDRESS", "::1")
    assert await setup_entry(hass, _entry(plex.url))
    await _scan_done(hass)
    assert "GDM scan of ::1" in caplog.text
    assert _discovered(hass) == []
