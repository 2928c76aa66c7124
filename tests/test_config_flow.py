"""Config flow tests: every error is followed by a recovery in the same flow.

All checks reach the simulator over a real socket; the only patch is the one
that produces an unexpected exception, which no server can cause.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from datetime import UTC, datetime, timedelta
import ipaddress
import logging
from pathlib import Path
import socket
import ssl
import threading
from typing import Any
from unittest.mock import patch

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntryDisabler,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import ssl as ssl_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DEFAULT_PORT, DOMAIN

from .common import zeroconf_info
from .conftest import MACHINE_ID, OWNER_TOKEN, SHARED_TOKEN
from .plex_direct_tls import make_plex_direct_tls
from .plex_simulator import PlexSimulator

# Every test with the simulator runs on an ideal link and on one that trickles.
RUDE_LINKS = True
OTHER_MACHINE_ID = "fedcba9876543210fedcba9876543210fedcba98"
OTHER_TOKEN = "other-owner-token-5d1e"


def _user_input(url: str, token: str = OWNER_TOKEN, verify_ssl: bool = True) -> dict:
    return {CONF_URL: url, CONF_TOKEN: token, CONF_VERIFY_SSL: verify_ssl}


def _suggested(result: ConfigFlowResult) -> dict[str, Any]:
    """The suggested value of each field of a form (None when there is none)."""
    schema = result["data_schema"]
    assert schema is not None
    return {
        str(key): (key.description or {}).get("suggested_value")
        for key in schema.schema
    }


async def _start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    """The address and token form, chosen from the menu that adding opens."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == ["signin", "manual"]
    result = await _submit(hass, result, {"next_step_id": "manual"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    assert result["errors"] == {}
    return result


async def _start_reauth(
    hass: HomeAssistant, entry: MockConfigEntry
) -> ConfigFlowResult:
    """The token form of reauthentication, chosen from its menu."""
    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["signin", "reauth_confirm"]
    return await _submit(hass, result, {"next_step_id": "reauth_confirm"})


async def _submit(
    hass: HomeAssistant, result: ConfigFlowResult, data: dict
) -> ConfigFlowResult:
    return await hass.config_entries.flow.async_configure(result["flow_id"], data)


def _assert_created(result: ConfigFlowResult, plex: PlexSimulator, **data: Any) -> None:
    """The flow created the entry for the simulated server with exactly ``data``."""
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Living Room Plex"
    assert result["result"].unique_id == plex.machine_identifier
    assert result["data"] == {
        CONF_URL: plex.url,
        CONF_TOKEN: OWNER_TOKEN,
        CONF_VERIFY_SSL: True,
        **data,
    }


@pytest.fixture
async def other_plex(socket_enabled: None) -> AsyncGenerator[PlexSimulator]:
    """A second, different Plex server (its own machine identifier and owner)."""
    simulator = PlexSimulator(
        token=OTHER_TOKEN,
        machine_identifier=OTHER_MACHINE_ID,
        friendly_name="Basement Plex",
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


def _self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plex-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def _serve_tls(context: ssl.SSLContext) -> Generator[PlexSimulator]:
    """Serve the simulated server behind HTTPS with ``context``.

    It runs on its own event loop in a thread: a refused certificate makes the
    server side log a failed handshake, which Home Assistant's test loop would
    report as an error of the test.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tls-plex", daemon=True)
    thread.start()

    async def start() -> tuple[PlexSimulator, web.AppRunner]:
        simulator = PlexSimulator(
            token=OWNER_TOKEN,
            machine_identifier=MACHINE_ID,
            friendly_name="Living Room Plex",
        )
        runner = web.AppRunner(simulator.app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        simulator.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return simulator, runner

    simulator, runner = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    yield simulator
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def tls_plex(socket_enabled: None, tmp_path: Path) -> Generator[PlexSimulator]:
    """The simulated server behind HTTPS with a self-signed certificate."""
    yield from _serve_tls(_self_signed_context(tmp_path))


@pytest.fixture
def plex_direct_plex(socket_enabled: None) -> Generator[PlexSimulator]:
    """The server with a trusted certificate for ``*.<hash>.plex.direct`` only.

    Plex's real certificates come from a public CA; here a throw-away CA is
    added to Home Assistant's client context, as a user's own CA would be.
    Its key is discarded, so the extra trust can vouch for nothing else.
    """
    tls = make_plex_direct_tls()
    ssl_util.get_default_context().load_verify_locations(cadata=tls.ca_pem.decode())
    yield from _serve_tls(tls.server_context)


# --- user step ---------------------------------------------------------------


async def test_user_creates_entry_named_after_server(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """The entry is titled and identified by what the server says, not the URL."""
    result = await _start_user_flow(hass)
    result = await _submit(
        hass, result, _user_input(f"  {plex.url}/  ", token=f" {OWNER_TOKEN} ")
    )
    _assert_created(result, plex)
    assert set(result["data"]) == {CONF_URL, CONF_TOKEN, CONF_VERIFY_SSL}
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_user_form_has_no_suggested_token(hass: HomeAssistant) -> None:
    """A first form suggests nothing: there is no earlier input yet."""
    result = await _start_user_flow(hass)
    assert _suggested(result) == {
        CONF_URL: None,
        CONF_TOKEN: None,
        CONF_VERIFY_SSL: None,
    }


async def test_user_cannot_connect_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """A stopped server is "cannot_connect"; the form keeps the URL and the token.

    The token typed in this flow comes back, so the user need not paste it again.
    """
    result = await _start_user_flow(hass)
    await plex.stop()
    result = await _submit(hass, result, _user_input(plex.url, verify_ssl=False))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert _suggested(result) == {
        CONF_URL: plex.url,
        CONF_TOKEN: OWNER_TOKEN,
        CONF_VERIFY_SSL: False,
    }

    await plex.start()
    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


async def test_user_invalid_auth_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """A token the server refuses is "invalid_auth" and never comes back in the form."""
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(plex.url, token="wrong-token"))
    assert result["errors"] == {"base": "invalid_auth"}
    assert _suggested(result)[CONF_TOKEN] is None

    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


@pytest.mark.parametrize("shared_status", [401, 403])
async def test_user_shared_token_is_not_owner_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, shared_status: int
) -> None:
    """A shared user's token reads the server but not its butler: "not_owner"."""
    plex.shared_status = shared_status
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(plex.url, token=SHARED_TOKEN))
    assert result["errors"] == {"base": "not_owner"}
    assert plex.requests_to("GET", "/")[-1].status == 200
    assert plex.requests_to("GET", "/butler")[-1].status == shared_status

    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://127.0.0.1:32400", "invalid_url"),
        ("http://user:secret@127.0.0.1:32400", "invalid_url"),
        ("http://plex server:32400", "invalid_url"),
        ("http://127.0.0.1:99999", "invalid_url"),
        ("http://127.0.0.1:port", "invalid_url"),
        ("http://", "invalid_url"),
        ("", "invalid_url"),
        ("https://app.plex.tv/desktop/#!/server/0123abcd/details", "plex_tv_address"),
    ],
)
async def test_user_invalid_url_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, url: str, error: str
) -> None:
    """What cannot be a server address is refused before a request is sent."""
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(url))
    assert result["errors"] == {CONF_URL: error}
    assert plex.requests == []

    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("127.0.0.1:{port}", "{token}"),
        (" http://127.0.0.1:{port}/ ", "{token}"),
        ("HTTP://127.0.0.1:{port}", "{token}"),
        (
            "http://127.0.0.1:{port}/web/index.html#!/settings/server/x/general",
            "{token}",
        ),
        ("http://127.0.0.1:{port}/#fragment", "{token}"),
        ('"http://127.0.0.1:{port}"', "{token}"),
        ("http://127.0.0.1:{port}/library/metadata/7?X-Plex-Token={token}", ""),
        ("127.0.0.1:{port}/identity?x-plex-token={token}&checkFiles=1", ""),
        ("http://127.0.0.1:{port}", "X-Plex-Token={token}"),
        ("http://127.0.0.1:{port}", "X-Plex-Token: {token}"),
        ("http://127.0.0.1:{port}", '"{token}"'),
        ("http://127.0.0.1:{port}", "'{token}'"),
        ("http://127.0.0.1:{port}", "  {token}\t"),
        ("http://127.0.0.1:{port}", "http://127.0.0.1:{port}/?X-Plex-Token={token}"),
    ],
)
async def test_user_accepts_what_people_paste(
    hass: HomeAssistant, plex: PlexSimulator, url: str, token: str
) -> None:
    """Host without scheme, Plex Web and View XML addresses, wrapped tokens.

    Only the server's root URL and the bare token are stored, and the token
    never travels in a URL.
    """
    result = await _start_user_flow(hass)
    result = await _submit(
        hass,
        result,
        _user_input(
            url.format(port=plex.port, token=OWNER_TOKEN),
            token.format(port=plex.port, token=OWNER_TOKEN),
        ),
    )
    _assert_created(result, plex)
    assert all(OWNER_TOKEN not in r.url for r in plex.requests)


