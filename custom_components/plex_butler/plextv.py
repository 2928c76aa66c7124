"""Sign in with Plex: a small async client for plex.tv, and a connection picker.

Like ``api.py`` it knows nothing of Home Assistant: it takes an
``aiohttp.ClientSession`` and returns typed results or raises the typed errors
below. Tokens travel only in the ``X-Plex-Token`` header and never appear in a
URL, a log line, an exception text or a ``repr``.

The sign-in: ``async_create_pin``, send the user's browser to ``auth_url``,
``async_wait_for_token``; then ``async_get_resources`` lists the user's servers
and ``async_pick_connection`` finds the best way to reach one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
import ipaddress
import json
import logging
import math
import os
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from .api import (
    CLIENT_VERSION,
    PlexButlerClient,
    PlexError,
    _as_bool,
    _as_int,
    _as_list,
    _as_str,
)

_LOGGER = logging.getLogger(__name__)

# One base URL standing for plex.tv, clients.plex.tv and app.plex.tv, so that
# development and end-to-end tests can point the sign-in at a simulator.
PLEX_TV_ENV: Final = "PLEX_BUTLER_PLEX_TV"
DEFAULT_TIMEOUT: Final = 10.0
# plex.tv says how long a PIN lives; this is only for an answer that does not.
DEFAULT_PIN_SECONDS: Final = 900.0
POLL_INTERVAL: Final = 1.0
# Consecutive failed polls tolerated before a wait for the token gives up.
POLL_FAILURES_TOLERATED: Final = 3
PICK_TIMEOUT: Final = 3.0
_MAX_BODY: Final = 8 * 1024 * 1024


class PlexTvError(Exception):
    """Base class of every error of the plex.tv client and the picker."""


class PlexTvConnectionError(PlexTvError):
    """plex.tv could not be reached, did not answer in time, or broke off."""


class PlexTvAuthError(PlexTvError):
    """plex.tv refused the user's token (401 or 403)."""


class PlexTvResponseError(PlexTvError):
    """plex.tv answered something this client cannot use."""


class PlexTvNotFoundError(PlexTvResponseError):
    """plex.tv has no such thing (404)."""


class PinExpiredError(PlexTvError):
    """The sign-in PIN expired before the user signed in."""


class NoConnectionError(PlexTvError):
    """None of a server's connections answered as that server."""


@dataclass(frozen=True, slots=True)
class PlexTvUrls:
    """Where plex.tv's three services live."""

    plex_tv: str = "https://plex.tv"
    clients: str = "https://clients.plex.tv"
    app: str = "https://app.plex.tv"


def plex_tv_urls(environ: Mapping[str, str] | None = None) -> PlexTvUrls:
    """Read the ``PLEX_BUTLER_PLEX_TV`` override; Plex's real hosts without it.

    Read when a sign-in starts, so a developer can point a running Home
    Assistant at a simulator without a restart.
    """
    base = (os.environ if environ is None else environ).get(PLEX_TV_ENV, "").strip()
    if not base:
        return PlexTvUrls()
    url = URL(base)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{PLEX_TV_ENV} must be an http(s) URL")
    base = base.rstrip("/")
    return PlexTvUrls(plex_tv=base, clients=base, app=base)


@dataclass(frozen=True, slots=True)
class Pin:
    """A sign-in PIN: ``id`` to poll, ``code`` for the auth page."""

    id: int
    code: str
    expires_in: float
    # A deadline on the event loop's clock (monotonic, the one asyncio.sleep
    # runs on), so changes of the wall clock do not matter.
    expires_at: float


@dataclass(frozen=True, slots=True)
class PlexTvUser:
    """The account a token belongs to."""

    uuid: str | None
    username: str | None


@dataclass(frozen=True, slots=True)
class Connection:
    """One way plex.tv knows to reach a server."""

    protocol: str
    address: str
    port: int
    uri: str
    local: bool
    relay: bool
    ipv6: bool

    @property
    def rank(self) -> int:
        """0 is best: local before remote, relay last, https before http."""
        if self.relay:
            return 4
        return (0 if self.local else 2) + (0 if self.protocol == "https" else 1)


@dataclass(frozen=True, slots=True)
class PlexResource:
    """A server the user can reach through plex.tv."""

    name: str
    client_identifier: str
    access_token: str | None = field(repr=False)
    product_version: str | None
    owned: bool
    provides: tuple[str, ...]
    connections: tuple[Connection, ...]


