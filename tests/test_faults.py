"""Faults of the server, in every phase: setup, polling, a button press, the action.

Every fault comes from the simulator over a real socket. For each one the
integration must fail in a bounded, translated, token-free way, log it once
(not as a crash), and recover by itself when the server is back. A refused
token is a fault too: it asks the user for a new one instead.

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

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
import psutil  # type: ignore[import-untyped]
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.plex_butler.const import DOMAIN

from .common import (
    OPTIMIZE,
    button_states,
    entry_state,
    finish_reauth,
    poll,
    press,
    reauth_flows,
    setup_entry,
    start_task,
    state_of,
)
from .conftest import OWNER_TOKEN
from .plex_simulator import PlexSimulator

TASK = "OptimizeDatabase"
INTEGRATION_LOGGER = "custom_components.plex_butler"

# Faults after which the server answers nothing usable, with the translation
# key of the error a caller sees and a phrase of its rendered message.
# "down" is not a simulator switch: the simulator is stopped (refused).
# The short_timeout fixture below makes "hang" give up after 0.3 s.
FAILING = {
    "down": ("connection_refused", "Living Room Plex refused the connection."),
    "hang": ("start_timeout", "Living Room Plex did not answer within 0.3 s"),
    "reset": ("cannot_connect", "Could not reach Living Room Plex"),
    "500": ("unexpected_response", "HTTP status 500"),
    "503": ("unexpected_response", "HTTP status 503"),
    "redirect": ("unexpected_response", "HTTP status 302"),
}
# Bad bodies with status 200: only a GET reads a body.
BAD_BODIES = {
    "html": "Living Room Plex answered unexpectedly",
    "truncated": "Living Room Plex answered unexpectedly",
    "garbage": "Living Room Plex answered unexpectedly",
}
FAILING_READS = {
    **{fault: phrase for fault, (_, phrase) in FAILING.items()},
    **BAD_BODIES,
}
# A fault at setup strikes every request, or ("/butler") only the task list,
# after the identity read worked. A stopped server cannot fail half-way.
SETUP_FAULTS = [
    *((fault, None) for fault in sorted(FAILING_READS)),
    *((fault, "/butler") for fault in sorted(FAILING_READS) if fault != "down"),
]
# The statuses with which Plex refuses a token.
REJECTED = ["401", "403"]


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a hanging server fail a request in 0.3 s instead of 10 s."""
    monkeypatch.setattr("custom_components.plex_butler.helpers.REQUEST_TIMEOUT", 0.3)


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the coordinator's "recovered" line, which is INFO."""
    caplog.set_level(logging.INFO)


async def _break(plex: PlexSimulator, fault: str, path: str | None = None) -> None:
    if fault == "down":
        await plex.stop()
    else:
        plex.fault = fault
        plex.fault_path = path


async def _mend(plex: PlexSimulator, fault: str) -> None:
    if fault == "down":
        await plex.start()
    plex.fault = None
    plex.fault_path = None
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


def _assert_token_free(err: HomeAssistantError) -> None:
    assert OWNER_TOKEN not in str(err)
    assert OWNER_TOKEN not in repr(err)
    assert OWNER_TOKEN not in repr(err.translation_placeholders)
    assert OWNER_TOKEN not in str(err.__cause__)


async def _start(hass: HomeAssistant, entry: MockConfigEntry, how: str) -> None:
    """Start the task by pressing its button or by calling the action."""
    if how == "button":
        await press(hass, OPTIMIZE)
        return
    response = await start_task(hass, {"config_entry_id": entry.entry_id, "task": TASK})
    assert response == {"task": TASK, "result": "started"}


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


