"""Shared fixtures: a Plex simulator on 127.0.0.1 and a config entry pointing at it.

Tests talk to the simulator over a real socket through Home Assistant's own
aiohttp session; nothing in the HTTP path is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN

from .plex_simulator import PlexSimulator

OWNER_TOKEN = "owner-token-3f9a1c"
SHARED_TOKEN = "shared-token-77b2e0"
MACHINE_ID = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture(autouse=True)
def gdm_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """GDM scans (while an entry is loaded) go to 127.0.0.1:9, where nothing answers.

    No test may send to Plex's real multicast group; tests of discovery point
    the port at a GdmResponder instead.
    """
    monkeypatch.setenv("PLEX_BUTLER_GDM_ADDRESS", "127.0.0.1")
    monkeypatch.setenv("PLEX_BUTLER_GDM_PORT", "9")


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each simulator test of a module that sets ``RUDE_LINKS`` on both links.

    "trickle" writes every body in small pieces with pauses, as real links do;
    an ideal link once hid a client that read only the first piece.
    """
    if "plex" in metafunc.fixturenames and getattr(
        metafunc.module, "RUDE_LINKS", False
    ):
        metafunc.parametrize("link", ["ideal", "trickle"], indirect=True)


@pytest.fixture
def link(request: pytest.FixtureRequest) -> str:
    """How the simulator's replies travel: "ideal" unless a test module asks."""
    return str(getattr(request, "param", "ideal"))


@pytest.fixture
async def plex(socket_enabled: None, link: str) -> AsyncGenerator[PlexSimulator]:
    """A simulated Plex server with the current 22 tasks, on a free port."""
    simulator = PlexSimulator(
        token=OWNER_TOKEN,
        shared_token=SHARED_TOKEN,
        machine_identifier=MACHINE_ID,
        friendly_name="Living Room Plex",
        trickle=link == "trickle",
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def mock_config_entry(plex: PlexSimulator) -> MockConfigEntry:
    """A config entry for the simulated server (not yet added to hass)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=plex.friendly_name,
        unique_id=plex.machine_identifier,
        data={CONF_URL: plex.url, CONF_TOKEN: plex.token, CONF_VERIFY_SSL: True},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The integration set up against the simulator."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


@pytest.fixture
def quiet_tls_server(hass: HomeAssistant) -> Generator[None]:
    """Drop the simulator's report of a TLS handshake the client broke off.

    The test plugin fails a test on anything the loop's exception handler
    sees; a server whose client refused its certificate reports just that.
    """
    loop = hass.loop
    handler = loop.get_exception_handler()

    def drop_handshake_errors(
        loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        if (
            context.get("message")
            == "Error on transport creation for incoming connection"
        ):
            return
        if handler is not None:
            handler(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(drop_handshake_errors)
    yield
    loop.set_exception_handler(handler)