@dataclass(frozen=True, slots=True)
class PickedConnection:
    """The chosen connection; ``relay_only`` when only a relay answered."""

    connection: Connection
    relay_only: bool


def parse_pin(data: Any, now: float) -> Pin:
    """Read ``POST /api/v2/pins``; ``now`` is the loop time of the request."""
    if not isinstance(data, dict):
        raise PlexTvResponseError("plex.tv sent a PIN of an unexpected shape")
    pin_id = _as_int(data.get("id"))
    code = _as_str(data.get("code"))
    if pin_id is None or code is None:
        raise PlexTvResponseError("plex.tv sent a PIN without id or code")
    expires_in = _as_seconds(data.get("expiresIn")) or DEFAULT_PIN_SECONDS
    return Pin(id=pin_id, code=code, expires_in=expires_in, expires_at=now + expires_in)


def _as_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and 0 < value < math.inf:
        return float(value)
    number = _as_int(value)
    return float(number) if number is not None and number > 0 else None


def parse_connection(data: Any) -> Connection | None:
    """Read one connection; None if it says nowhere to connect to."""
    if not isinstance(data, dict):
        return None
    address = _as_str(data.get("address"))
    port = _as_int(data.get("port"))
    uri = _as_str(data.get("uri"))
    try:
        if uri is None and address is not None and port is not None:
            protocol = _as_str(data.get("protocol")) or "http"
            uri = str(URL.build(scheme=protocol, host=address, port=port))
        parsed = URL(uri or "")
    except ValueError:
        return None
    if uri is None or parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return Connection(
        protocol=parsed.scheme,
        address=address or parsed.host,
        port=port if port is not None else parsed.port or 32400,
        uri=uri,
        local=_as_bool(data.get("local")) is True,
        relay=_as_bool(data.get("relay")) is True,
        ipv6=_as_bool(data.get("IPv6")) is True,
    )


def parse_resources(data: Any) -> list[PlexResource]:
    """Read ``GET /api/v2/resources``: the servers only, each once.

    plex.tv answers a JSON array; a lone object counts as a list of one.
    Items without a ``clientIdentifier`` cannot be told apart and are skipped.
    """
    if not isinstance(data, list | dict):
        raise PlexTvResponseError("plex.tv sent resources of an unexpected shape")
    resources: dict[str, PlexResource] = {}
    for item in _as_list(data):
        if not isinstance(item, dict):
            continue
        provides = tuple(
            part.strip()
            for part in (_as_str(item.get("provides")) or "").split(",")
            if part.strip()
        )
        identifier = _as_str(item.get("clientIdentifier"))
        if "server" not in provides or identifier is None or identifier in resources:
            continue
        connections = (parse_connection(c) for c in _as_list(item.get("connections")))
        resources[identifier] = PlexResource(
            name=_as_str(item.get("name")) or "Plex Media Server",
            client_identifier=identifier,
            access_token=_as_str(item.get("accessToken")),
            product_version=_as_str(item.get("productVersion")),
            owned=_as_bool(item.get("owned")) is True,
            provides=provides,
            connections=tuple(c for c in connections if c is not None),
        )
    return list(resources.values())


def owned_servers(resources: list[PlexResource]) -> list[PlexResource]:
    """The servers the user owns: only an owner's token may run the butler."""
    return [resource for resource in resources if resource.owned]