async def test_user_form_shows_the_address_as_read(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """After an error the form holds the normalised URL and the pasted token."""
    await plex.stop()
    result = await _start_user_flow(hass)
    result = await _submit(
        hass,
        result,
        _user_input(
            f"127.0.0.1:{plex.port}/web/index.html?X-Plex-Token={OWNER_TOKEN}", ""
        ),
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert _suggested(result) == {
        CONF_URL: plex.url,
        CONF_TOKEN: OWNER_TOKEN,
        CONF_VERIFY_SSL: True,
    }

    await plex.start(port=None)
    result = await _submit(hass, result, _suggested(result))
    _assert_created(result, plex)


async def test_user_without_port_tries_plex_port_after_the_schemes(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """http://HOST means port 80 first; with nothing there, Plex's 32400.

    What 32400 answers is reported; when neither answers, "cannot_connect".
    The test needs both ports free on 127.0.0.1 (scripts/develop holds 32400).
    """
    for port in (80, DEFAULT_PORT):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:  # pragma: no cover
                pytest.skip(f"something listens on 127.0.0.1:{port} on this machine")
    simulator = PlexSimulator(
        token=OWNER_TOKEN,
        machine_identifier=MACHINE_ID,
        friendly_name="Living Room Plex",
    )
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input("http://127.0.0.1"))
    assert result["errors"] == {"base": "cannot_connect"}

    await simulator.start(port=32400)
    try:
        result = await _submit(hass, result, _user_input("http://127.0.0.1", "wrong"))
        assert result["errors"] == {"base": "invalid_auth"}

        result = await _submit(hass, result, _user_input("http://127.0.0.1"))
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_URL] == "http://127.0.0.1:32400"
        await hass.async_block_till_done()
    finally:
        await simulator.stop()


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("", "token_required"),
        ("   ", "token_required"),
        ("x" * 513, "invalid_token"),
        ("owner token", "invalid_token"),
        ("owner\ttoken", "invalid_token"),
        ("owner-token\x00", "invalid_token"),
        ("X-Plex-Token=", "invalid_token"),
        ("http://127.0.0.1:32400/web/index.html", "invalid_token"),
    ],
)
async def test_user_invalid_token_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, token: str, error: str
) -> None:
    """A token that cannot be a Plex token is refused before a request is sent."""
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(plex.url, token=token))
    assert result["errors"] == {CONF_TOKEN: error}
    assert _suggested(result)[CONF_TOKEN] is None
    assert plex.requests == []

    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


