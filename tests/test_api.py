"""Unit tests of the Plex client, against the simulator over a real socket.

The client is HA-free; Home Assistant's session is used only because the test
plugin manages it. Faults come from the simulator's switches, never from mocks.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
from aiohttp.client_reqrep import ConnectionKey
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest

from custom_components.plex_butler.api import (
    CLIENT_VERSION,
    PRODUCT,
    ButlerTask,
    PlexAuthenticationError,
    PlexButlerClient,
    PlexConnectionError,
    PlexConnectionRefusedError,
    PlexHostNotFoundError,
    PlexNotFoundError,
    PlexResponseError,
    PlexResponseTooLargeError,
    PlexServer,
    PlexSSLError,
    PlexTimeoutError,
    StartResult,
    connection_error,
    parse_body,
    parse_server,
    parse_tasks,
)

from .conftest import MACHINE_ID, OWNER_TOKEN, SHARED_TOKEN
from .plex_simulator import CURRENT_TASKS, OLD_TASKS, PlexSimulator, SimTask

CLIENT_ID = "test-client-id-42"
# Every test with the simulator runs on an ideal link and on one that trickles.
RUDE_LINKS = True


@pytest.fixture
async def session(hass: HomeAssistant) -> aiohttp.ClientSession:
    """Home Assistant's real aiohttp session (nothing in it is mocked)."""
    return async_get_clientsession(hass)


def _client(
    session: aiohttp.ClientSession,
    url: str,
    token: str = OWNER_TOKEN,
    **kwargs: Any,
) -> PlexButlerClient:
    return PlexButlerClient(session, url, token, client_identifier=CLIENT_ID, **kwargs)


# --- requests ----------------------------------------------------------------


