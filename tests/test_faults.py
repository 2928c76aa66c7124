"""Faults of the server, in every phase: setup, polling, a button press, the action.

Every fault comes from the simulator over a real socket. For each one the
integration must fail in a bounded, translated, token-free way, log it once
(not as a crash), and recover by itself when the server is back.

Sockets: Home Assistant's shared aiohttp session keeps an idle keep-alive
connection to a server it talked to; while the server lives that is how the
pool works, not a leak. So a test proves "nothing left open" in two steps:
the simulator serves nothing (``in_flight == 0``), and once the simulator
stops, no socket of this process touches its port any more (pooled idle
connections are closed by the peer going away, abandoned ones were closed by
the client's timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
import logging

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, CONF_TOKEN, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
import psutil  # type: ignore[import-untyped]
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.plex_butler.const import DOMAIN

from .common import poll
from .conftest import OWNER_TOKEN
from .plex_simulator import PlexSimulator

ENTITY = "button.living_room_plex_optimize_database"
TASK = "OptimizeDatabase"
INTEGRATION_LOGGER = "custom_components.plex_butler"

# Faults after which the server answers nothing usable, with the translation
# key of the error a caller sees and a phrase of its rendered message.
# "down" is not a simulator switch: the simulator is stopped (refused).
FAILING = {
    "down": ("connection_refused", "refused the connection"),
    "hang": ("start_timeout", "did not answer within"),
    "reset": ("cannot_connect", "Could not reach"),
    "500": ("unexpected_response", "HTTP status 500"),
    "503": ("unexpected_response", "HTTP status 503"),
    "redirect": ("unexpected_response", "HTTP status 302"),
}
# Bad bodies with status 200: only a GET reads a body.
BAD_BODIES = {
    "html": "answered unexpectedly",
    "truncated": "answered unexpectedly",
    "garbage": "answered unexpectedly",
}
FAILING_READS = {
    **{fault: phrase for fault, (_, phrase) in FAILING.items()},
    **BAD_BODIES,
}


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a hanging server fail a request in 0.3 s instead of 10 s."""
    monkeypatch.setattr("custom_components.plex_butler.helpers.REQUEST_TIMEOUT", 0.3)


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the coordinator's "recovered" line, which is INFO."""
    caplog.set_level(logging.INFO)


async def _break(plex: PlexSimulator, fault: str) -> None:
    if fault == "down":
        await plex.stop()
    else:
        plex.fault = fault


async def _mend(plex: PlexSimulator, fault: str) -> None:
    if fault == "down":
        await plex.start()
    plex.fault = None
    plex.release_hung()


async def _retry_setup(hass: HomeAssistant) -> None:
    """Let a config entry's scheduled setup retry happen and finish."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
    await hass.async_block_till_done(wait_background_tasks=True)


def _sockets_on(port: int) -> list[str]:
    """List the TCP sockets of this process to or from ``port``, listeners too."""
    return [
        f"{conn.laddr} -> {conn.raddr} {conn.status}"
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.laddr.port == port or (conn.raddr and conn.raddr.port == port)
    ]


async def _assert_nothing_left_open(hass: HomeAssistant, plex: PlexSimulator) -> None:
    """No request is being served, and stopping the server leaves no socket."""
    await hass.async_block_till_done()
    for _ in range(200):  # the server side of a released request ends soon
        if plex.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert plex.in_flight == 0
    await plex.stop()
    for _ in range(200):  # the client notices the peer's close on a later loop turn
        if not _sockets_on(plex.port):
            break
        await asyncio.sleep(0.01)
    assert _sockets_on(plex.port) == []


def _error_records(caplog: pytest.LogCaptureFixture) -> Iterator[logging.LogRecord]:
    return (r for r in caplog.records if r.levelno >= logging.ERROR)


def _assert_no_crash_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Faults are expected: they must never be logged as unhandled exceptions."""
    assert "Traceback" not in caplog.text
    assert "Unexpected error" not in caplog.text
    assert [r.getMessage() for r in _error_records(caplog) if r.exc_info] == []
    assert OWNER_TOKEN not in caplog.text