class PlexTvClient:
    """Talks to plex.tv for one sign-in, on behalf of one installation."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        product: str,
        client_identifier: str,
        urls: PlexTvUrls | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Keep the session; ``client_identifier`` must stay the same across polls."""
        self._session = session
        self._product = product
        self._client_identifier = client_identifier
        self._urls = urls or PlexTvUrls()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {
            "Accept": "application/json",
            "X-Plex-Product": product,
            "X-Plex-Client-Identifier": client_identifier,
            "X-Plex-Version": CLIENT_VERSION,
            "X-Plex-Device-Name": "Home Assistant",
            "X-Plex-Platform": "Home Assistant",
        }

    def __repr__(self) -> str:
        """Say where it points; it holds no token."""
        return f"PlexTvClient({self._urls.plex_tv!r})"

    async def async_create_pin(self) -> Pin:
        """Ask plex.tv for a new sign-in PIN."""
        url = (URL(self._urls.plex_tv) / "api/v2/pins").with_query(strong="true")
        now = asyncio.get_running_loop().time()
        return parse_pin(await self._fetch("POST", url), now)

    def auth_url(self, pin: Pin, forward_url: str | None = None) -> str:
        """The page where the user signs in; plex.tv then sends them to ``forward_url``.

        The parameters go in the fragment, which app.plex.tv reads in the
        browser; they are encoded in full so ``forward_url`` stays one value.
        """
        params = {
            "clientID": self._client_identifier,
            "code": pin.code,
            "context[device][product]": self._product,
        }
        if forward_url:
            params["forwardUrl"] = forward_url
        return f"{self._urls.app}/auth#?{urlencode(params, quote_via=quote)}"

    async def async_check_pin(self, pin: Pin) -> str | None:
        """The user's token once they signed in, else None; PinExpiredError after."""
        url = URL(self._urls.plex_tv) / "api/v2/pins" / str(pin.id)
        try:
            data = await self._fetch("GET", url)
        except PlexTvNotFoundError as err:
            raise PinExpiredError("The sign-in PIN expired") from err
        if not isinstance(data, dict):
            raise PlexTvResponseError("plex.tv sent a PIN of an unexpected shape")
        return _as_str(data.get("authToken"))

    async def async_wait_for_token(
        self, pin: Pin, *, interval: float = POLL_INTERVAL
    ) -> str:
        """Poll until the user signed in; PinExpiredError when the PIN runs out.

        A few failed polls in a row are tolerated (home internet hiccups);
        more raise the last error rather than keep a sign-in spinning.
        """
        failures = 0
        while True:
            try:
                token = await self.async_check_pin(pin)
            except (PlexTvConnectionError, PlexTvResponseError):
                failures += 1
                if failures > POLL_FAILURES_TOLERATED:
                    raise
                token = None
            else:
                failures = 0
            if token is not None:
                return token
            remaining = pin.expires_at - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise PinExpiredError("The sign-in PIN expired")
            await asyncio.sleep(min(interval, remaining))

    async def async_validate_user(self, token: str) -> PlexTvUser:
        """Check a user token (``GET /api/v2/user``); PlexTvAuthError if refused."""
        data = await self._fetch("GET", URL(self._urls.plex_tv) / "api/v2/user", token)
        if not isinstance(data, dict):
            raise PlexTvResponseError("plex.tv sent a user of an unexpected shape")
        return PlexTvUser(
            uuid=_as_str(data.get("uuid")), username=_as_str(data.get("username"))
        )

    async def async_get_resources(self, token: str) -> list[PlexResource]:
        """The servers this user can reach, owned or shared, with connections."""
        url = (URL(self._urls.clients) / "api/v2/resources").with_query(
            includeHttps="1", includeRelay="1", includeIPv6="1"
        )
        return parse_resources(await self._fetch("GET", url, token))

    async def _fetch(self, method: str, url: URL, token: str | None = None) -> Any:
        """Send one request and return its JSON; map every failure to a PlexTvError.

        Redirects are not followed: they would carry the token to wherever
        they point.
        """
        headers = (
            self._headers if token is None else {**self._headers, "X-Plex-Token": token}
        )
        what = f"plex.tv {method} {url.path}"
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                body = await _read_limited(response.content, what)
        except TimeoutError as err:
            raise PlexTvConnectionError(f"{what}: no answer in time") from err
        except (aiohttp.ClientError, OSError) as err:
            text = str(err).replace(token, "**REDACTED**") if token else str(err)
            raise PlexTvConnectionError(
                f"{what}: {type(err).__name__}: {text}"
            ) from err
        if status in (401, 403):
            raise PlexTvAuthError(f"{what}: plex.tv refused the token ({status})")
        if status == 404:
            raise PlexTvNotFoundError(f"{what}: not found")
        if not 200 <= status < 300:
            raise PlexTvResponseError(f"{what}: unexpected HTTP status {status}")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as err:
            raise PlexTvResponseError(f"{what}: the answer is not JSON") from err


async def _read_limited(content: aiohttp.StreamReader, what: str) -> bytes:
    """Read a whole body, but refuse one too big to be plex.tv's."""
    body = bytearray()
    async for chunk in content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > _MAX_BODY:
            raise PlexTvResponseError(f"{what}: the answer is too large")
    return bytes(body)