# --- setup -------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "path"), SETUP_FAULTS)
async def test_setup_fault_retries_and_recovers(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    *,
    fault: str,
    path: str | None,
) -> None:
    """A broken server at startup means "retry later", and the retry succeeds."""
    await _break(plex, fault, path)

    assert not await setup_entry(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert FAILING_READS[fault] in (mock_config_entry.reason or "")
    assert OWNER_TOKEN not in (mock_config_entry.reason or "")
    assert hass.states.get(OPTIMIZE) is None
    assert not reauth_flows(hass, mock_config_entry)
    assert not [r for r in plex.requests if r.path == "/elsewhere"]
    if path == "/butler":  # the identity read got through first
        assert [r.status for r in plex.requests_to("GET", "/")] == [200]

    await _mend(plex, fault)
    await _retry_setup(hass)

    assert entry_state(mock_config_entry) is ConfigEntryState.LOADED
    assert button_states(hass) == {STATE_UNKNOWN}
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


@pytest.mark.parametrize("status", REJECTED)
async def test_setup_rejected_token_starts_reauth(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    status: str,
) -> None:
    """A refused token at startup is not retried: the user is asked for a new one."""
    plex.fault = status

    assert not await setup_entry(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert mock_config_entry.error_reason_translation_key == "authentication_failed"
    assert len(reauth_flows(hass, mock_config_entry)) == 1
    assert hass.states.get(OPTIMIZE) is None

    plex.fault = None
    await finish_reauth(hass, mock_config_entry, OWNER_TOKEN)

    assert entry_state(mock_config_entry) is ConfigEntryState.LOADED
    assert button_states(hass) == {STATE_UNKNOWN}
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


async def test_xml_answers_work_at_setup_and_in_polls(
    hass: HomeAssistant,
    plex: PlexSimulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A proxy that drops the Accept header makes Plex answer XML: that works."""
    plex.fault = "xml"

    assert await setup_entry(hass, mock_config_entry)
    await poll(hass)

    reads = plex.requests_to("GET", "/butler")
    assert [r.status for r in reads] == [200, 200]
    assert {r.headers["Accept"] for r in reads} == {"application/json"}
    assert button_states(hass) == {STATE_UNKNOWN}
    assert _poll_failures(caplog) == []
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


# --- polling -----------------------------------------------------------------


@pytest.mark.parametrize("fault", sorted(FAILING_READS))
async def test_polling_fault_makes_buttons_unavailable_until_server_is_back(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    """Every button goes unavailable, logged once; then back, logged once."""
    await _break(plex, fault)
    await poll(hass)
    assert button_states(hass) == {STATE_UNAVAILABLE}

    await poll(hass)
    assert button_states(hass) == {STATE_UNAVAILABLE}

    await _mend(plex, fault)
    await poll(hass)
    assert button_states(hass) == {STATE_UNKNOWN}
    await poll(hass)

    failures = _poll_failures(caplog)
    assert len(failures) == 1
    assert FAILING_READS[fault] in failures[0]
    assert len(_poll_recoveries(caplog)) == 1
    assert init_integration.state is ConfigEntryState.LOADED
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)


@pytest.mark.parametrize("status", REJECTED)
async def test_polling_rejected_token_starts_reauth_and_recovers_after_it(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    status: str,
) -> None:
    """A refused token mid-operation: unavailable, reauth offered, polls paused."""
    plex.fault = status
    await poll(hass)

    assert button_states(hass) == {STATE_UNAVAILABLE}
    assert len(reauth_flows(hass, init_integration)) == 1
    polls = len(plex.requests_to("GET", "/butler"))
    await poll(hass)
    assert len(plex.requests_to("GET", "/butler")) == polls  # no hammering

    plex.fault = None
    await finish_reauth(hass, init_integration, OWNER_TOKEN)

    assert init_integration.state is ConfigEntryState.LOADED
    assert button_states(hass) == {STATE_UNKNOWN}
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
    # A pressed button's state is the press time; what matters is availability.
    assert state_of(hass, OPTIMIZE) != STATE_UNAVAILABLE
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
@pytest.mark.parametrize("status", REJECTED)
async def test_start_with_rejected_token_starts_reauth(
    hass: HomeAssistant,
    plex: PlexSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    *,
    status: str,
    how: str,
) -> None:
    """A refused token on a start says so and asks the user for a new token."""
    plex.fault = status
    assert not reauth_flows(hass, init_integration)

    with pytest.raises(HomeAssistantError) as exc_info:
        await _start(hass, init_integration, how)
    await hass.async_block_till_done()

    err = exc_info.value
    assert not isinstance(err, ServiceValidationError)
    assert err.translation_domain == DOMAIN
    assert err.translation_key == "authentication_failed"
    _assert_token_free(err)
    assert len(reauth_flows(hass, init_integration)) == 1

    plex.fault = None
    await _start(hass, init_integration, how)

    assert plex.is_running(TASK)
    _assert_no_crash_logged(caplog)
    await _assert_nothing_left_open(hass, plex)
