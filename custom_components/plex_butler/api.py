"""A small async client for the Butler of a Plex Media Server.

It knows nothing of Home Assistant: it takes an ``aiohttp.ClientSession`` and
turns every answer into a typed result or one of the typed errors below. The
token travels only in the ``X-Plex-Token`` header, so it never ends up in a URL,
a log line or an exception text.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
import json
import logging
import time
from typing import Any, Final
from urllib.parse import quote
from xml.etree import ElementTree as ET

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

PRODUCT: Final = "Home Assistant Plex Butler"
# Sent as X-Plex-Version; kept equal to manifest.json's version by a test.
CLIENT_VERSION: Final = "0.1.0"
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_MAX_CONCURRENT_REQUESTS: Final = 4
_MAX_BODY: Final = 2 * 1024 * 1024
_LOGGER = logging.getLogger(__name__)
# Bounds the per-client cache of request URLs. A server has a few dozen tasks;
# only names it never had (each answered 404) could push the cache this far.
_MAX_CACHED_URLS: Final = 128


class PlexError(Exception):
    """Base class of every error this client raises."""


class PlexConnectionError(PlexError):
    """The server could not be reached or the connection broke."""


class PlexTimeoutError(PlexConnectionError):
    """The server did not answer in time; it may still have acted on the request."""

    def __init__(self, message: str, seconds: float) -> None:
        """Keep how long was waited, for messages that say so."""
        super().__init__(message)
        self.seconds = seconds


class PlexHostNotFoundError(PlexConnectionError):
    """The server's host name does not resolve."""


class PlexConnectionRefusedError(PlexConnectionError):
    """Nothing listens at that address and port."""


class PlexSSLError(PlexConnectionError):
    """The TLS handshake failed for a reason the subclasses do not name."""


class PlexNotHttpsError(PlexSSLError):
    """The address answers plain HTTP to an HTTPS handshake."""


class PlexCertificateUntrustedError(PlexSSLError):
    """The certificate is not signed by a trusted authority (self-signed)."""


class PlexCertificateHostnameError(PlexSSLError):
    """The certificate is valid but made out to another name."""


class PlexAuthenticationError(PlexError):
    """The server rejected the token (401) or refused it this request (403)."""


class PlexNotFoundError(PlexError):
    """The server has no such resource, for example no such butler task."""


class PlexResponseError(PlexError):
    """The server answered something this client cannot use."""


class PlexResponseTooLargeError(PlexResponseError):
    """The reply was larger than any Plex answer this client reads."""


class StartResult(StrEnum):
    """What the server said to a request to start a task."""

    STARTED = "started"
    ALREADY_RUNNING = "already_running"


@dataclass(frozen=True, slots=True)
class PlexServer:
    """The identity of a Plex Media Server."""

    machine_identifier: str
    friendly_name: str
    version: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class ButlerTask:
    """One task of the Butler, as the server describes it."""

    name: str
    title: str
    description: str | None = None
    interval_days: int | None = None
    enabled: bool | None = None
    schedule_randomized: bool | None = None


def _as_bool(value: Any) -> bool | None:
    """Read a boolean that JSON gives as true/false and XML as "1"/"0"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _as_str(value: Any) -> str | None:
    """Read a non-blank text; None for blanks and for text that is not valid UTF-8.

    JSON may carry a lone surrogate (half of a UTF-16 pair): such a name would
    break Home Assistant's storage of unique ids, so it counts as missing.
    """
    if isinstance(value, str) and value.strip():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _as_list(value: Any) -> list[Any]:
    """Plex gives a one-item list as a lone object, and no items as no key."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _xml_to_dict(element: ET.Element) -> dict[str, Any]:
    """Turn Plex XML into the shape of its JSON: attributes and child lists.

    Child lists win over an attribute of the same name (which Plex never sends):
    the parsers look for the lists.
    """
    children: dict[str, list[dict[str, Any]]] = {}
    for child in element:
        children.setdefault(child.tag, []).append(_xml_to_dict(child))
    return {**element.attrib, **children}


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """Parse a JSON or XML answer into a dict keyed by its root.

    Servers answer XML when the Accept header is lost on the way (proxies), so
    both forms are read the same way.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise PlexResponseError("The server sent an empty answer")
    if "xml" in content_type or text.startswith("<"):
        try:
            root = ET.fromstring(text)  # noqa: S314 - expat limits entity expansion
            return {root.tag: _xml_to_dict(root)}
        except (ET.ParseError, RecursionError) as err:
            raise PlexResponseError("The server sent XML that cannot be read") from err
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise PlexResponseError("The server sent JSON that cannot be read") from err
    if not isinstance(data, dict):
        raise PlexResponseError("The server sent JSON of an unexpected shape")
    return data


def parse_server(data: dict[str, Any]) -> PlexServer:
    """Read the server's identity from ``GET /`` or ``GET /identity``."""
    container = data.get("MediaContainer")
    if not isinstance(container, dict):
        raise PlexResponseError("The answer has no MediaContainer")
    machine_identifier = _as_str(container.get("machineIdentifier"))
    if machine_identifier is None:
        raise PlexResponseError("The server did not say its machineIdentifier")
    return PlexServer(
        machine_identifier=machine_identifier,
        friendly_name=_as_str(container.get("friendlyName")) or "Plex Media Server",
        version=_as_str(container.get("version")),
        platform=_as_str(container.get("platform")),
    )


