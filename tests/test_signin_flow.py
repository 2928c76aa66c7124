"""Sign in with Plex, through Home Assistant's flow manager, against simulators.

plex.tv is ``PlexTvSimulator`` (``PLEX_BUTLER_PLEX_TV`` points at it), the
servers are ``PlexSimulator`` instances; everything listens on 127.0.0.1.
Tests play the user by authorizing the PIN whose code the auth URL carries,
and play the frontend by configuring the flow with no input, as it does
after an external step or a progress step.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from urllib.parse import parse_qs

import aiohttp
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigFlowResult,
)
from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from homeassistant.util import ssl as ssl_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.plex_butler.api import PRODUCT
from custom_components.plex_butler.const import DOMAIN
from custom_components.plex_butler.plextv import PLEX_TV_ENV

from .common import OPTIMIZE, press, zeroconf_info
from .conftest import MACHINE_ID, OWNER_TOKEN, SHARED_TOKEN
from .plex_direct_tls import PlexDirectTls, make_plex_direct_tls
from .plex_simulator import PlexSimulator
from .plextv_simulator import (
    HangingServer,
    PlexTvSimulator,
    SimResource,
    connection_to,
    plex_direct_connection,
)

OTHER_MACHINE_ID = "fedcba9876543210fedcba9876543210fedcba98"
OTHER_TOKEN = "other-owner-token-5d1e"
FlowResult = ConfigFlowResult


@pytest.fixture
async def plextv(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[PlexTvSimulator]:
    """Simulated plex.tv, which every flow started from now on talks to."""
    simulator = PlexTvSimulator()
    await simulator.start(port=0)
    monkeypatch.setenv(PLEX_TV_ENV, simulator.url)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def other_plex(socket_enabled: None) -> AsyncGenerator[PlexSimulator]:
    """A second server the same account owns."""
    simulator = PlexSimulator(
        token=OTHER_TOKEN,
        machine_identifier=OTHER_MACHINE_ID,
        friendly_name="Basement Plex",
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture(scope="module")
def tls() -> PlexDirectTls:
    """A CA and certificate for ``*.<hash>.plex.direct``."""
    return make_plex_direct_tls()


@pytest.fixture
def trust_tls(tls: PlexDirectTls) -> None:
    """Home Assistant's client context trusts the test CA, as for a user's own CA."""
    ssl_util.get_default_context().load_verify_locations(cadata=tls.ca_pem.decode())


def _code(result: FlowResult) -> str:
    """The PIN code the auth page URL carries (in its fragment)."""
    fragment = URL(result["url"]).fragment
    return parse_qs(fragment.removeprefix("?"))["code"][0]


async def _start_signin(hass: HomeAssistant) -> FlowResult:
    """Open the menu and choose Sign in with Plex; the external step is shown."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    assert result["type"] is FlowResultType.EXTERNAL_STEP, result
    assert result["step_id"] == "signin_browser"
    return result


async def _frontend(hass: HomeAssistant, flow_id: str) -> FlowResult:
    """Fetch the flow as the frontend does once a step ends by itself."""
    result = await hass.config_entries.flow.async_configure(flow_id)
    while result["type"] in (
        FlowResultType.EXTERNAL_STEP_DONE,
        FlowResultType.SHOW_PROGRESS_DONE,
    ):
        result = await hass.config_entries.flow.async_configure(flow_id)
    return result


async def _sign_in(
    hass: HomeAssistant, plextv: PlexTvSimulator, result: FlowResult
) -> FlowResult:
    """The user signs in and closes the window: polling alone moves the flow on."""
    assert plextv.authorize(_code(result))
    await hass.async_block_till_done(wait_background_tasks=True)
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["step_id"] == "signin_wait"
    return await _frontend(hass, result["flow_id"])


def _assert_entry(result: FlowResult, server: PlexSimulator, url: str) -> None:
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["title"] == server.friendly_name
    assert result["result"].unique_id == server.machine_identifier
    assert result["data"] == {
        CONF_URL: url,
        CONF_TOKEN: server.token,
        CONF_VERIFY_SSL: True,
    }


