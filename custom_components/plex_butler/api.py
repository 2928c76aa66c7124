"""A small async client for the Butler of a Plex Media Server.

It knows nothing of Home Assistant: it takes an ``aiohttp.ClientSession`` and
turns every answer into a typed result or one of the typed errors below. The
token travels only in the ``X-Plex-Token`` header, so it never ends up in a URL,
a log line or an exception text.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Mapping
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


class PlexBadRequestError(PlexResponseError):
    """The server refused the request as malformed (400), e.g. a bad setting value."""


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


def _status_error(method: str, path: str, status: int) -> PlexError:
    """The PlexError of an answer that is not a success (not 2xx)."""
    if status in (401, 403):
        return PlexAuthenticationError(f"The server refused the token ({status})")
    if status == 404:
        return PlexNotFoundError(f"{method} {path}: not found")
    if status == 400:
        return PlexBadRequestError(f"{method} {path}: refused (400)")
    return PlexResponseError(f"{method} {path}: unexpected HTTP status {status}")


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
        # Multidicts already, so aiohttp does not convert them on every request.
        # Reads (each poll) also describe the device for Plex's device list;
        # starts carry only what identifies and authorises the client, which
        # keeps the action's request as lean as a hand-written rest_command.
        self._read_headers = CIMultiDictProxy(CIMultiDict(headers))
        for descriptive in (
            "Accept",
            "X-Plex-Product",
            "X-Plex-Version",
            "X-Plex-Device-Name",
            "X-Plex-Platform",
        ):
            del headers[descriptive]
        self._write_headers = CIMultiDictProxy(CIMultiDict(headers))
        self._urls: dict[str, URL] = {}

    def __repr__(self) -> str:
        """Say which server, never the token."""
        return f"PlexButlerClient({str(self._base)!r})"

    async def _request(
        self, method: str, path: str, query: Mapping[str, str] | None = None
    ) -> tuple[int, bytes, str]:
        """Send one request; return status, body and content type, or raise.

        ``path`` must already be percent-encoded; ``query`` is encoded here.
        Redirects are not followed: they would carry the token header to
        wherever they point.
        """
        url = self._urls.get(path)
        if url is None:
            url = self._url(path)
        if query:
            url = url.with_query(query)
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
        debug = _LOGGER.isEnabledFor(logging.DEBUG)
        started = time.monotonic() if debug else 0.0
        try:
            # Awaited and released by hand: what ``async with`` does for a
            # request without a body, minus two coroutines on every call.
            response = await self._session.request(
                method,
                url,
                headers=self._read_headers if method == "GET" else self._write_headers,
                timeout=self._timeout,
                allow_redirects=False,
                server_hostname=self._server_hostname,
            )
            try:
                status = response.status
                if debug:
                    _LOGGER.debug(
                        "%s %s -> %s in %.0f ms",
                        method,
                        path,
                        status,
                        (time.monotonic() - started) * 1000,
                    )
                if not 200 <= status < 300:
                    raise _status_error(method, path, status)
                if method != "GET":
                    return status, b"", ""  # nobody reads a POST's answer
                body = await _read_body(response)
                return status, body, response.headers.get("Content-Type", "")
            finally:
                response.release()
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
        query: dict[str, str] = {}
        if path is not None:
            query["path"] = path
        if force:
            query["force"] = "1"
        await self._request(
            "GET", f"/library/sections/{quote(key, safe='')}/refresh", query
        )

    # --- settings, activities, stopping, push notifications ------------------

    async def async_get_settings(self) -> list[PlexSetting]:
        """Read the server's settings (``GET /:/prefs``)."""
        return parse_settings(await self._get("/:/prefs"))

    async def async_set_setting(self, setting_id: str, value: bool | int | str) -> None:
        """Change one setting (``PUT /:/prefs?<id>=<value>``); booleans go as 1/0.

        The server answers 400 (``PlexBadRequestError``) for an unknown id or a
        value it does not accept.
        """
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        await self._request("PUT", "/:/prefs", {setting_id: text})

    async def async_get_activities(self) -> list[PlexActivity]:
        """Read what the server is busy with now (``GET /activities``)."""
        return parse_activities(await self._get("/activities"))

    async def async_stop_task(self, name: str) -> StopResult:
        """Ask the butler to stop one task (``DELETE /butler/{name}``).

        Plex answers 404 both for a task that is not running and for one it
        does not have; either way nothing runs, so that is a result.
        """
        try:
            await self._request("DELETE", f"/butler/{quote(name, safe='')}")
        except PlexNotFoundError:
            return StopResult.NOT_RUNNING
        return StopResult.STOPPED

    async def async_start_all_tasks(self) -> None:
        """Start every task enabled in the settings (``POST /butler``)."""
        await self._request("POST", "/butler")

    async def async_stop_all_tasks(self) -> None:
        """Stop all running tasks and clear the queue (``DELETE /butler``)."""
        await self._request("DELETE", "/butler")

    async def async_connect_notifications(self) -> PlexNotificationStream:
        """Open the notification websocket; the token goes in a header.

        A server that answers 404 is older than the websocket
        (``PlexNotFoundError``); 401/403 is ``PlexAuthenticationError``.
        """
        url = self._base.with_path(
            self._base.raw_path.rstrip("/") + NOTIFICATIONS_PATH, encoded=True
        )
        try:
            async with asyncio.timeout(self._timeout_seconds):
                socket = await self._session.ws_connect(
                    url,
                    headers=self._read_headers,
                    max_msg_size=_MAX_BODY,
                    server_hostname=self._server_hostname,
                    autoping=False,  # the stream answers pings and counts pongs
                )
        except TimeoutError as err:
            raise PlexTimeoutError(
                f"No answer within {self._timeout_seconds:g} s", self._timeout_seconds
            ) from err
        except aiohttp.WSServerHandshakeError as err:
            raise _handshake_error(err.status) from err
        except (aiohttp.ClientError, OSError) as err:
            _LOGGER.debug(
                "Websocket failed: %s: %s", type(err).__name__, self._scrub(err)
            )
            raise connection_error(err) from err
        return PlexNotificationStream(socket)