def _assert_token_free(err: BaseException) -> None:
    assert OWNER_TOKEN not in str(err)
    assert OWNER_TOKEN not in repr(err)
    assert OWNER_TOKEN not in str(err.__cause__)


def _button_state(hass: HomeAssistant) -> str:
    state = hass.states.get(ENTITY)
    assert state is not None
    return state.state


def _entry_state(entry: MockConfigEntry) -> ConfigEntryState:
    """Read the state through a call, so type checkers do not keep an old one."""
    return entry.state


async def _press(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: ENTITY}, blocking=True
    )


async def _start_by_action(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "start_task",
        {"config_entry_id": entry.entry_id, "task": TASK},
        blocking=True,
        return_response=True,
    )
    assert response == {"task": TASK, "result": "started"}


async def _start(hass: HomeAssistant, entry: MockConfigEntry, how: str) -> None:
    if how == "button":
        await _press(hass)
    else:
        await _start_by_action(hass, entry)


def _reauth_flows(hass: HomeAssistant) -> list[str]:
    return [
        flow["flow_id"]
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def _finish_reauth(hass: HomeAssistant, flow_id: str) -> None:
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_TOKEN: OWNER_TOKEN}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done(wait_background_tasks=True)


# --- setup -------------------------------------------------------------------


@pytest.mark.parametrize("fault", sorted(FAILING_READS))
async def test_setup_fault_retries_and_recovers(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    """A broken server at startup means "retry later", and the retry succeeds."""
    await _break(plex, fault)
    mock_config_entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert FAILING_READS[fault] in (mock_config_entry.reason or "")
    assert OWNER_TOKEN not in (mock_config_entry.reason or "")
    assert hass.states.get(ENTITY) is None
    assert not [r for r in plex.requests if r.path == "/elsewhere"]

    await _mend(plex, fault)
    await _retry_setup(hass)

    assert _entry_state(mock_config_entry) is ConfigEntryState.LOADED
    assert _button_state(hass) != STATE_UNAVAILABLE
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


async def test_setup_reads_xml_when_json_was_asked(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A proxy that drops the Accept header makes Plex answer XML: that works."""
    plex.fault = "xml"
    mock_config_entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert _entry_state(mock_config_entry) is ConfigEntryState.LOADED
    state = hass.states.get(ENTITY)
    assert state is not None
    assert state.state != STATE_UNAVAILABLE
    assert state.attributes["friendly_name"] == "Living Room Plex Optimize database"
    assert plex.requests_to("GET", "/butler")[-1].headers["Accept"] == (
        "application/json"
    )
    await _assert_nothing_left_open(hass, plex)


async def test_setup_rejected_token_starts_reauth(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 401 at startup is not retried: the user is asked for a new token."""
    plex.fault = "401"
    mock_config_entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert mock_config_entry.error_reason_translation_key == "authentication_failed"
    flows = _reauth_flows(hass)
    assert len(flows) == 1

    plex.fault = None
    await _finish_reauth(hass, flows[0])

    assert _entry_state(mock_config_entry) is ConfigEntryState.LOADED
    assert _button_state(hass) != STATE_UNAVAILABLE
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


# --- polling -----------------------------------------------------------------


def _poll_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in _error_records(caplog)
        if r.name == INTEGRATION_LOGGER and "data" in r.getMessage()
    ]


def _poll_recoveries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == INTEGRATION_LOGGER and r.getMessage().endswith("data recovered")
    ]