def parse_tasks(data: dict[str, Any]) -> list[ButlerTask]:
    """Read the task list of ``GET /butler``; entries without a name are skipped."""
    container = data.get("ButlerTasks", data.get("MediaContainer"))
    if not isinstance(container, dict):
        raise PlexResponseError("The answer has no ButlerTasks")
    tasks: dict[str, ButlerTask] = {}
    for item in _as_list(container.get("ButlerTask")):
        if not isinstance(item, dict):
            continue
        name = _as_str(item.get("name"))
        if name is None or name in tasks:
            continue
        tasks[name] = ButlerTask(
            name=name,
            title=_as_str(item.get("title")) or name,
            description=_as_str(item.get("description")),
            interval_days=_as_int(item.get("interval")),
            enabled=_as_bool(item.get("enabled")),
            schedule_randomized=_as_bool(item.get("scheduleRandomized")),
        )
    return list(tasks.values())


@dataclass(frozen=True, slots=True)
class LibrarySection:
    """One library of the server, as ``GET /library/sections`` describes it.

    ``key`` is the section id used in URLs; it changes when a library is
    deleted and re-created, while ``uuid`` identifies the library itself.
    ``locations`` are the library's folders, as paths on the server.
    """

    key: str
    uuid: str
    title: str
    type: str | None = None
    refreshing: bool = False
    locations: tuple[str, ...] = ()


def parse_sections(data: dict[str, Any]) -> list[LibrarySection]:
    """Read ``GET /library/sections``; entries without a key or uuid are skipped."""
    container = data.get("MediaContainer")
    if not isinstance(container, dict):
        raise PlexResponseError("The answer has no MediaContainer")
    sections: dict[str, LibrarySection] = {}
    for item in _as_list(container.get("Directory")):
        if not isinstance(item, dict):
            continue
        key, uuid = _as_str(item.get("key")), _as_str(item.get("uuid"))
        if key is None or uuid is None or uuid in sections:
            continue
        locations = (
            _as_str(location.get("path"))
            for location in _as_list(item.get("Location"))
            if isinstance(location, dict)
        )
        sections[uuid] = LibrarySection(
            key=key,
            uuid=uuid,
            title=_as_str(item.get("title")) or key,
            type=_as_str(item.get("type")),
            refreshing=_as_bool(item.get("refreshing")) or False,
            locations=tuple(path for path in locations if path is not None),
        )
    return list(sections.values())


# OpenSSL's reasons for a handshake answered by a plain-HTTP server.
_PLAIN_HTTP_REASONS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"}
)
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH_CODES: Final = frozenset({62, 64})


def _tls_error(err: aiohttp.ClientSSLError) -> PlexSSLError:
    """Tell apart the TLS failures users fix differently."""
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        code = getattr(err.certificate_error, "verify_code", None)
        if code in _NAME_MISMATCH_CODES:
            return PlexCertificateHostnameError("The certificate is for another name")
        return PlexCertificateUntrustedError("The certificate is not trusted")
    reason = getattr(err.os_error, "reason", None)
    if reason in _PLAIN_HTTP_REASONS:
        return PlexNotHttpsError("The address does not speak HTTPS")
    return PlexSSLError(f"The TLS handshake failed ({reason or type(err).__name__})")