async def test_token_travels_in_header_only(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """The token must never reach a URL, where logs and proxies would keep it."""
    client = _client(session, plex.url)
    await client.async_get_server()
    await client.async_get_tasks()
    await client.async_start_task("OptimizeDatabase")

    assert [(r.method, r.path) for r in plex.requests] == [
        ("GET", "/"),
        ("GET", "/butler"),
        ("POST", "/butler/OptimizeDatabase"),
    ]
    for request in plex.requests:
        assert request.headers["X-Plex-Token"] == OWNER_TOKEN
        assert OWNER_TOKEN not in request.url
        assert request.query_string == ""
        assert request.headers["X-Plex-Client-Identifier"] == CLIENT_ID
    # Reads describe the client for Plex's device list and ask for JSON; a
    # start carries only what identifies and authorises it, as lean as a
    # hand-written rest_command.
    *reads, start = plex.requests
    for request in reads:
        assert "application/json" in request.headers["Accept"]
        assert request.headers["X-Plex-Product"] == PRODUCT
        assert request.headers["X-Plex-Version"] == CLIENT_VERSION
    assert "X-Plex-Product" not in start.headers
    assert "application/json" not in start.headers.get("Accept", "")


async def test_empty_token_sends_no_token_header(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """Discovery reads /identity before any token is known: send none at all."""
    identity = await _client(session, plex.url, token="").async_get_identity()
    assert identity.machine_identifier == MACHINE_ID
    assert "X-Plex-Token" not in plex.requests[0].headers


async def test_trailing_slash_in_base_url(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A base URL ending in "/" must not produce "//butler"."""
    await _client(session, f"{plex.url}/").async_get_tasks()
    assert plex.requests[0].path == "/butler"


async def test_repr_names_server_not_token(session: aiohttp.ClientSession) -> None:
    """A client in a log line or traceback shows where it points, not its token."""
    text = repr(_client(session, "http://127.0.0.1:32400"))
    assert "127.0.0.1:32400" in text
    assert OWNER_TOKEN not in text


async def test_scrub_removes_token_from_error_text(
    session: aiohttp.ClientSession,
) -> None:
    """Should a library echo the token in an error, it is redacted."""
    client = _client(session, "http://127.0.0.1:32400")
    text = client._scrub(OSError(f"header X-Plex-Token: {OWNER_TOKEN} refused"))
    assert OWNER_TOKEN not in text
    assert "**REDACTED**" in text


# --- reading the server ------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "xml"], ids=["json", "xml"])
async def test_get_server_and_identity(
    session: aiohttp.ClientSession, plex: PlexSimulator, fault: str | None
) -> None:
    """JSON and XML answers (a proxy may drop Accept) give the same server."""
    plex.fault = fault
    client = _client(session, plex.url)
    assert await client.async_get_server() == PlexServer(
        machine_identifier=MACHINE_ID,
        friendly_name="Living Room Plex",
        version=plex.version,
        platform="Linux",
    )
    identity = await client.async_get_identity()
    assert identity.machine_identifier == MACHINE_ID
    assert identity.version == plex.version
    assert identity.friendly_name == "Plex Media Server"


@pytest.mark.parametrize("fault", [None, "xml"], ids=["json", "xml"])
@pytest.mark.parametrize(
    "task_set", [OLD_TASKS, CURRENT_TASKS], ids=["old-14", "current-22"]
)
async def test_get_tasks_reads_every_task(
    session: aiohttp.ClientSession,
    plex: PlexSimulator,
    fault: str | None,
    task_set: tuple[SimTask, ...],
) -> None:
    """Whatever the server version, its own list is read in full, in order."""
    plex.fault = fault
    plex.set_tasks(task_set)
    tasks = await _client(session, plex.url).async_get_tasks()
    assert tasks == [
        ButlerTask(
            name=task.name,
            title=task.title,
            description=task.description,
            interval_days=task.interval,
            enabled=task.enabled,
            schedule_randomized=task.schedule_randomized,
        )
        for task in task_set
    ]
    by_name = {task.name: task for task in tasks}
    assert by_name["RefreshLibraries"].enabled is False
    assert by_name["BackupDatabase"].interval_days == 3


@pytest.mark.parametrize("fault", [None, "xml"], ids=["json", "xml"])
async def test_get_tasks_of_server_without_tasks(
    session: aiohttp.ClientSession, plex: PlexSimulator, fault: str | None
) -> None:
    """No tasks means no ButlerTask key (JSON) or no children (XML): an empty list."""
    plex.fault = fault
    plex.set_tasks([])
    assert await _client(session, plex.url).async_get_tasks() == []


# --- starting tasks ----------------------------------------------------------


async def test_start_task_started_then_already_running(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """200 is "started", 202 is "already running"."""
    client = _client(session, plex.url)
    assert await client.async_start_task("OptimizeDatabase") is StartResult.STARTED
    assert plex.requests[-1].status == 200
    assert plex.is_running("OptimizeDatabase")
    assert (
        await client.async_start_task("OptimizeDatabase") is StartResult.ALREADY_RUNNING
    )
    assert plex.requests[-1].status == 202


async def test_start_unknown_task_is_not_found(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A task an older server had but this one lacks answers 404."""
    with pytest.raises(PlexNotFoundError):
        await _client(session, plex.url).async_start_task("GenerateAutoTags")
    assert plex.requests[-1].status == 404


async def test_start_task_name_is_url_quoted(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A name with "/", "?", "#", "%" or spaces reaches the server as one path segment."""
    name = "Odd Task/1?x=2#y%20z"
    plex.set_tasks([SimTask(name, "Odd task")])
    result = await _client(session, plex.url).async_start_task(name)
    assert result is StartResult.STARTED
    assert plex.is_running(name)
    assert plex.requests[-1].query_string == ""


# --- errors ------------------------------------------------------------------


async def test_wrong_token_is_authentication_error(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """401 on any call raises the error that leads to reauthentication."""
    client = _client(session, plex.url, token="wrong-token")
    with pytest.raises(PlexAuthenticationError):
        await client.async_get_server()
    with pytest.raises(PlexAuthenticationError):
        await client.async_get_tasks()
    with pytest.raises(PlexAuthenticationError):
        await client.async_start_task("OptimizeDatabase")


@pytest.mark.parametrize("shared_status", [401, 403])
async def test_shared_token_reads_server_not_butler(
    session: aiohttp.ClientSession, plex: PlexSimulator, shared_status: int
) -> None:
    """A shared user's token may read "/" but the butler refuses it (401 or 403)."""
    plex.shared_status = shared_status
    client = _client(session, plex.url, token=SHARED_TOKEN)
    assert (await client.async_get_server()).machine_identifier == MACHINE_ID
    with pytest.raises(PlexAuthenticationError):
        await client.async_get_tasks()


@pytest.mark.parametrize("fault", ["401", "403"])
async def test_refused_status_is_authentication_error(
    session: aiohttp.ClientSession, plex: PlexSimulator, fault: str
) -> None:
    plex.fault = fault
    client = _client(session, plex.url)
    with pytest.raises(PlexAuthenticationError):
        await client.async_get_tasks()
    with pytest.raises(PlexAuthenticationError):
        await client.async_start_task("OptimizeDatabase")


@pytest.mark.parametrize("fault", ["500", "503"])
async def test_server_error_status_is_response_error(
    session: aiohttp.ClientSession, plex: PlexSimulator, fault: str
) -> None:
    plex.fault = fault
    client = _client(session, plex.url)
    with pytest.raises(PlexResponseError, match=fault):
        await client.async_get_tasks()
    with pytest.raises(PlexResponseError, match=fault):
        await client.async_start_task("OptimizeDatabase")


@pytest.mark.parametrize("fault", ["garbage", "html", "truncated"])
async def test_unreadable_body_is_response_error(
    session: aiohttp.ClientSession, plex: PlexSimulator, fault: str
) -> None:
    """A 200 whose body is not Plex's (a captive portal, a proxy page) is refused."""
    plex.fault = fault
    client = _client(session, plex.url)
    with pytest.raises(PlexResponseError):
        await client.async_get_server()
    with pytest.raises(PlexResponseError):
        await client.async_get_tasks()


async def test_redirect_is_not_followed(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """Following a redirect would hand the token header to its target."""
    plex.fault = "redirect"
    with pytest.raises(PlexResponseError, match="302"):
        await _client(session, plex.url).async_get_tasks()
    assert [r.path for r in plex.requests] == ["/butler"]
    assert plex.requests_to("GET", "/elsewhere") == []


async def test_reset_connection_is_connection_error(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    plex.fault = "reset"
    with pytest.raises(PlexConnectionError) as err:
        await _client(session, plex.url).async_get_tasks()
    assert not isinstance(err.value, PlexTimeoutError)
    assert OWNER_TOKEN not in str(err.value)


@pytest.mark.parametrize("token", [OWNER_TOKEN, ""], ids=["token", "no-token"])
async def test_refused_port_is_connection_error(
    session: aiohttp.ClientSession, plex: PlexSimulator, token: str
) -> None:
    """Nothing listening is "refused", in a text that names no token."""
    await plex.stop()
    with pytest.raises(PlexConnectionRefusedError) as err:
        await _client(session, plex.url, token=token).async_get_identity()
    assert str(err.value) == "The connection was refused"
    assert OWNER_TOKEN not in str(err.value)


async def test_hanging_server_is_timeout_error(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A server that accepts but never answers ends in a timeout, not a hang."""
    plex.fault = "hang"
    with pytest.raises(PlexTimeoutError):
        await _client(session, plex.url, timeout=0.2).async_get_tasks()


async def test_queue_behind_a_stuck_server_is_bounded_too(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A call waiting for a free slot gives up after the timeout, sending nothing.

    The slots are taken by hand here, as requests to a server that stopped
    answering would hold them.
    """
    client = _client(session, plex.url, timeout=0.2, max_concurrent_requests=2)
    for _ in range(2):
        await client._slots.acquire()
    with pytest.raises(PlexTimeoutError, match="earlier requests"):
        await client.async_start_task("OptimizeDatabase")
    assert plex.requests == []
    client._slots.release()
    assert await client.async_start_task("OptimizeDatabase") is StartResult.STARTED


async def test_trickled_reply_is_read_whole(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A 4 KB task list in 200-byte pieces, 3 ms apart, is read to its end."""
    plex.trickle = True
    tasks = await _client(session, plex.url).async_get_tasks()
    assert [task.name for task in tasks] == [task.name for task in CURRENT_TASKS]
    answer = plex.requests_to("GET", "/butler")[-1]
    assert answer.status == 200


@pytest.mark.parametrize("fault", ["huge", "huge_chunked"])
async def test_reply_over_the_cap_is_too_large(
    session: aiohttp.ClientSession, plex: PlexSimulator, fault: str
) -> None:
    """A body over 2 MiB is refused as too large, declared or not."""
    plex.fault = fault
    with pytest.raises(PlexResponseTooLargeError) as err:
        await _client(session, plex.url).async_get_tasks()
    assert "too large" in str(err.value)


async def test_closed_keep_alive_connection_is_retried_once(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A restart closes pooled connections; the next start still gets through."""
    client = _client(session, plex.url)
    await client.async_get_tasks()
    await plex.stop()
    await plex.start(port=None)
    assert await client.async_start_task("OptimizeDatabase") is StartResult.STARTED
    assert len(plex.requests_to("POST", "/butler/OptimizeDatabase")) == 1


async def test_tls_alert_is_a_tls_error(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """A server that answers the handshake with an alert: TLS failed, no more."""

    async def alert(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(bytes.fromhex("15030100020228"))  # fatal handshake_failure
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(alert, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(PlexSSLError) as err:
            await _client(session, f"https://127.0.0.1:{port}").async_get_server()
    finally:
        server.close()
        await server.wait_closed()
    assert type(err.value) is PlexSSLError
    assert str(err.value).startswith("The TLS handshake failed")


@pytest.mark.parametrize(
    ("os_error", "expected"),
    [
        (socket.gaierror(-2, "Name or service not known"), PlexHostNotFoundError),
        (OSError(113, "No route to host"), PlexConnectionError),
    ],
)
def test_connect_failures_are_named(os_error: OSError, expected: type) -> None:
    """Causes the loopback cannot show: a name DNS lacks, an unreachable host."""
    key = ConnectionKey("plex.invalid", 32400, False, True, None, None, None)
    err = (
        aiohttp.ClientConnectorDNSError(key, os_error)
        if isinstance(os_error, socket.gaierror)
        else aiohttp.ClientConnectorError(key, os_error)
    )
    assert type(connection_error(err)) is expected


async def test_https_to_plain_http_is_ssl_error(
    session: aiohttp.ClientSession, plex: PlexSimulator
) -> None:
    """A failed TLS handshake is told apart from other connection errors."""
    url = plex.url.replace("http://", "https://")
    with pytest.raises(PlexSSLError) as err:
        await _client(session, url).async_get_server()
    assert isinstance(err.value.__cause__, aiohttp.ClientSSLError)
    assert isinstance(err.value, PlexConnectionError)


# --- parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/json"),
        (b"  \n ", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (b"{not json", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b"<MediaContainer>", "text/xml"),
        (b"<a>" * 100_000 + b"</a>" * 100_000, "text/xml"),
        (b"plain words", "text/xml"),
    ],
    ids=[
        "empty",
        "blank",
        "json-list",
        "json-string",
        "bad-json",
        "deep-json",
        "bad-xml",
        "deep-xml",
        "text-as-xml",
    ],
)
def test_parse_body_refuses(body: bytes, content_type: str) -> None:
    """Anything that is not a JSON object or readable XML is a response error."""
    with pytest.raises(PlexResponseError):
        parse_body(body, content_type)


def test_parse_body_reads_json_and_xml() -> None:
    """XML is recognised by its content type or its first character."""
    assert parse_body(b' {"a": {"b": 1}} ', "text/plain") == {"a": {"b": 1}}
    expected = {"ButlerTasks": {"ButlerTask": [{"name": "X", "enabled": "1"}]}}
    xml = b'<ButlerTasks><ButlerTask name="X" enabled="1"/></ButlerTasks>'
    assert parse_body(xml, "text/xml;charset=utf-8") == expected
    assert parse_body(xml, "") == expected


def test_parse_tasks_single_object_and_missing_key() -> None:
    """Plex sends a one-item list as a lone object, and no items as no key."""
    single = {"ButlerTasks": {"ButlerTask": {"name": "OptimizeDatabase"}}}
    assert parse_tasks(single) == [
        ButlerTask(name="OptimizeDatabase", title="OptimizeDatabase")
    ]
    assert parse_tasks({"ButlerTasks": {}}) == []
    assert parse_tasks({"MediaContainer": {"ButlerTask": [{"name": "A"}]}}) == [
        ButlerTask(name="A", title="A")
    ]


@pytest.mark.parametrize(
    "data",
    [{}, {"ButlerTasks": []}, {"ButlerTasks": "x"}, {"MediaContainer": None}],
)
def test_parse_tasks_without_container(data: dict[str, Any]) -> None:
    with pytest.raises(PlexResponseError):
        parse_tasks(data)


def test_parse_tasks_skips_unusable_entries() -> None:
    """Entries without a name, non-objects and repeats are dropped, not fatal."""
    data = {
        "ButlerTasks": {
            "ButlerTask": [
                "not an object",
                {"title": "No name"},
                {"name": "  ", "title": "Blank name"},
                {"name": " BackupDatabase ", "title": "First"},
                {"name": "BackupDatabase", "title": "Second"},
            ]
        }
    }
    assert parse_tasks(data) == [ButlerTask(name="BackupDatabase", title="First")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"interval": 3}, {"interval_days": 3}),
        ({"interval": " 3 "}, {"interval_days": 3}),
        ({"interval": "weekly"}, {"interval_days": None}),
        ({"interval": True}, {"interval_days": None}),
        ({"interval": 1.5}, {"interval_days": None}),
        (
            {"enabled": "1", "scheduleRandomized": "0"},
            {"enabled": True, "schedule_randomized": False},
        ),
        (
            {"enabled": "true", "scheduleRandomized": "FALSE"},
            {"enabled": True, "schedule_randomized": False},
        ),
        (
            {"enabled": 0, "scheduleRandomized": 1},
            {"enabled": False, "schedule_randomized": True},
        ),
        ({"enabled": False}, {"enabled": False}),
        (
            {"enabled": "maybe", "scheduleRandomized": None},
            {"enabled": None, "schedule_randomized": None},
        ),
        ({"enabled": [1]}, {"enabled": None}),
        ({"title": ""}, {"title": "Task"}),
        ({"title": 7}, {"title": "7"}),
        ({"title": 7.5}, {"title": "7.5"}),
        ({"title": True}, {"title": "Task"}),
        ({"description": "  Does things  "}, {"description": "Does things"}),
    ],
)
def test_parse_tasks_field_forms(raw: dict[str, Any], expected: dict[str, Any]) -> None:
    """JSON and XML spell numbers and booleans differently; both are read."""
    (task,) = parse_tasks({"ButlerTasks": {"ButlerTask": [{"name": "Task", **raw}]}})
    defaults: dict[str, Any] = {
        "name": "Task",
        "title": "Task",
        "description": None,
        "interval_days": None,
        "enabled": None,
        "schedule_randomized": None,
    }
    assert task == ButlerTask(**(defaults | expected))


def test_parse_server_defaults_and_forms() -> None:
    """A missing name falls back to a generic one; numbers become strings."""
    assert parse_server(
        {"MediaContainer": {"machineIdentifier": 12345, "version": " 1.2 "}}
    ) == PlexServer(
        machine_identifier="12345",
        friendly_name="Plex Media Server",
        version="1.2",
        platform=None,
    )


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"MediaContainer": []},
        {"MediaContainer": {"friendlyName": "No id"}},
        {"MediaContainer": {"machineIdentifier": "  "}},
        {"MediaContainer": {"machineIdentifier": None}},
    ],
)
def test_parse_server_needs_machine_identifier(data: dict[str, Any]) -> None:
    """Without a machine identifier it cannot be told apart: not a usable server."""
    with pytest.raises(PlexResponseError):
        parse_server(data)


def test_parse_tasks_skips_names_that_are_not_valid_unicode() -> None:
    """A lone surrogate would break HA's storage of unique ids: skip such a task."""
    body = b'{"ButlerTasks": {"ButlerTask": [{"name": "Bad\\ud800"}, {"name": "Good", "title": "T\\udfff"}]}}'
    tasks = parse_tasks(parse_body(body, "application/json"))
    assert [(task.name, task.title) for task in tasks] == [("Good", "Good")]
