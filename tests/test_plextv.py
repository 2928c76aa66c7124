"""Unit tests of the plex.tv client and the connection picker, over real sockets.

plex.tv is ``PlexTvSimulator`` on 127.0.0.1, reached through the
``PLEX_BUTLER_PLEX_TV`` override; servers are ``PlexSimulator`` instances,
some over TLS as ``127-0-0-1.<hash>.plex.direct``. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest

from custom_components.plex_butler import plextv
from custom_components.plex_butler.plextv import (
    PLEX_TV_ENV,
    Connection,
    NoConnectionError,
    Pin,
    PinExpiredError,
    PlexResource,
    PlexTvAuthError,
    PlexTvClient,
    PlexTvConnectionError,
    PlexTvResponseError,
    PlexTvUrls,
    PlexTvUser,
    async_pick_connection,
    owned_servers,
    parse_connection,
    parse_pin,
    parse_resources,
    plex_direct_ip,
    plex_direct_target,
    plex_tv_urls,
)

from .plex_direct_tls import PlexDirectTls, make_plex_direct_tls
from .plex_simulator import PlexSimulator
from .plextv_simulator import (
    HangingServer,
    PlexTvSimulator,
    SimConnection,
    SimResource,
    connection_to,
    plex_direct_connection,
)

CLIENT_ID = "test-client-id-42"
PRODUCT = "Plex Butler (test)"
USER_TOKEN = "user-token-5d1e9b"
MACHINE_ID = "0123456789abcdef0123456789abcdef01234567"

StartServer = Callable[..., Awaitable[PlexSimulator]]


@pytest.fixture(scope="session")
def tls() -> PlexDirectTls:
    """A CA and a ``*.<hash>.plex.direct`` certificate, made once."""
    return make_plex_direct_tls()


@pytest.fixture
async def plextv_sim(socket_enabled: None) -> AsyncGenerator[PlexTvSimulator]:
    """Simulated plex.tv whose PINs live 2 s."""
    simulator = PlexTvSimulator(user_token=USER_TOKEN, pin_expires_in=2.0)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def session(hass: HomeAssistant) -> aiohttp.ClientSession:
    """Home Assistant's real aiohttp session."""
    return async_get_clientsession(hass)


@pytest.fixture
def client(session: aiohttp.ClientSession, plextv_sim: PlexTvSimulator) -> PlexTvClient:
    """A plex.tv client pointed at the simulator through the env override."""
    urls = plex_tv_urls({PLEX_TV_ENV: plextv_sim.url})
    return PlexTvClient(
        session, product=PRODUCT, client_identifier=CLIENT_ID, urls=urls
    )


@pytest.fixture
async def tls_session(tls: PlexDirectTls) -> AsyncGenerator[aiohttp.ClientSession]:
    """A session that trusts the test CA only, as HA's trusts the public CAs."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=tls.client_context)
    ) as own_session:
        yield own_session


@pytest.fixture
async def start_server(socket_enabled: None) -> AsyncGenerator[StartServer]:
    """Start simulated servers (all one machine by default); stop them after."""
    async with AsyncExitStack() as stack:

        async def start(ssl_context: Any = None, **kwargs: Any) -> PlexSimulator:
            server = PlexSimulator(**{"machine_identifier": MACHINE_ID, **kwargs})
            await server.start(ssl_context=ssl_context)
            stack.push_async_callback(server.stop)
            return server

        yield start


@pytest.fixture
async def hanging(socket_enabled: None) -> AsyncGenerator[HangingServer]:
    """A port that accepts connections and never answers."""
    server = HangingServer()
    await server.start()
    yield server
    await server.stop()


def _fragment(url: str) -> dict[str, str]:
    """The parameters app.plex.tv reads from the auth URL's fragment."""
    fragment = urlsplit(url).fragment
    assert fragment.startswith("?")
    return {key: values[0] for key, values in parse_qs(fragment[1:]).items()}