def plex_direct_ip(host: str) -> str | None:
    """The IP address a ``<ip>.<hash>.plex.direct`` name spells, else None.

    IPv4 is spelled with dashes for dots (``192-168-1-5``), IPv6 with dashes
    for colons (``fd00--1``).
    """
    labels = host.rstrip(".").lower().split(".")
    if len(labels) != 4 or labels[2:] != ["plex", "direct"]:
        return None
    for candidate in (labels[0].replace("-", "."), labels[0].replace("-", ":")):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def plex_direct_target(url: str) -> tuple[str, str | None]:
    """Where to connect for ``url``, and the host name TLS must verify there.

    A ``*.plex.direct`` name always resolves to the IP it spells, so we
    connect to that IP ourselves instead of asking DNS: many home routers
    drop such answers ("DNS rebinding protection"), and tests have no DNS.
    The certificate is still checked against the plex.direct name (passed
    as ``server_hostname``, also sent as the ``Host`` header). Any other URL
    is returned unchanged, with None.
    """
    parsed = URL(url)
    ip = plex_direct_ip(parsed.host or "")
    if ip is None:
        return url, None
    return str(parsed.with_host(ip)), parsed.host


async def async_pick_connection(
    session: aiohttp.ClientSession,
    resource: PlexResource,
    *,
    client_identifier: str,
    timeout: float = PICK_TIMEOUT,  # noqa: ASYNC109 - at it, the best answer so far wins
) -> PickedConnection:
    """Try all the server's connections at once and pick the best that answers.

    A connection counts when its ``/identity`` names this server (a stale
    local address may now be another machine). Preference: local https, local
    http, remote https, remote http, relay; among equals the fastest (plex.tv's
    order among those that answer together). The wait ends as soon as nothing
    still pending could beat the best answer, else at ``timeout``; the probes
    left over are cancelled. No token is sent: ``/identity`` needs none, and
    a connection is not trusted until it answered.
    """
    if not resource.connections:
        raise NoConnectionError(f"{resource.name}: plex.tv lists no connections")
    probes = {
        asyncio.create_task(
            _is_server_at(
                session,
                connection,
                resource.client_identifier,
                client_identifier,
                timeout,
            )
        ): connection
        for connection in resource.connections
    }
    pending = set(probes)
    best: Connection | None = None
    try:
        async with asyncio.timeout(timeout):
            while pending and not _unbeatable(best, [probes[t] for t in pending]):
                done, pending = await asyncio.wait(
                    pending, return_when=asyncio.FIRST_COMPLETED
                )
                answered = [probes[t] for t in probes if t in done and t.result()]
                best = min(filter(None, [best, *answered]), key=_rank, default=None)
    except TimeoutError:
        _LOGGER.debug("%s: %d connections timed out", resource.name, len(pending))
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if best is None:
        raise NoConnectionError(f"{resource.name}: no connection answered")
    return PickedConnection(connection=best, relay_only=best.relay)


def _rank(connection: Connection) -> int:
    return connection.rank


def _unbeatable(best: Connection | None, still_probing: list[Connection]) -> bool:
    """Whether no connection still being probed could be preferred to ``best``."""
    return best is not None and all(c.rank >= best.rank for c in still_probing)


async def _is_server_at(
    session: aiohttp.ClientSession,
    connection: Connection,
    machine_identifier: str,
    client_identifier: str,
    seconds: float,
) -> bool:
    """Whether the server answering at this connection is the one we look for."""
    url, server_hostname = plex_direct_target(connection.uri)
    client = PlexButlerClient(
        session,
        url,
        "",
        client_identifier=client_identifier,
        timeout=seconds,
        server_hostname=server_hostname,
    )
    try:
        identity = await client.async_get_identity()
    except PlexError as err:
        _LOGGER.debug("%s did not answer: %s", connection.uri, err)
        return False
    return identity.machine_identifier == machine_identifier


__all__ = [
    "Connection",
    "NoConnectionError",
    "PickedConnection",
    "Pin",
    "PinExpiredError",
    "PlexResource",
    "PlexTvAuthError",
    "PlexTvClient",
    "PlexTvConnectionError",
    "PlexTvError",
    "PlexTvNotFoundError",
    "PlexTvResponseError",
    "PlexTvUrls",
    "PlexTvUser",
    "async_pick_connection",
    "owned_servers",
    "parse_connection",
    "parse_pin",
    "parse_resources",
    "plex_direct_ip",
    "plex_direct_target",
    "plex_tv_urls",
]