async def test_user_accepts_longest_token(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """512 characters is the limit, not one less."""
    plex.token = "t" * 512
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(plex.url, token=plex.token))
    _assert_created(result, plex, **{CONF_TOKEN: plex.token})


@pytest.mark.parametrize("fault", ["html", "500", "garbage", "truncated", "redirect"])
async def test_user_not_plex_server_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, fault: str
) -> None:
    """Something that answers "/" with no Plex identity is "not_plex_server"."""
    plex.fault = fault
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(plex.url))
    assert result["errors"] == {"base": "not_plex_server"}

    plex.fault = None
    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", "no_butler"),
        ("html", "no_butler"),
        ("truncated", "no_butler"),
        # A connection that breaks on /butler is not a missing butler.
        ("reset", "cannot_connect"),
    ],
)
async def test_user_butler_fault_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, fault: str, error: str
) -> None:
    """A Plex server whose /butler is unusable is "no_butler" (or unreachable)."""
    plex.fault = fault
    plex.fault_path = "/butler"
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(plex.url))
    assert result["errors"] == {"base": error}

    plex.fault = None
    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


async def test_user_self_signed_https_needs_verify_off(
    hass: HomeAssistant, tls_plex: PlexSimulator
) -> None:
    """A self-signed certificate is "not trusted" until the check is turned off."""
    url = f"https://127.0.0.1:{tls_plex.port}"
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(url))
    assert result["errors"] == {"base": "certificate_untrusted"}
    assert tls_plex.requests == []

    result = await _submit(hass, result, _user_input(url, verify_ssl=False))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _user_input(url, verify_ssl=False)
    assert result["result"].unique_id == MACHINE_ID
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_user_certificate_for_another_name(
    hass: HomeAssistant, plex_direct_plex: PlexSimulator
) -> None:
    """A trusted plex.direct certificate does not cover the bare IP address."""
    url = f"https://127.0.0.1:{plex_direct_plex.port}"
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(url))
    assert result["errors"] == {"base": "certificate_wrong_name"}
    assert plex_direct_plex.requests == []

    result = await _submit(hass, result, _user_input(url, verify_ssl=False))
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("verify_ssl", [True, False], ids=["verify", "no-verify"])
async def test_user_https_to_plain_http_server(
    hass: HomeAssistant, plex: PlexSimulator, verify_ssl: bool
) -> None:
    """TLS to a plain-HTTP port: "does not speak HTTPS", whatever the check."""
    url = plex.url.replace("http://", "https://")
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(url, verify_ssl=verify_ssl))
    assert result["errors"] == {"base": "not_https"}

    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