# --- the sign-in --------------------------------------------------------------


async def test_sign_in_with_one_owned_server(
    hass: HomeAssistant, plextv: PlexTvSimulator, plex: PlexSimulator
) -> None:
    """One owned server (a shared one beside it): no picker, entry made, usable."""
    shared = SimResource.for_server(plex, owned=False)
    shared.client_identifier = OTHER_MACHINE_ID
    plextv.resources = [SimResource.for_server(plex), shared]

    result = await _start_signin(hass)
    (create,) = plextv.requests_to("POST", "/api/v2/pins")
    assert create.query_string == "strong=true"
    assert create.headers["X-Plex-Product"] == PRODUCT
    result = await _sign_in(hass, plextv, result)

    _assert_entry(result, plex, plex.url)
    assert plextv.user_token not in str(result["data"])
    # plex.tv and the server know this installation by the same identifier.
    server_ids = {r.headers["X-Plex-Client-Identifier"] for r in plex.requests}
    assert server_ids == {create.headers["X-Plex-Client-Identifier"]}
    await hass.async_block_till_done()
    await press(hass, OPTIMIZE)
    assert plex.requests_to("POST", "/butler/OptimizeDatabase")


async def test_picker_lists_owned_new_servers_and_uses_the_chosen_one(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
) -> None:
    """Two owned servers: a picker with name, version and place; the second wins."""
    remote = connection_to(other_plex, local=False)
    plextv.resources = [
        SimResource.for_server(plex),
        SimResource.for_server(other_plex, [remote]),
    ]
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "server"
    schema = result["data_schema"]
    assert schema is not None
    options = schema.schema["server"].config["options"]
    assert options == [
        {"value": MACHINE_ID, "label": f"Living Room Plex ({plex.version}, local)"},
        {"value": OTHER_MACHINE_ID, "label": f"Basement Plex ({plex.version}, remote)"},
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"server": OTHER_MACHINE_ID}
    )
    _assert_entry(result, other_plex, other_plex.url)


