"""Sign in with Plex in a real Home Assistant process, through the REST flow API.

plex.tv is the simulator (``PLEX_BUTLER_PLEX_TV`` is set for the ``hass``
process), the account owns two simulated servers, and everything listens on
127.0.0.1. The test follows the external step as a browser would, picks the
second server, checks the stored URL is the connection that works, and
presses a button on it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from yarl import URL

from custom_components.plex_butler.plextv import PLEX_TV_ENV
from tests.plex_simulator import PlexSimulator
from tests.plextv_simulator import PlexTvSimulator, SimConnection, SimResource

from .helpers import HassApi, HassProcess, eventually

pytestmark = pytest.mark.e2e

DOMAIN = "plex_butler"
SECOND_ID = "fedcba9876543210fedcba9876543210fedcba98"
SECOND_TOKEN = "second-owner-token-41"


@pytest.fixture
async def second_plex(socket_enabled: None) -> AsyncGenerator[PlexSimulator]:
    """The account's second server, the one the user picks."""
    simulator = PlexSimulator(
        token=SECOND_TOKEN, machine_identifier=SECOND_ID, friendly_name="Basement Plex"
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def plextv(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[PlexTvSimulator]:
    """Simulated plex.tv; the hass process started later inherits the override."""
    simulator = PlexTvSimulator()
    await simulator.start(port=0)
    monkeypatch.setenv(PLEX_TV_ENV, simulator.url)
    yield simulator
    await simulator.stop()


async def test_sign_in_with_plex_in_a_real_home_assistant(
    hass_process: HassProcess,
    hass_api: HassApi,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    second_plex: PlexSimulator,
) -> None:
    """Menu → plex.tv → back → picker → best connection → entry → button."""
    # Its local address is stale (nothing listens there); the remote one works.
    stale = SimConnection("http://127.0.0.1:1", "127.0.0.1", 1)
    working = SimConnection(
        second_plex.url, second_plex.host, second_plex.port, local=False
    )
    plextv.resources = [
        SimResource.for_server(plex),
        SimResource.for_server(second_plex, [stale, working]),
    ]
    api = hass_api
    hass_process.start()
    await api.wait_for_onboarding(hass_process)
    assert await api.onboard()
    await api.wait_until_running(hass_process)

    flow = await api.post("/api/config/config_entries/flow", {"handler": DOMAIN})
    assert flow["type"] == "menu"
    flow_path = f"/api/config/config_entries/flow/{flow['flow_id']}"
    # As the frontend does, say where the browser reaches Home Assistant.
    async with api.session.post(
        f"{api.base_url}{flow_path}",
        json={"next_step_id": "signin"},
        headers={
            "Authorization": f"Bearer {api.access_token}",
            "HA-Frontend-Base": hass_process.url,
        },
    ) as response:
        external = await response.json()
    assert external["type"] == "external", external
    auth_url = URL(external["url"])
    assert str(auth_url).startswith(f"{plextv.url}/auth#?")
    forward = URL(parse_qs(auth_url.fragment[1:])["forwardUrl"][0])
    assert str(forward.origin()) == hass_process.url

    # The browser: plex.tv's page signs the user in and forwards the browser
    # back to Home Assistant when it knows where (else the poll alone goes on).
    async with aiohttp.ClientSession() as browser:
        page = await browser.get(
            auth_url.with_fragment(None).with_query(auth_url.fragment[1:])
        )
        assert "close this window" in await page.text()
    assert page.url.path == "/api/plex_butler/auth_callback"
    assert all(pin.auth_token == plextv.user_token for pin in plextv.pins.values())

    async def picker() -> dict[str, Any] | None:
        # The frontend re-reads the flow once the external step is done.
        result: dict[str, Any] = await api.get(flow_path)
        return result if result["type"] == "form" else None

    form = await eventually(picker, "the server picker")
    assert form["step_id"] == "server"
    (field,) = form["data_schema"]
    labels = [o["label"] for o in field["selector"]["select"]["options"]]
    assert labels == [
        f"Living Room Plex ({plex.version}, local)",
        f"Basement Plex ({second_plex.version}, local)",
    ]
    done = await api.post(flow_path, {"server": SECOND_ID})
    assert done["type"] == "create_entry", done
    assert done["title"] == "Basement Plex"
    entry_id = done["result"]["entry_id"]

    storage = hass_process.config_dir / ".storage" / "core.config_entries"

    def stored_data() -> dict[str, Any] | None:
        if not storage.exists():
            return None
        entries = json.loads(storage.read_text())["data"]["entries"]
        return next((e["data"] for e in entries if e["entry_id"] == entry_id), None)

    async def saved() -> dict[str, Any] | None:
        return stored_data()

    data = await eventually(saved, "the entry to be saved")
    assert data == {"url": second_plex.url, "token": SECOND_TOKEN, "verify_ssl": True}
    assert plextv.user_token not in storage.read_text()

    await api.post(
        "/api/services/button/press",
        {"entity_id": "button.basement_plex_optimize_database"},
    )
    assert second_plex.requests_to("POST", "/butler/OptimizeDatabase")
    assert not plex.requests_to("POST", "/butler/OptimizeDatabase")