NOTIFICATIONS_PATH: Final = "/:/websockets/notifications"
# A link that dies silently (NAT timeout, Wi-Fi drop, server powered off)
# sends no FIN, so the socket would wait for frames for ever. After this many
# seconds without a frame the stream pings, and ends if nothing (a pong or any
# frame) comes within half as long: a dead link is noticed within 45 s, and an
# idle one costs a ping frame each half-minute. The stream does this itself
# rather than with aiohttp's ``heartbeat=``, whose timer newer aiohttp versions
# arm again while the socket closes, leaving a timer behind at every unload.
NOTIFICATIONS_HEARTBEAT: Final = 30.0


class StopResult(StrEnum):
    """What the server said to a request to stop a task."""

    STOPPED = "stopped"
    NOT_RUNNING = "not_running"


@dataclass(frozen=True, slots=True)
class PlexSetting:
    """One server setting of ``GET /:/prefs``, its value typed by ``type``.

    ``choices`` are the values the server offers (``enumValues``), in its order.
    """

    id: str
    label: str
    type: str
    value: bool | int | float | str | None
    group: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlexActivity:
    """Something the server is busy with, as it describes it.

    ``progress`` is 0-100, or None where Plex says it does not know (-1).
    ``library_section`` is the key of the library a scan is about
    (``Context.librarySectionID``), where Plex says so.
    """

    uuid: str
    type: str
    title: str
    subtitle: str | None = None
    progress: int | None = None
    cancellable: bool | None = None
    library_section: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityNotification:
    """One ``activity`` item of the notification websocket."""

    event: str
    uuid: str
    activity: PlexActivity | None


def _setting_value(kind: str, value: Any) -> bool | int | float | str | None:
    if kind == "bool":
        return _as_bool(value)
    if kind == "int":
        return _as_int(value)
    if kind == "double":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        return value
    return _as_str(value)


def _choices(enum_values: Any) -> tuple[str, ...]:
    """Read ``enumValues``: ``value:label`` pairs separated by ``|``."""
    if not isinstance(enum_values, str) or not enum_values:
        return ()
    return tuple(pair.partition(":")[0] for pair in enum_values.split("|") if pair)


def parse_settings(data: dict[str, Any]) -> list[PlexSetting]:
    """Read ``GET /:/prefs``; entries without an id or type are skipped."""
    container = data.get("MediaContainer")
    if not isinstance(container, dict):
        raise PlexResponseError("The answer has no MediaContainer")
    settings: dict[str, PlexSetting] = {}
    for item in _as_list(container.get("Setting")):
        if not isinstance(item, dict):
            continue
        setting_id = _as_str(item.get("id"))
        kind = _as_str(item.get("type"))
        if setting_id is None or kind is None or setting_id in settings:
            continue
        settings[setting_id] = PlexSetting(
            id=setting_id,
            label=_as_str(item.get("label")) or setting_id,
            type=kind,
            value=_setting_value(kind, item.get("value")),
            group=_as_str(item.get("group")),
            choices=_choices(item.get("enumValues")),
        )
    return list(settings.values())