async def test_user_unexpected_error_is_logged_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug shows "unknown" and leaves a traceback in the log for the report."""
    result = await _start_user_flow(hass)
    with patch(
        "custom_components.plex_butler.config_flow._async_check_server",
        side_effect=RuntimeError("boom"),
    ):
        result = await _submit(hass, result, _user_input(plex.url))
    assert result["errors"] == {"base": "unknown"}
    records = [
        record
        for record in caplog.records
        if record.name == "custom_components.plex_butler"
        and record.levelno == logging.ERROR
    ]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)

    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)


async def test_user_same_server_aborts(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """The same server under another address is still the same server."""
    mock_config_entry.add_to_hass(hass)
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(f"http://127.0.0.1:{plex.port}/"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_user_second_server_is_added(
    hass: HomeAssistant,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A different server is a new entry, even with one already set up."""
    mock_config_entry.add_to_hass(hass)
    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(other_plex.url, OTHER_TOKEN))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Basement Plex"
    assert result["result"].unique_id == OTHER_MACHINE_ID
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


# --- reauth ------------------------------------------------------------------


async def test_reauth_wrong_token_then_new_token(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A refused token is an error; the new owner token is saved and reloaded."""
    plex.token = "new-owner-token-9c"
    result = await _start_reauth(hass, init_integration)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"name": "Living Room Plex"}
    assert _suggested(result) == {CONF_TOKEN: None}

    result = await _submit(hass, result, {CONF_TOKEN: OWNER_TOKEN})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await _submit(hass, result, {CONF_TOKEN: " new-owner-token-9c "})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert init_integration.data == {
        CONF_URL: plex.url,
        CONF_TOKEN: "new-owner-token-9c",
        CONF_VERIFY_SSL: True,
    }
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reauth_invalid_token_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """The token is checked for shape before the server is asked."""
    result = await _start_reauth(hass, init_integration)
    result = await _submit(hass, result, {CONF_TOKEN: "  "})
    assert result["errors"] == {CONF_TOKEN: "token_required"}
    result = await _submit(hass, result, {CONF_TOKEN: "X-Plex-Token=has space"})
    assert result["errors"] == {CONF_TOKEN: "invalid_token"}

    result = await _submit(hass, result, {CONF_TOKEN: f"X-Plex-Token={OWNER_TOKEN}"})
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_TOKEN] == OWNER_TOKEN


async def test_reauth_token_of_another_server_aborts(
    hass: HomeAssistant,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """If the entry's address now leads to another server, its token is not taken."""
    before = dict(init_integration.data)
    await plex.stop()
    await other_plex.stop()
    await other_plex.start(port=plex.port)

    result = await _start_reauth(hass, init_integration)
    result = await _submit(hass, result, {CONF_TOKEN: OTHER_TOKEN})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"
    assert init_integration.data == before


# --- reconfigure -------------------------------------------------------------


async def test_reconfigure_changes_url_token_and_tls_check(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """The server moved and got a new token: both are saved and the entry reloads."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert _suggested(result) == {
        CONF_URL: plex.url,
        CONF_TOKEN: None,
        CONF_VERIFY_SSL: True,
    }

    old_url = plex.url
    await plex.stop()
    await plex.start(port=0)
    assert plex.url != old_url
    plex.token = "moved-owner-token"

    result = await _submit(
        hass, result, _user_input(plex.url, "moved-owner-token", verify_ssl=False)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert init_integration.data == _user_input(
        plex.url, "moved-owner-token", verify_ssl=False
    )
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_errors_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Errors keep the typed URL and typed token in the form, never the stored one."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert _suggested(result) == {
        CONF_URL: plex.url,
        CONF_TOKEN: None,
        CONF_VERIFY_SSL: True,
    }
    result = await _submit(hass, result, _user_input("ftp://127.0.0.1", token=""))
    assert result["errors"] == {CONF_URL: "invalid_url"}
    assert _suggested(result) == {
        CONF_URL: "ftp://127.0.0.1",
        CONF_TOKEN: "",
        CONF_VERIFY_SSL: True,
    }
    await plex.stop()
    result = await _submit(hass, result, _user_input(plex.url, token="typed-token"))
    assert result["errors"] == {"base": "cannot_connect"}
    assert _suggested(result)[CONF_TOKEN] == "typed-token"
    await plex.start(port=None)

    result = await _submit(hass, result, _user_input(plex.url, token="wrong-token"))
    assert result["errors"] == {"base": "invalid_auth"}

    result = await _submit(hass, result, _user_input(plex.url))
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data == _user_input(plex.url)


async def test_reconfigure_empty_token_keeps_the_stored_one(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """Leaving the token empty changes the address and keeps the token."""
    result = await init_integration.start_reconfigure_flow(hass)
    result = await _submit(
        hass,
        result,
        _user_input(f"127.0.0.1:{plex.port}/web", token="", verify_ssl=False),
    )
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data == _user_input(plex.url, verify_ssl=False)


async def test_reconfigure_to_another_server_aborts(
    hass: HomeAssistant,
    plex: PlexSimulator,
    other_plex: PlexSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Pointing an entry at a different server would swap its buttons: refused."""
    before = dict(init_integration.data)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await _submit(hass, result, _user_input(other_plex.url, OTHER_TOKEN))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"
    assert init_integration.data == before


# --- zeroconf ----------------------------------------------------------------


async def _start_zeroconf_flow(
    hass: HomeAssistant, port: int | None
) -> ConfigFlowResult:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(port)
    )


async def _zeroconf_token_form(
    hass: HomeAssistant, port: int | None
) -> ConfigFlowResult:
    """The discovered card's menu, answered with "enter the token"."""
    result = await _start_zeroconf_flow(hass, port)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "discovered"
    assert result["menu_options"] == ["signin", "zeroconf_confirm"]
    return await _submit(hass, result, {"next_step_id": "zeroconf_confirm"})


async def test_zeroconf_asks_for_token_and_creates_entry(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """Discovery knows the address; the owner's token completes it."""
    result = await _zeroconf_token_form(hass, plex.port)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"] == {
        "name": "Living Room Plex",
        "url": plex.url,
    }
    identity = plex.requests_to("GET", "/identity")
    assert len(identity) == 1
    assert "X-Plex-Token" not in identity[0].headers
    progress = hass.config_entries.flow.async_progress()
    assert progress[0]["context"]["title_placeholders"] == {"name": "Living Room Plex"}

    result = await _submit(hass, result, {CONF_TOKEN: OWNER_TOKEN})
    _assert_created(result, plex)


async def test_zeroconf_confirm_errors_then_recovers(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """A malformed or refused token is shown as an error on the same form."""
    result = await _zeroconf_token_form(hass, plex.port)
    result = await _submit(hass, result, {CONF_TOKEN: "has space"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_TOKEN: "invalid_token"}

    result = await _submit(hass, result, {CONF_TOKEN: SHARED_TOKEN})
    assert result["errors"] == {"base": "not_owner"}

    result = await _submit(hass, result, {CONF_TOKEN: OWNER_TOKEN})
    _assert_created(result, plex)


async def test_zeroconf_silent_server_aborts(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """A discovered server that does not answer /identity is not offered."""
    await plex.stop()
    result = await _start_zeroconf_flow(hass, plex.port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_zeroconf_not_plex_identity_aborts(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """Something answering /identity without a machine identifier is not offered."""
    plex.fault = "html"
    plex.fault_path = "/identity"
    result = await _start_zeroconf_flow(hass, plex.port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_zeroconf_moved_server_updates_ip_url(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """An entry at http://<ip> follows its server to the discovered address."""
    await plex.stop()
    await plex.start(port=0)
    result = await _start_zeroconf_flow(hass, plex.port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    assert init_integration.data[CONF_URL] == plex.url
    assert init_integration.data[CONF_TOKEN] == OWNER_TOKEN
    assert init_integration.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(
    "url",
    ["http://plex.example.invalid:32400", "https://127.0.0.1:32400"],
    ids=["hostname", "https"],
)
async def test_zeroconf_keeps_chosen_url(
    hass: HomeAssistant, plex: PlexSimulator, url: str
) -> None:
    """A hostname or https URL was chosen on purpose and is not replaced."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Living Room Plex",
        unique_id=MACHINE_ID,
        data=_user_input(url),
    )
    entry.add_to_hass(hass)
    result = await _start_zeroconf_flow(hass, plex.port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_URL] == url


async def test_zeroconf_confirm_aborts_if_added_meanwhile(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """The server was added by hand while the discovery form was open."""
    result = await _zeroconf_token_form(hass, plex.port)
    assert result["type"] is FlowResultType.FORM
    mock_config_entry.add_to_hass(hass)
    result = await _submit(hass, result, {CONF_TOKEN: OWNER_TOKEN})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_zeroconf_of_ignored_server_is_left_alone(
    hass: HomeAssistant, plex: PlexSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A server the user chose to ignore aborts quietly on every announcement."""
    ignored = MockConfigEntry(
        domain=DOMAIN, source=SOURCE_IGNORE, unique_id=MACHINE_ID, data={}
    )
    ignored.add_to_hass(hass)
    for _ in range(2):
        result = await _start_zeroconf_flow(hass, plex.port)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
    assert ignored.data == {}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_user_step_wins_over_pending_discovery(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """Adding by hand while the discovery card waits creates one entry, no card."""
    discovered = await _zeroconf_token_form(hass, plex.port)
    assert discovered["type"] is FlowResultType.FORM

    result = await _start_user_flow(hass)
    result = await _submit(hass, result, _user_input(plex.url))
    _assert_created(result, plex)
    await hass.async_block_till_done()

    assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    assert hass.config_entries.flow.async_progress() == []


async def test_zeroconf_brings_back_entry_failed_on_wrong_server(
    hass: HomeAssistant, plex: PlexSimulator, other_plex: PlexSimulator
) -> None:
    """The old address leads to another server; discovery finds ours elsewhere."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Living Room Plex",
        unique_id=MACHINE_ID,
        data=_user_input(other_plex.url),
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR

    result = await _start_zeroconf_flow(hass, plex.port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()

    assert entry.data[CONF_URL] == plex.url
    assert entry.state is ConfigEntryState.LOADED


async def test_zeroconf_name_with_dots_is_kept_whole(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """Only the service type is cut from the announced name."""
    info = zeroconf_info(plex.port)
    info.name = f"plex.home.{info.type}"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert result["description_placeholders"] == {"name": "plex.home", "url": plex.url}
    progress = hass.config_entries.flow.async_progress()
    assert progress[0]["context"]["title_placeholders"] == {"name": "plex.home"}


async def test_zeroconf_at_the_stored_address_changes_nothing(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """A server announcing itself where it already is is not reloaded."""
    result = await _start_zeroconf_flow(hass, plex.port)
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert len(plex.requests_to("GET", "/")) == 1  # setup's only; no reload


async def test_zeroconf_updates_an_entry_that_is_not_loaded_without_loading_it(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """A disabled entry follows its server's address but stays as the user left it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Living Room Plex",
        unique_id=MACHINE_ID,
        data=_user_input("http://127.0.0.1:1"),
        disabled_by=ConfigEntryDisabler.USER,
    )
    entry.add_to_hass(hass)
    result = await _start_zeroconf_flow(hass, plex.port)
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    assert entry.data[CONF_URL] == plex.url
    assert entry.state is ConfigEntryState.NOT_LOADED