@pytest.mark.parametrize("fault", sorted(FAILING_READS))
async def test_polling_fault_makes_buttons_unavailable_until_server_is_back(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    """Two failed polls: unavailable, logged once; then back, logged once."""
    await _break(plex, fault)
    await poll(hass)
    assert _button_state(hass) == STATE_UNAVAILABLE

    await poll(hass)
    assert hass.states.get(ENTITY).state == STATE_UNAVAILABLE  # type: ignore[union-attr]

    await _mend(plex, fault)
    await poll(hass)
    assert hass.states.get(ENTITY).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

    failures = _poll_failures(caplog)
    assert len(failures) == 1
    assert FAILING_READS[fault] in failures[0]
    assert len(_poll_recoveries(caplog)) == 1
    assert init_integration.state is ConfigEntryState.LOADED
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


async def test_polling_reads_xml_when_json_was_asked(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """XML answers keep the buttons available and log nothing."""
    plex.fault = "xml"
    before = len(plex.requests_to("GET", "/butler"))
    await poll(hass)

    assert len(plex.requests_to("GET", "/butler")) == before + 1
    assert hass.states.get(ENTITY).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert _poll_failures(caplog) == []
    await _assert_nothing_left_open(hass, plex)


async def test_polling_rejected_token_starts_reauth_and_recovers_after_it(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 401 mid-operation: unavailable, reauth offered, polling paused until then."""
    plex.fault = "401"
    await poll(hass)

    assert hass.states.get(ENTITY).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    flows = _reauth_flows(hass)
    assert len(flows) == 1
    polls = len(plex.requests_to("GET", "/butler"))
    await poll(hass)
    assert len(plex.requests_to("GET", "/butler")) == polls  # no hammering

    plex.fault = None
    await _finish_reauth(hass, flows[0])

    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get(ENTITY).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    failures = _poll_failures(caplog)
    assert len(failures) == 1
    assert "rejected the Plex token" in failures[0]
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


# --- button press and action ---------------------------------------------------


@pytest.mark.parametrize("how", ["button", "action"])
@pytest.mark.parametrize("fault", sorted(FAILING))
async def test_start_fault_raises_translated_error_then_works_again(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    *,
    fault: str,
    how: str,
) -> None:
    """A failed start is a HomeAssistantError (not misuse) naming the cause."""
    key, phrase = FAILING[fault]
    await _break(plex, fault)

    with pytest.raises(HomeAssistantError) as exc_info:
        await _start(hass, init_integration, how)

    err = exc_info.value
    assert not isinstance(err, ServiceValidationError)
    assert err.translation_domain == DOMAIN
    assert err.translation_key == key
    assert phrase in str(err)
    _assert_token_free(err)
    assert not [r for r in plex.requests if r.path == "/elsewhere"]
    assert not plex.is_running(TASK)

    await _mend(plex, fault)
    await _start(hass, init_integration, how)

    assert plex.is_running(TASK)
    assert hass.states.get(ENTITY).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


@pytest.mark.parametrize("how", ["button", "action"])
@pytest.mark.parametrize("fault", [*sorted(BAD_BODIES), "xml"])
async def test_start_ignores_the_body_of_a_200(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    *,
    fault: str,
    how: str,
) -> None:
    """Plex's start answer has an empty body, so only the status counts.

    A 200 with junk means "started" to the integration, even though here the
    simulator's fault answered instead of the butler: there is nothing in a
    POST answer that could tell the two apart.
    """
    plex.fault = fault

    await _start(hass, init_integration, how)

    assert plex.requests_to("POST", f"/butler/{TASK}")[-1].status == 200
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


@pytest.mark.parametrize("how", ["button", "action"])
async def test_start_with_rejected_token_starts_reauth(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    """A 401 on a start says so and asks the user for a new token."""
    plex.fault = "401"

    with pytest.raises(HomeAssistantError) as exc_info:
        await _start(hass, init_integration, how)
    await hass.async_block_till_done()

    err = exc_info.value
    assert not isinstance(err, ServiceValidationError)
    assert err.translation_key == "authentication_failed"
    _assert_token_free(err)
    assert len(_reauth_flows(hass)) == 1

    plex.fault = None
    await _start(hass, init_integration, how)

    assert plex.is_running(TASK)
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)