def _parse_activity(item: Any) -> PlexActivity | None:
    if not isinstance(item, dict):
        return None
    uuid = _as_str(item.get("uuid"))
    if uuid is None:
        return None
    progress = _as_int(item.get("progress"))
    context = item.get("Context")
    return PlexActivity(
        uuid=uuid,
        type=_as_str(item.get("type")) or "unknown",
        title=_as_str(item.get("title")) or "",
        subtitle=_as_str(item.get("subtitle")),
        progress=progress if progress is not None and 0 <= progress <= 100 else None,
        cancellable=_as_bool(item.get("cancellable")),
        library_section=(
            _as_str(context.get("librarySectionID"))
            if isinstance(context, dict)
            else None
        ),
    )


def parse_activities(data: dict[str, Any]) -> list[PlexActivity]:
    """Read ``GET /activities``; an idle server omits the ``Activity`` key."""
    container = data.get("MediaContainer")
    if not isinstance(container, dict):
        raise PlexResponseError("The answer has no MediaContainer")
    activities = (_parse_activity(item) for item in _as_list(container.get("Activity")))
    return list({a.uuid: a for a in activities if a is not None}.values())


def parse_notification(text: str) -> list[ActivityNotification]:
    """Read the activity items of one websocket frame; any other frame gives []."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return []
    container = data.get("NotificationContainer") if isinstance(data, dict) else None
    if not isinstance(container, dict) or container.get("type") != "activity":
        return []
    notes: list[ActivityNotification] = []
    for item in _as_list(container.get("ActivityNotification")):
        if not isinstance(item, dict):
            continue
        event = _as_str(item.get("event"))
        activity = _parse_activity(item.get("Activity"))
        uuid = _as_str(item.get("uuid")) or (activity.uuid if activity else None)
        if event is None or uuid is None:
            continue
        notes.append(ActivityNotification(event=event, uuid=uuid, activity=activity))
    return notes


def _handshake_error(status: int) -> PlexError:
    if status in (401, 403):
        return PlexAuthenticationError(f"The server refused the token ({status})")
    if status == 404:
        return PlexNotFoundError("The server has no notification websocket")
    return PlexResponseError(f"Websocket refused with HTTP status {status}")


class PlexNotificationStream:
    """An open notification websocket: iterate it for activity notifications.

    Frames that carry no activity (other types, unknown shapes, binary) are
    skipped. Iteration ends when the server closes the socket, and raises
    ``PlexConnectionError`` when it breaks or stops answering pings.
    """

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an open websocket."""
        self._socket = socket

    async def close(self) -> None:
        """Close the websocket (idempotent)."""
        await self._socket.close()

    async def __aiter__(self) -> AsyncIterator[list[ActivityNotification]]:
        """Yield the activity notifications of each frame that has some.

        A quiet socket is pinged (see ``NOTIFICATIONS_HEARTBEAT``); the
        server's own pings are answered here, as the socket does not.
        """
        awaiting_pong = False
        while True:
            quiet = (
                NOTIFICATIONS_HEARTBEAT / 2
                if awaiting_pong
                else NOTIFICATIONS_HEARTBEAT
            )
            try:
                message = await self._socket.receive(timeout=quiet)
            except TimeoutError:
                if awaiting_pong:
                    raise PlexConnectionError(
                        "The server stopped answering pings"
                    ) from None
                await self._send(self._socket.ping())
                awaiting_pong = True
                continue
            awaiting_pong = False  # any frame shows the link is alive
            kind = message.type
            if kind is aiohttp.WSMsgType.TEXT:
                if notes := parse_notification(message.data):
                    yield notes
            elif kind is aiohttp.WSMsgType.PING:
                await self._send(self._socket.pong(message.data))
            elif kind is aiohttp.WSMsgType.ERROR:
                raise PlexConnectionError("The websocket broke")
            elif kind in _SOCKET_ENDED:
                return

    @staticmethod
    async def _send(frame: Awaitable[None]) -> None:
        """Send a control frame; a socket that broke meanwhile ends the stream."""
        try:
            await frame
        except (aiohttp.ClientError, OSError) as err:
            raise PlexConnectionError("The websocket broke") from err


_SOCKET_ENDED: Final = frozenset(
    {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}
)


__all__ = [
    "ActivityNotification",
    "ButlerTask",
    "LibrarySection",
    "PlexActivity",
    "PlexAuthenticationError",
    "PlexBadRequestError",
    "PlexButlerClient",
    "PlexCertificateHostnameError",
    "PlexCertificateUntrustedError",
    "PlexConnectionError",
    "PlexConnectionRefusedError",
    "PlexError",
    "PlexHostNotFoundError",
    "PlexNotFoundError",
    "PlexNotHttpsError",
    "PlexNotificationStream",
    "PlexResponseError",
    "PlexResponseTooLargeError",
    "PlexSSLError",
    "PlexServer",
    "PlexSetting",
    "PlexTimeoutError",
    "StartResult",
    "StopResult",
]