async def _visit(
    session: aiohttp.ClientSession, auth_url: str
) -> aiohttp.ClientResponse:
    """Open the auth page as a browser whose script moved the fragment to the query."""
    base, _, fragment = auth_url.partition("#?")
    async with session.get(f"{base}?{fragment}", allow_redirects=False) as response:
        await response.read()
        return response


def _resource(*connections: SimConnection | Connection) -> PlexResource:
    """The server MACHINE_ID reachable through these connections."""
    parsed = [
        c if isinstance(c, Connection) else parse_connection(c.as_json())
        for c in connections
    ]
    return PlexResource(
        name="Living Room Plex",
        client_identifier=MACHINE_ID,
        access_token="server-token",
        product_version=None,
        owned=True,
        provides=("server",),
        connections=tuple(c for c in parsed if c is not None),
    )


# --- where plex.tv is -------------------------------------------------------------


def test_plex_tv_urls_default_to_plex(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the override the sign-in talks to Plex's real hosts."""
    monkeypatch.delenv(PLEX_TV_ENV, raising=False)
    assert plex_tv_urls() == PlexTvUrls(
        "https://plex.tv", "https://clients.plex.tv", "https://app.plex.tv"
    )
    assert plex_tv_urls({PLEX_TV_ENV: "  "}) == PlexTvUrls()


def test_plex_tv_urls_override_is_read_at_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """One base stands for all three hosts, read when a sign-in starts."""
    monkeypatch.setenv(PLEX_TV_ENV, "http://127.0.0.1:8765/plextv/")
    base = "http://127.0.0.1:8765/plextv"
    assert plex_tv_urls() == PlexTvUrls(base, base, base)


@pytest.mark.parametrize("value", ["127.0.0.1:8765", "ftp://127.0.0.1", "http://"])
def test_plex_tv_urls_rejects_a_bad_override(value: str) -> None:
    """A typo in the override fails loudly instead of signing in at Plex."""
    with pytest.raises(ValueError, match=PLEX_TV_ENV):
        plex_tv_urls({PLEX_TV_ENV: value})


# --- PINs -------------------------------------------------------------------------


async def test_create_pin(client: PlexTvClient, plextv_sim: PlexTvSimulator) -> None:
    """A strong PIN is asked for with the product and this installation's id."""
    loop = asyncio.get_running_loop()
    before = loop.time()
    pin = await client.async_create_pin()

    assert pin.id in plextv_sim.pins
    assert pin.code == plextv_sim.pins[pin.id].code
    assert len(pin.code) > 4  # strong=true
    assert pin.expires_in == pytest.approx(2.0, abs=0.1)
    assert before + 1.9 <= pin.expires_at <= loop.time() + 2.0
    (request,) = plextv_sim.requests_to("POST", "/api/v2/pins")
    assert request.query_string == "strong=true"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["X-Plex-Product"] == PRODUCT
    assert request.headers["X-Plex-Client-Identifier"] == CLIENT_ID
    assert "X-Plex-Token" not in request.headers


async def test_auth_url(client: PlexTvClient, plextv_sim: PlexTvSimulator) -> None:
    """The auth page gets client id, code and product in its fragment."""
    pin = Pin(id=1, code="abc123", expires_in=900, expires_at=0)
    url = client.auth_url(
        pin, "https://ha.example/auth/external/callback?flow_id=1&x=y"
    )

    assert url.startswith(f"{plextv_sim.url}/auth#?clientID=")
    assert "context%5Bdevice%5D%5Bproduct%5D=Plex%20Butler%20%28test%29" in url
    assert _fragment(url) == {
        "clientID": CLIENT_ID,
        "code": "abc123",
        "context[device][product]": PRODUCT,
        "forwardUrl": "https://ha.example/auth/external/callback?flow_id=1&x=y",
    }
    assert "forwardUrl" not in _fragment(client.auth_url(pin))


async def test_user_signs_in_on_the_auth_page(
    client: PlexTvClient, session: aiohttp.ClientSession, plextv_sim: PlexTvSimulator
) -> None:
    """Before sign-in the PIN has no token; after the visit it has the user's."""
    pin = await client.async_create_pin()
    assert await client.async_check_pin(pin) is None

    async with session.get(f"{plextv_sim.url}/auth") as page:
        assert "location.hash" in await page.text()  # the fragment-reading script
    response = await _visit(session, client.auth_url(pin, "http://127.0.0.1:1/cb"))
    assert response.status == 302
    assert response.headers["Location"] == "http://127.0.0.1:1/cb"

    assert await client.async_check_pin(pin) == USER_TOKEN
    for request in plextv_sim.requests_to("GET", f"/api/v2/pins/{pin.id}"):
        assert request.headers["X-Plex-Client-Identifier"] == CLIENT_ID


async def test_user_who_does_not_sign_in(
    client: PlexTvClient, session: aiohttp.ClientSession, plextv_sim: PlexTvSimulator
) -> None:
    """Visiting the page without signing in leaves the PIN without a token."""
    plextv_sim.signed_in = False
    pin = await client.async_create_pin()
    assert (await _visit(session, client.auth_url(pin))).status == 200
    assert await client.async_check_pin(pin) is None


async def test_wait_for_token_returns_once_signed_in(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """Polling stops at the first poll after the user signed in."""
    pin = await client.async_create_pin()
    asyncio.get_running_loop().call_later(0.25, plextv_sim.authorize, pin.code)

    token = await client.async_wait_for_token(pin, interval=0.1)

    assert token == USER_TOKEN
    assert 3 <= len(plextv_sim.requests_to("GET", f"/api/v2/pins/{pin.id}")) <= 6


async def test_wait_for_token_ends_when_the_pin_expires(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A user who never signs in ends the wait at the PIN's expiry, not later."""
    plextv_sim.pin_expires_in = 0.4
    pin = await client.async_create_pin()
    start = time.monotonic()

    with pytest.raises(PinExpiredError, match="expired"):
        await client.async_wait_for_token(pin, interval=0.1)

    assert 0.3 <= time.monotonic() - start < 1.0


async def test_wait_is_bounded_by_our_own_clock(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """Should plex.tv keep a PIN past the lifetime it gave, the wait ends anyway."""
    created = await client.async_create_pin()  # plex.tv keeps it 2 s
    loop = asyncio.get_running_loop()
    pin = replace(created, expires_in=0.3, expires_at=loop.time() + 0.3)
    start = loop.time()

    with pytest.raises(PinExpiredError):
        await client.async_wait_for_token(pin, interval=0.1)

    assert 0.3 <= loop.time() - start < 0.6
    assert plextv_sim.authorize(pin.code)  # plex.tv still had it


async def test_check_pin_after_expiry(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """plex.tv forgets an expired PIN (404): that is PinExpiredError."""
    plextv_sim.pin_expires_in = 0.1
    pin = await client.async_create_pin()
    await asyncio.sleep(0.15)
    with pytest.raises(PinExpiredError):
        await client.async_check_pin(pin)
    assert not plextv_sim.authorize(pin.code)


async def test_wait_stops_at_a_pin_plex_tv_forgot(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A 404 while waiting ends the wait at once, whatever our own clock says."""
    pin = await client.async_create_pin()
    plextv_sim.pins.clear()
    with pytest.raises(PinExpiredError):
        await client.async_wait_for_token(pin, interval=0.05)


async def test_wait_rides_out_a_few_failed_polls(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A hiccup of plex.tv does not end a sign-in in progress."""
    pin = await client.async_create_pin()
    plextv_sim.fault = "503"
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, setattr, plextv_sim, "fault", None)
    loop.call_later(0.2, plextv_sim.authorize, pin.code)

    assert await client.async_wait_for_token(pin, interval=0.1) == USER_TOKEN


async def test_wait_gives_up_when_plex_tv_goes_away(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """Once plex.tv stays unreachable the wait raises instead of spinning on."""
    pin = await client.async_create_pin()
    await plextv_sim.stop()
    with pytest.raises(PlexTvConnectionError):
        await client.async_wait_for_token(pin, interval=0.02)


async def test_plex_tv_unreachable(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A stopped plex.tv is a connection error with a token-free text."""
    await plextv_sim.stop()
    with pytest.raises(PlexTvConnectionError, match="POST /api/v2/pins"):
        await client.async_create_pin()
    with pytest.raises(PlexTvConnectionError) as err:
        await client.async_get_resources(USER_TOKEN)
    assert USER_TOKEN not in str(err.value)


async def test_plex_tv_does_not_answer(
    session: aiohttp.ClientSession, hanging: HangingServer
) -> None:
    """A plex.tv that accepts and stays silent fails at the client's timeout."""
    urls = plex_tv_urls({PLEX_TV_ENV: hanging.url})
    client = PlexTvClient(
        session, product=PRODUCT, client_identifier=CLIENT_ID, urls=urls, timeout=0.2
    )
    with pytest.raises(PlexTvConnectionError, match="no answer in time"):
        await client.async_create_pin()


@pytest.mark.parametrize(
    ("fault", "error", "phrase"),
    [
        ("500", PlexTvResponseError, "HTTP status 500"),
        ("302", PlexTvResponseError, "HTTP status 302"),
        ("garbage", PlexTvResponseError, "not JSON"),
        ("403", PlexTvAuthError, "refused"),
    ],
)
async def test_plex_tv_faults(
    client: PlexTvClient,
    plextv_sim: PlexTvSimulator,
    fault: str,
    error: type[Exception],
    phrase: str,
) -> None:
    """Each unusable answer maps to one typed error; redirects are not followed."""
    plextv_sim.fault = fault
    with pytest.raises(error, match=phrase):
        await client.async_get_resources(USER_TOKEN)


async def test_oversized_answer_is_refused(
    client: PlexTvClient, plextv_sim: PlexTvSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body far beyond any plex.tv answer is not read into memory whole."""
    monkeypatch.setattr(plextv, "_MAX_BODY", 1000)
    plextv_sim.resources_json = [{"name": "x" * 2000}]
    with pytest.raises(PlexTvResponseError, match="too large"):
        await client.async_get_resources(USER_TOKEN)


@pytest.mark.parametrize(
    "data",
    [[], {"id": 1}, {"code": "abc"}, {"id": "x", "code": "abc"}],
    ids=["list", "no-code", "no-id", "bad-id"],
)
def test_parse_pin_rejects_a_bad_pin(data: Any) -> None:
    """A PIN without a usable id and code cannot be polled."""
    with pytest.raises(PlexTvResponseError):
        parse_pin(data, 0.0)


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [
        (1800, 1800.0),
        ("600", 600.0),
        (2.5, 2.5),
        (None, 900.0),
        (0, 900.0),
        (True, 900.0),
        (float("inf"), 900.0),
    ],
)
def test_parse_pin_lifetime(expires_in: Any, seconds: float) -> None:
    """The lifetime comes from plex.tv; an unusable one falls back to 15 minutes."""
    pin = parse_pin({"id": "7", "code": "abc", "expiresIn": expires_in}, 100.0)
    assert pin == Pin(id=7, code="abc", expires_in=seconds, expires_at=100.0 + seconds)


async def test_check_pin_rejects_a_bad_answer(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A poll answered with something other than a PIN object is an error."""
    pin = await client.async_create_pin()
    plextv_sim.fault, plextv_sim.fault_path = "array", "/api/v2/pins/"
    with pytest.raises(PlexTvResponseError, match="unexpected shape"):
        await client.async_check_pin(pin)


# --- the user -------------------------------------------------------------------


async def test_validate_user(client: PlexTvClient, plextv_sim: PlexTvSimulator) -> None:
    """A valid token names its account; the token travels in the header only."""
    assert await client.async_validate_user(USER_TOKEN) == PlexTvUser(
        uuid="0f1e2d3c4b5a6978", username="owner"
    )
    (request,) = plextv_sim.requests_to("GET", "/api/v2/user")
    assert request.headers["X-Plex-Token"] == USER_TOKEN
    assert USER_TOKEN not in request.url


async def test_validate_user_refused(client: PlexTvClient) -> None:
    """401 is PlexTvAuthError, and its text holds no token."""
    with pytest.raises(PlexTvAuthError) as err:
        await client.async_validate_user("wrong-token")
    assert "wrong-token" not in str(err.value)


async def test_validate_user_bad_answer(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A user answer that is not an object is a response error."""
    plextv_sim.fault = "array"
    with pytest.raises(PlexTvResponseError, match="unexpected shape"):
        await client.async_validate_user(USER_TOKEN)


def test_client_repr_names_plex_tv(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A client in a log line says where it points."""
    assert plextv_sim.url in repr(client)


# --- resources ------------------------------------------------------------------


async def test_get_resources(
    client: PlexTvClient, plextv_sim: PlexTvSimulator, start_server: StartServer
) -> None:
    """Servers are read with their connections; owned_servers keeps the user's own."""
    own = await start_server(friendly_name="Own", token="own-token")
    shared = await start_server(
        friendly_name="Friend's",
        machine_identifier="f" * 40,
        shared_token="shared-token",
    )
    plextv_sim.resources = [
        SimResource.for_server(
            own, [connection_to(own), connection_to(own, relay=True)]
        ),
        SimResource.for_server(shared, owned=False),
    ]

    resources = await client.async_get_resources(USER_TOKEN)

    assert [r.name for r in resources] == ["Own", "Friend's"]
    first = resources[0]
    assert first.client_identifier == MACHINE_ID
    assert first.access_token == "own-token"
    assert first.owned is True
    assert first.product_version == own.version
    assert first.provides == ("server",)
    assert first.connections[0] == Connection(
        protocol="http",
        address="127.0.0.1",
        port=own.port,
        uri=own.url,
        local=True,
        relay=False,
        ipv6=False,
    )
    assert first.connections[1].relay is True
    assert resources[1].access_token == "shared-token"
    assert owned_servers(resources) == [first]
    (request,) = plextv_sim.requests_to("GET", "/api/v2/resources")
    assert parse_qs(request.query_string) == {
        "includeHttps": ["1"],
        "includeRelay": ["1"],
        "includeIPv6": ["1"],
    }
    assert request.headers["X-Plex-Token"] == USER_TOKEN
    assert "own-token" not in repr(first)


async def test_get_resources_refused(
    session: aiohttp.ClientSession, client: PlexTvClient
) -> None:
    """A token plex.tv does not know is PlexTvAuthError."""
    with pytest.raises(PlexTvAuthError):
        await client.async_get_resources("stale-token")


async def test_get_resources_lone_object(
    client: PlexTvClient, plextv_sim: PlexTvSimulator
) -> None:
    """A lone object instead of a list is a list of one."""
    plextv_sim.resources_json = {"clientIdentifier": "abc", "provides": "server"}
    (resource,) = await client.async_get_resources(USER_TOKEN)
    assert resource == PlexResource(
        name="Plex Media Server",
        client_identifier="abc",
        access_token=None,
        product_version=None,
        owned=False,
        provides=("server",),
        connections=(),
    )


def test_parse_resources_keeps_servers_once() -> None:
    """Players, items without an id, non-objects and repeats are left out."""
    data = [
        {"clientIdentifier": "player", "provides": "client,player"},
        {"clientIdentifier": "nothing"},
        {"provides": "server", "name": "no id"},
        "junk",
        {"clientIdentifier": "both", "provides": "client, server", "name": "First"},
        {"clientIdentifier": "both", "provides": "server", "name": "Repeat"},
    ]
    assert [(r.client_identifier, r.name) for r in parse_resources(data)] == [
        ("both", "First")
    ]


@pytest.mark.parametrize("data", ["text", 3, None])
def test_parse_resources_rejects_other_shapes(data: Any) -> None:
    """Neither a list nor an object is not a resources answer."""
    with pytest.raises(PlexTvResponseError):
        parse_resources(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"protocol": "https", "address": "10.0.0.5", "port": 32400},
            Connection(
                "https",
                "10.0.0.5",
                32400,
                "https://10.0.0.5:32400",
                False,
                False,
                False,
            ),
        ),
        (
            {"uri": "https://1-2-3-4.h.plex.direct:8443", "relay": 1, "IPv6": "0"},
            Connection(
                "https",
                "1-2-3-4.h.plex.direct",
                8443,
                "https://1-2-3-4.h.plex.direct:8443",
                False,
                True,
                False,
            ),
        ),
        (
            {"address": "fd00::1", "port": "32400", "local": True, "IPv6": True},
            Connection(
                "http", "fd00::1", 32400, "http://[fd00::1]:32400", True, False, True
            ),
        ),
        (
            {"uri": "http://10.0.0.5"},
            Connection("http", "10.0.0.5", 80, "http://10.0.0.5", False, False, False),
        ),
        ({"address": "10.0.0.5"}, None),
        ({"uri": "ftp://10.0.0.5:21"}, None),
        ({"uri": "http://[bad"}, None),
        ({"uri": "/relative"}, None),
        ({"protocol": "http", "address": "a b", "port": 1}, None),
        ("junk", None),
    ],
    ids=[
        "from-parts",
        "plex-direct-relay",
        "ipv6",
        "default-port",
        "no-port",
        "not-http",
        "bad-uri",
        "no-host",
        "bad-address",
        "not-object",
    ],
)
def test_parse_connection(data: Any, expected: Connection | None) -> None:
    """A connection needs somewhere to connect to; flags default to false."""
    assert parse_connection(data) == expected


# --- plex.direct -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("127-0-0-1.abcdef.plex.direct", "127.0.0.1"),
        ("192-168-1-5.ABCDEF.Plex.Direct.", "192.168.1.5"),
        ("fd00--1.abcdef.plex.direct", "fd00::1"),
        ("2a02-1-2-3-4-5-6-7.abcdef.plex.direct", "2a02:1:2:3:4:5:6:7"),
        ("127-0-0-1.plex.direct", None),
        ("a.127-0-0-1.abcdef.plex.direct", None),
        ("nas.abcdef.plex.direct", None),
        ("127-0-0-1.abcdef.plex.example", None),
        ("127.0.0.1", None),
        ("", None),
    ],
)
def test_plex_direct_ip(host: str, ip: str | None) -> None:
    """Only an ``<ip>.<hash>.plex.direct`` name spells an address."""
    assert plex_direct_ip(host) == ip


def test_plex_direct_target() -> None:
    """plex.direct URLs connect to the IP and verify the name; others stay."""
    assert plex_direct_target("https://10-0-0-5.abc.plex.direct:32400/x") == (
        "https://10.0.0.5:32400/x",
        "10-0-0-5.abc.plex.direct",
    )
    assert plex_direct_target("https://fd00--1.abc.plex.direct:32400") == (
        "https://[fd00::1]:32400",
        "fd00--1.abc.plex.direct",
    )
    assert plex_direct_target("http://nas.local:32400") == (
        "http://nas.local:32400",
        None,
    )


# --- the connection picker ----------------------------------------------------------


CLASSES = ("local_https", "local_http", "remote_https", "remote_http", "relay")


async def _one_of_each(
    start_server: StartServer, tls: PlexDirectTls, answering: set[str]
) -> tuple[PlexResource, dict[str, PlexSimulator]]:
    """The server reachable five ways, one per class; only ``answering`` answer.

    All start before any stops, so no stopped port is handed out again.
    """
    servers: dict[str, PlexSimulator] = {}
    connections: list[SimConnection] = []
    for kind in reversed(CLASSES):  # worst first: the order must not matter
        https = kind.endswith("https")
        server = await start_server(tls.server_context if https else None)
        servers[kind] = server
        local, relay = kind.startswith("local"), kind == "relay"
        connections.append(
            plex_direct_connection(server, tls.hash, local=local, relay=relay)
            if https
            else connection_to(server, local=local, relay=relay)
        )
    for kind, server in servers.items():
        if kind not in answering:
            await server.stop()
    return _resource(*connections), servers


@pytest.mark.parametrize(
    ("answering", "chosen"),
    [
        (set(CLASSES), "local_https"),
        ({"local_http", "remote_https", "remote_http", "relay"}, "local_http"),
        ({"remote_https", "remote_http", "relay"}, "remote_https"),
        ({"remote_http", "relay"}, "remote_http"),
        ({"relay"}, "relay"),
    ],
)
async def test_picker_prefers_local_then_https_relay_last(
    tls_session: aiohttp.ClientSession,
    start_server: StartServer,
    tls: PlexDirectTls,
    answering: set[str],
    chosen: str,
) -> None:
    """Among the connections that answer, the best class wins."""
    resource, servers = await _one_of_each(start_server, tls, answering)

    picked = await async_pick_connection(
        tls_session, resource, client_identifier=CLIENT_ID, timeout=2.0
    )

    assert picked.connection.uri.endswith(f":{servers[chosen].port}")
    assert picked.relay_only is (chosen == "relay")


async def test_picker_speaks_tls_to_the_plex_direct_name(
    tls_session: aiohttp.ClientSession, start_server: StartServer, tls: PlexDirectTls
) -> None:
    """The IP is dialled, the certificate checked for the name, no token sent."""
    server = await start_server(tls.server_context)
    resource = _resource(plex_direct_connection(server, tls.hash))

    picked = await async_pick_connection(
        tls_session, resource, client_identifier=CLIENT_ID
    )

    assert picked.connection.uri == f"https://{tls.hostname()}:{server.port}"
    (request,) = server.requests
    assert request.path == "/identity"
    assert request.headers["Host"] == f"{tls.hostname()}:{server.port}"
    assert request.headers["X-Plex-Client-Identifier"] == CLIENT_ID
    assert "X-Plex-Token" not in request.headers


@pytest.mark.usefixtures("quiet_tls_server")
@pytest.mark.parametrize("flaw", ["wrong-name", "unknown-ca"])
async def test_picker_refuses_a_certificate_it_cannot_verify(
    session: aiohttp.ClientSession,
    tls_session: aiohttp.ClientSession,
    start_server: StartServer,
    tls: PlexDirectTls,
    flaw: str,
) -> None:
    """A certificate for another name, or from an unknown CA, does not count."""
    server = await start_server(tls.server_context)
    plex_hash = "someone-else" if flaw == "wrong-name" else tls.hash
    resource = _resource(plex_direct_connection(server, plex_hash))
    # HA's session trusts the public CAs only, not the test CA.
    trusting = tls_session if flaw == "wrong-name" else session

    with pytest.raises(NoConnectionError, match="no connection answered"):
        await async_pick_connection(trusting, resource, client_identifier=CLIENT_ID)
    assert server.requests == []


async def test_picker_ignores_another_server(
    tls_session: aiohttp.ClientSession, start_server: StartServer
) -> None:
    """A stale address now answered by a different server is not a connection."""
    other = await start_server(machine_identifier="e" * 40)
    right = await start_server()
    resource = _resource(connection_to(other), connection_to(right, local=False))

    picked = await async_pick_connection(
        tls_session, resource, client_identifier=CLIENT_ID
    )

    assert picked.connection.uri == right.url


async def test_picker_every_connection_fails(
    tls_session: aiohttp.ClientSession, start_server: StartServer
) -> None:
    """Refused everywhere: NoConnectionError at once, not at the timeout."""
    down = [await start_server() for _ in range(3)]
    resource = _resource(*(connection_to(server) for server in down))
    for server in down:
        await server.stop()
    start = time.monotonic()

    with pytest.raises(NoConnectionError):
        await async_pick_connection(
            tls_session, resource, client_identifier=CLIENT_ID, timeout=5.0
        )

    assert time.monotonic() - start < 1.0


async def test_picker_without_connections(tls_session: aiohttp.ClientSession) -> None:
    """A server plex.tv lists without connections cannot be reached."""
    with pytest.raises(NoConnectionError, match="lists no connections"):
        await async_pick_connection(
            tls_session, _resource(), client_identifier=CLIENT_ID
        )


async def test_picker_bounds_a_hanging_connection(
    tls_session: aiohttp.ClientSession, hanging: HangingServer
) -> None:
    """A connection that accepts and never answers fails at the timeout."""
    resource = _resource(hanging.connection(), hanging.connection(local=False))
    start = time.monotonic()

    with pytest.raises(NoConnectionError):
        await async_pick_connection(
            tls_session, resource, client_identifier=CLIENT_ID, timeout=0.3
        )

    assert 0.3 <= time.monotonic() - start < 0.8
    assert hanging.accepted == 2
    assert not _probes_left()


async def test_picker_takes_the_relay_when_the_rest_hangs(
    tls_session: aiohttp.ClientSession,
    start_server: StartServer,
    hanging: HangingServer,
) -> None:
    """At the timeout the best answer so far wins: here only the relay."""
    relay = await start_server()
    resource = _resource(hanging.connection(), connection_to(relay, relay=True))

    picked = await async_pick_connection(
        tls_session, resource, client_identifier=CLIENT_ID, timeout=0.3
    )

    assert picked.relay_only is True
    assert picked.connection.uri == relay.url
    assert not _probes_left()


async def test_picker_does_not_wait_for_worse_connections(
    tls_session: aiohttp.ClientSession,
    start_server: StartServer,
    hanging: HangingServer,
) -> None:
    """Once the best possible class answered, slower worse ones are dropped."""
    best = await start_server()
    resource = _resource(
        hanging.connection(local=False), connection_to(best), hanging.connection()
    )
    start = time.monotonic()

    picked = await async_pick_connection(
        tls_session, resource, client_identifier=CLIENT_ID, timeout=3.0
    )

    assert picked.connection.uri == best.url
    assert time.monotonic() - start < 1.0
    assert not _probes_left()


async def test_picker_waits_for_a_better_but_slower_connection(
    tls_session: aiohttp.ClientSession, start_server: StartServer
) -> None:
    """A fast relay does not win over a local connection that answers in time."""
    slow_local = await start_server(fault="slow", slow_seconds=0.3)
    relay = await start_server()
    resource = _resource(connection_to(relay, relay=True), connection_to(slow_local))

    picked = await async_pick_connection(
        tls_session, resource, client_identifier=CLIENT_ID, timeout=2.0
    )

    assert picked.connection.uri == slow_local.url
    assert picked.relay_only is False


async def test_picker_cancelled_leaves_no_probes(
    tls_session: aiohttp.ClientSession, hanging: HangingServer
) -> None:
    """Cancelling the pick cancels its probes too."""
    resource = _resource(hanging.connection())
    task = asyncio.create_task(
        async_pick_connection(tls_session, resource, client_identifier=CLIENT_ID)
    )
    await hanging.first_accepted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _probes_left()


def _probes_left() -> list[asyncio.Task[Any]]:
    """Probe tasks of the picker still alive."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "_is_server_at"
        and not task.done()
    ]