def connection_error(err: aiohttp.ClientError | OSError) -> PlexConnectionError:
    """Name the cause of a failed connection in words a user can act on."""
    if isinstance(err, aiohttp.ClientSSLError):
        return _tls_error(err)
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return PlexHostNotFoundError("The host name was not found")
    if isinstance(err, aiohttp.ClientConnectorError) and isinstance(
        err.os_error, ConnectionRefusedError
    ):
        return PlexConnectionRefusedError("The connection was refused")
    if isinstance(err, aiohttp.ClientConnectorError):
        return PlexConnectionError("The server could not be reached")
    return PlexConnectionError("The connection to the server broke")


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """Read the whole body, however many pieces it arrives in, up to ``_MAX_BODY``.

    Real links (Wi-Fi, a NAS, a reverse proxy, TLS records) deliver a reply in
    pieces; one ``read(n)`` returns only what is buffered so far.
    """
    declared = response.content_length
    if declared is not None and declared > _MAX_BODY:
        raise PlexResponseTooLargeError(f"The reply was too large ({declared} bytes)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > _MAX_BODY:
            raise PlexResponseTooLargeError(
                f"The reply was too large (over {_MAX_BODY} bytes)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


class _Slots:
    """At most ``count`` requests in flight; the rest wait in arrival order.

    asyncio.Semaphore does the same, but its locked() builds a generator over
    the waiters and acquire() calls it again: about half of what the client
    added to a request in ``scripts/bench``. Here a free slot is one test. A
    released slot goes straight to the first waiter: nobody overtakes.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, count: int) -> None:
        """Start with ``count`` free slots."""
        self._free = count
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """Take a free slot if nobody waits for one; never waits."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, after the requests already waiting for one."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            else:
                with suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give the slot to the first request still waiting, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


@lru_cache(maxsize=_MAX_CACHED_URLS)
def _task_path(name: str) -> str:
    """The percent-encoded path that starts a task; built once per name."""
    return f"/butler/{quote(name, safe='')}"


class PlexButlerClient:
    """Talks to one Plex Media Server's Butler."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str,
        *,
        client_identifier: str,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        server_hostname: str | None = None,
    ) -> None:
        """Keep the session and credentials; no request is sent yet.

        At most ``max_concurrent_requests`` requests are in flight at once; the
        rest wait their turn. Plex often runs on a small NAS, and the butler
        queues its work anyway, so a burst of presses gains nothing from
        parallelism but could swamp the server. ``timeout`` bounds the wait
        for a turn and, separately, the request once sent: a queue behind a
        server that stopped answering fails too, instead of growing for ever.

        ``server_hostname`` is for a ``url`` that names the server by its IP
        address while its certificate names a host (a ``*.plex.direct`` one,
        see ``plextv.plex_direct_target``): TLS verifies that name and the
        ``Host`` header carries it, so the name needs no DNS lookup.
        """
        self._session = session
        self._base = URL(url.rstrip("/"))
        self._token = token
        self._timeout_seconds = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._slots = _Slots(max_concurrent_requests)
        headers = {
            "Accept": "application/json",
            "X-Plex-Token": token,
            "X-Plex-Client-Identifier": client_identifier,
            "X-Plex-Product": PRODUCT,
            "X-Plex-Version": CLIENT_VERSION,
            "X-Plex-Device-Name": "Home Assistant",
            "X-Plex-Platform": "Home Assistant",
        }
        if not token:
            del headers["X-Plex-Token"]
        self._server_hostname = server_hostname
        if server_hostname:
            headers["Host"] = (
                server_hostname
                if self._base.is_default_port()
                else f"{server_hostname}:{self._base.port}"
            )
        # A multidict already, so aiohttp does not convert it on every request.
        self._headers = CIMultiDictProxy(CIMultiDict(headers))
        self._urls: dict[str, URL] = {}

    def __repr__(self) -> str:
        """Say which server, never the token."""
        return f"PlexButlerClient({str(self._base)!r})"

    async def _request(
        self, method: str, path: str, *, url: URL | None = None
    ) -> tuple[int, bytes, str]:
        """Send one request; return status, body and content type, or raise.

        ``path`` must already be percent-encoded. A ``url`` given (one with a
        query) is sent as it is, and ``path`` only names it in logs and errors.
        Redirects are not followed: they would carry the token header to
        wherever they point.
        """
        if url is None:
            url = self._urls.get(path)
        if url is None:
            url = self._url(path)
        if not self._slots.try_acquire():  # a free slot needs no timer: the hot path
            await self._wait_for_slot(method, path)
        try:
            return await self._send(method, path, url)
        finally:
            self._slots.release()

    def _url(self, path: str) -> URL:
        """Build and keep the URL of ``path``.

        The same URL object for every request to a path also keeps what yarl
        and aiohttp cache on it (host, port, origin), which a new one recomputes.
        """
        if len(self._urls) >= _MAX_CACHED_URLS:
            self._urls.clear()
        url = self._base.with_path(self._base.raw_path.rstrip("/") + path, encoded=True)
        self._urls[path] = url
        return url

    async def _wait_for_slot(self, method: str, path: str) -> None:
        """Wait for a turn, at most the timeout, behind earlier requests."""
        try:
            async with asyncio.timeout(self._timeout_seconds):
                await self._slots.acquire()
        except TimeoutError as err:
            raise PlexTimeoutError(
                f"{method} {path}: earlier requests to the server did not finish in time",
                self._timeout_seconds,
            ) from err

    async def _send(
        self, method: str, path: str, url: URL, *, retry_stale: bool = True
    ) -> tuple[int, bytes, str]:
        """Send one request while holding a slot; map every failure to a PlexError.

        A server that closed a kept-alive connection (a Plex restart does) makes
        the next request on it fail before any answer; that request is sent once
        more on a new connection. Every request here may be repeated safely: a
        second start of a task only answers 202.

        At debug level each answer is logged with its method, path (never a
        token: it travels in a header), status and time.
        """
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
                server_hostname=self._server_hostname,
            ) as response:
                status = response.status
                if _LOGGER.isEnabledFor(logging.DEBUG):
                    _LOGGER.debug(
                        "%s %s -> %s in %.0f ms",
                        method,
                        path,
                        status,
                        (time.monotonic() - started) * 1000,
                    )
                if status in (401, 403):
                    raise PlexAuthenticationError(
                        f"The server refused the token ({status})"
                    )
                if status == 404:
                    raise PlexNotFoundError(f"{method} {path}: not found")
                if not 200 <= status < 300:
                    raise PlexResponseError(
                        f"{method} {path}: unexpected HTTP status {status}"
                    )
                if method != "GET":
                    return status, b"", ""  # nobody reads a POST's answer
                body = await _read_body(response)
                return status, body, response.headers.get("Content-Type", "")
        except TimeoutError as err:
            raise PlexTimeoutError(
                f"No answer within {self._timeout_seconds:g} s", self._timeout_seconds
            ) from err
        except aiohttp.ServerDisconnectedError as err:
            if not retry_stale:
                raise connection_error(err) from err
            _LOGGER.debug(
                "%s %s: connection closed before an answer; again", method, path
            )
        except (aiohttp.ClientError, OSError) as err:
            _LOGGER.debug(
                "%s %s failed: %s: %s",
                method,
                path,
                type(err).__name__,
                self._scrub(err),
            )
            raise connection_error(err) from err
        return await self._send(method, path, url, retry_stale=False)

    async def _get(self, path: str) -> dict[str, Any]:
        _, body, content_type = await self._request("GET", path)
        return parse_body(body, content_type)

    def _scrub(self, err: BaseException) -> str:
        """Render an exception's text with the token removed, in case it is there."""
        return (
            str(err).replace(self._token, "**REDACTED**") if self._token else str(err)
        )

    async def async_get_identity(self) -> PlexServer:
        """Read the server's machine identifier (``GET /identity``, no token needed).

        The identity carries no friendly name, so it is only good for telling
        servers apart, for example when one is discovered on the network.
        """
        return parse_server(await self._get("/identity"))

    async def async_get_server(self) -> PlexServer:
        """Read the server's name and identity (``GET /``, needs the token)."""
        return parse_server(await self._get("/"))

    async def async_get_tasks(self) -> list[ButlerTask]:
        """Read the butler tasks this server has (``GET /butler``)."""
        return parse_tasks(await self._get("/butler"))

    async def async_start_task(self, name: str) -> StartResult:
        """Ask the butler to start one task now.

        200 means started, 202 that it was already running, 404 that this
        server has no task of that name.
        """
        status, _, _ = await self._request("POST", _task_path(name))
        if status == 202:
            return StartResult.ALREADY_RUNNING
        return StartResult.STARTED

    async def async_get_sections(self) -> list[LibrarySection]:
        """Read the server's libraries (``GET /library/sections``)."""
        return parse_sections(await self._get("/library/sections"))

    async def async_refresh_section(
        self, key: str, path: str | None = None, *, force: bool = False
    ) -> None:
        """Start a scan of one library, or of one folder of it (``path``).

        Plex starts scans with a GET. ``force`` also refreshes all metadata.
        An unknown key raises PlexNotFoundError. The path travels URL-encoded
        in the query; the URL is not cached, since paths are endless.
        """
        url = self._base.with_path(
            f"{self._base.raw_path.rstrip('/')}/library/sections/"
            f"{quote(key, safe='')}/refresh",
            encoded=True,
        )
        query: dict[str, str] = {}
        if path is not None:
            query["path"] = path
        if force:
            query["force"] = "1"
        if query:
            url = url.with_query(query)
        await self._request("GET", url.raw_path_qs, url=url)


__all__ = [
    "ButlerTask",
    "LibrarySection",
    "PlexAuthenticationError",
    "PlexButlerClient",
    "PlexCertificateHostnameError",
    "PlexCertificateUntrustedError",
    "PlexConnectionError",
    "PlexConnectionRefusedError",
    "PlexError",
    "PlexHostNotFoundError",
    "PlexNotFoundError",
    "PlexNotHttpsError",
    "PlexResponseError",
    "PlexResponseTooLargeError",
    "PlexSSLError",
    "PlexServer",
    "PlexTimeoutError",
    "StartResult",
]