async def test_servers_already_set_up_are_left_out(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """With one of two servers set up, the other is taken without a picker."""
    mock_config_entry.add_to_hass(hass)
    plextv.resources = [
        SimResource.for_server(plex),
        SimResource.for_server(other_plex),
    ]
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    _assert_entry(result, other_plex, other_plex.url)


async def test_every_server_set_up_or_ignored_aborts(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    mock_config_entry.add_to_hass(hass)
    MockConfigEntry(
        domain=DOMAIN, source=SOURCE_IGNORE, unique_id=OTHER_MACHINE_ID
    ).add_to_hass(hass)
    plextv.resources = [
        SimResource.for_server(plex),
        SimResource.for_server(other_plex),
    ]
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_no_owned_server_aborts(
    hass: HomeAssistant, plextv: PlexTvSimulator, plex: PlexSimulator
) -> None:
    """An account with only shared servers cannot run maintenance anywhere."""
    plextv.resources = [SimResource.for_server(plex, owned=False)]
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_owned_server"


async def test_expired_pin_then_signing_in_again(
    hass: HomeAssistant, plextv: PlexTvSimulator, plex: PlexSimulator
) -> None:
    """A user who never signs in: the PIN expires; starting again works."""
    plextv.resources = [SimResource.for_server(plex)]
    plextv.signed_in = False
    plextv.pin_expires_in = 1.5
    result = await _start_signin(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await _frontend(hass, result["flow_id"])
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "signin_expired"
    assert result["menu_options"] == ["signin", "manual"]

    plextv.pin_expires_in = 900
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    result = await _sign_in(hass, plextv, result)
    _assert_entry(result, plex, plex.url)


async def test_plex_tv_unreachable_then_recovers(
    hass: HomeAssistant, plextv: PlexTvSimulator, plex: PlexSimulator
) -> None:
    """No PIN without plex.tv: a menu to try again, which then works."""
    plextv.resources = [SimResource.for_server(plex)]
    await plextv.stop()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "signin_failed"

    await plextv.start()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    result = await _sign_in(hass, plextv, result)
    _assert_entry(result, plex, plex.url)


async def test_plex_tv_lost_while_polling(
    hass: HomeAssistant, plextv: PlexTvSimulator
) -> None:
    """plex.tv going away for good ends the wait with the same menu."""
    result = await _start_signin(hass)
    await plextv.stop()
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await _frontend(hass, result["flow_id"])
    assert result["step_id"] == "signin_failed"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "manual"}
    )
    assert result["step_id"] == "manual"


async def test_server_list_unavailable(
    hass: HomeAssistant, plextv: PlexTvSimulator
) -> None:
    plextv.fault = "500"
    plextv.fault_path = "/api/v2/resources"
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "signin_failed"


async def test_bad_plex_tv_override_is_reported(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PLEX_TV_ENV, "ftp://example.invalid")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    assert result["step_id"] == "signin_failed"


async def test_abandoned_sign_in_stops_polling(
    hass: HomeAssistant, plextv: PlexTvSimulator
) -> None:
    """Closing the dialog ends the flow and its poll; nothing is left behind."""
    result = await _start_signin(hass)
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done(wait_background_tasks=True)
    polls = len(plextv.requests)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.config_entries.flow.async_progress() == []
    assert len(plextv.requests) == polls


# --- the browser's way back -----------------------------------------------------


async def test_browser_returns_through_the_callback_view(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
) -> None:
    """plex.tv forwards the browser to our view, which ends the external step."""
    await async_setup_component(hass, "http", {})
    hass.config.internal_url = "http://127.0.0.1:8123"
    plextv.resources = [SimResource.for_server(plex)]
    result = await _start_signin(hass)
    # The test client freezes the router: it comes after the view is registered.
    client = await hass_client_no_auth()
    code = _code(result)
    fragment = parse_qs(URL(result["url"]).fragment.removeprefix("?"))
    forward = URL(fragment["forwardUrl"][0])
    assert forward.path == "/api/plex_butler/auth_callback"
    assert forward.query == {"flow_id": result["flow_id"]}

    # The browser comes back before plex.tv has the token: progress is shown.
    response = await client.get(forward.path_qs)
    assert response.status == 200
    assert "close this window" in await response.text()
    result = await _frontend(hass, result["flow_id"])
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "signin_wait"

    # The user signs in on plex.tv's page, which forwards the browser again.
    async with aiohttp.ClientSession() as browser:
        page = await browser.get(
            f"{plextv.url}/auth",
            params={"code": code, "forwardUrl": str(forward)},
            allow_redirects=False,
        )
        page.release()
    assert page.status == 302
    assert page.headers["Location"] == str(forward)
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await _frontend(hass, result["flow_id"])
    _assert_entry(result, plex, plex.url)
    # A late or forged callback changes nothing.
    assert (await client.get(forward.path_qs)).status == 200
    assert (await client.get("/api/plex_butler/auth_callback")).status == 200


# --- choosing the connection ----------------------------------------------------


@pytest.mark.usefixtures("trust_tls", "quiet_tls_server")
async def test_local_plex_direct_https_is_preferred_and_works(
    hass: HomeAssistant, plextv: PlexTvSimulator, tls: PlexDirectTls
) -> None:
    """Local https by plex.direct name beats local http, remote and relay."""
    server = PlexSimulator(
        token=OWNER_TOKEN, machine_identifier=MACHINE_ID, friendly_name="TLS Plex"
    )
    await server.start(ssl_context=tls.server_context)
    plain = PlexSimulator(
        token=OWNER_TOKEN, machine_identifier=MACHINE_ID, friendly_name="TLS Plex"
    )
    await plain.start()
    try:
        best = plex_direct_connection(server, tls.hash)
        plextv.resources = [
            SimResource.for_server(
                server,
                [
                    plex_direct_connection(server, tls.hash, relay=True),
                    connection_to(plain, local=False),
                    connection_to(plain),
                    best,
                ],
            )
        ]
        result = await _sign_in(hass, plextv, await _start_signin(hass))
        _assert_entry(result, server, best.uri)
        await hass.async_block_till_done()
        await press(hass, OPTIMIZE.replace("living_room_plex", "tls_plex"))
        (put,) = server.requests_to("POST", "/butler/OptimizeDatabase")
        assert put.headers["Host"] == f"{tls.hostname()}:{server.port}"
    finally:
        await hass.config_entries.async_unload(result["result"].entry_id)
        await server.stop()
        await plain.stop()


async def test_relay_only_warns_then_uses_it(
    hass: HomeAssistant, plextv: PlexTvSimulator, plex: PlexSimulator
) -> None:
    """Only the relay answers: the user is told it is slow, then may go on."""
    dead = HangingServer()
    await dead.start()
    relay = connection_to(plex, local=False, relay=True)
    plextv.resources = [SimResource.for_server(plex, [dead.connection(), relay])]
    try:
        result = await _sign_in(hass, plextv, await _start_signin(hass))
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "relay"
        assert result["description_placeholders"] == {
            "name": "Living Room Plex",
            "url": plex.url,
        }
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        _assert_entry(result, plex, plex.url)
    finally:
        await dead.stop()


async def test_every_connection_failing_aborts(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
) -> None:
    """Connections that refuse, or answer as another server, are no way in."""
    await plex.stop()
    plextv.resources = [
        SimResource.for_server(plex, [connection_to(plex), connection_to(other_plex)])
    ]
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_connection"
    assert result["description_placeholders"] == {"name": "Living Room Plex"}


@pytest.mark.parametrize(
    ("token", "fault", "reason"),
    [
        (SHARED_TOKEN, None, "not_owner"),
        (OWNER_TOKEN, "500", "no_butler"),
        (OWNER_TOKEN, "reset", "cannot_connect"),
    ],
)
async def test_server_refusing_the_signed_in_token_aborts(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    *,
    token: str,
    fault: str | None,
    reason: str,
) -> None:
    """The server is checked like a pasted token: owner, butler, reachable."""
    resource = SimResource.for_server(plex)
    resource.access_token = token
    plextv.resources = [resource]
    plex.fault = fault
    plex.fault_path = "/butler"
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


# --- reauth and discovery -----------------------------------------------------------


async def test_reauth_by_signing_in(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """The server's new token is stored; the address stays as the user set it."""
    plex.token = "rotated-owner-token"
    resource = SimResource.for_server(plex)
    plextv.resources = [SimResource.for_server(other_plex), resource]
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "reauth"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    result = await _sign_in(hass, plextv, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data == {
        CONF_URL: plex.url,
        CONF_TOKEN: "rotated-owner-token",
        CONF_VERIFY_SSL: True,
    }


async def test_reauth_sign_in_for_another_server_is_refused(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """An account that does not own this server changes nothing."""
    before = dict(init_integration.data)
    plextv.resources = [SimResource.for_server(other_plex)]
    result = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    result = await _sign_in(hass, plextv, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"
    assert init_integration.data == before


async def test_discovered_server_by_signing_in(
    hass: HomeAssistant,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
) -> None:
    """Signing in from a discovered card sets up that server, without a picker."""
    plextv.resources = [
        SimResource.for_server(other_plex),
        SimResource.for_server(plex),
    ]
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(plex.port)
    )
    assert result["step_id"] == "discovered"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "signin"}
    )
    result = await _sign_in(hass, plextv, result)
    _assert_entry(result, plex, plex.url)


async def test_diagnostics_of_a_signed_in_entry_hold_no_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    plextv: PlexTvSimulator,
    plex: PlexSimulator,
) -> None:
    """The server token is redacted; the account token was never stored."""
    plextv.resources = [SimResource.for_server(plex)]
    result = await _sign_in(hass, plextv, await _start_signin(hass))
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, result["result"]
    )
    assert diagnostics["entry"]["data"][CONF_TOKEN] == "**REDACTED**"
    text = str(diagnostics)
    assert plex.token not in text
    assert plextv.user_token not in text
