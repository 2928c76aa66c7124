"""A plex.tv simulator for "Sign in with Plex", over real HTTP.

One base URL stands for plex.tv, clients.plex.tv and app.plex.tv (point
``PLEX_BUTLER_PLEX_TV`` at it): PINs (``/api/v2/pins``, 404 once expired), the
user's servers (``/api/v2/resources``), token checks (``/api/v2/user``) and the
auth page (``/auth``) the user's browser is sent to.

Tests play the user in-process: ``signed_in`` says what a visit to the auth
page does (True: the user signs in and the PIN gets ``user_token``; False:
they never do), ``authorize(code)`` signs in without a browser, and
``resources`` lists the servers (see ``SimResource`` and the connection
builders). Out of process, ``POST /_control`` with JSON such as
``{"signed_in": false, "pin_expires_in": 5}`` does the same. Run it alone:

    python -m tests.plextv_simulator --port 8765 --servers 2

or list servers that already run (a Plex simulator, or a real server) as the
account's own: ``--servers 0 --owned-server http://127.0.0.1:32400 TOKEN``.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
import html
import itertools
import logging
import secrets
import signal
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from .gdm_simulator import GdmResponder
from .plex_simulator import PlexSimulator, RecordedRequest

_LOGGER = logging.getLogger(__name__)

# A fragment ("#?clientID=..") never reaches a server; like app.plex.tv, the
# page reads it in the browser, here by reloading with it as the query.
_FRAGMENT_TO_QUERY = (
    "<script>if (location.hash.startsWith('#?')) "
    "location.replace(location.pathname + '?' + location.hash.slice(2));</script>"
)


@dataclass(frozen=True)
class SimConnection:
    """One entry of a resource's ``connections``."""

    uri: str
    address: str
    port: int
    protocol: str = "http"
    local: bool = True
    relay: bool = False
    ipv6: bool = False

    def as_json(self) -> dict[str, Any]:
        """The connection as plex.tv sends it."""
        return {
            "protocol": self.protocol,
            "address": self.address,
            "port": self.port,
            "uri": self.uri,
            "local": self.local,
            "relay": self.relay,
            "IPv6": self.ipv6,
        }


def connection_to(
    server: PlexSimulator, *, local: bool = True, relay: bool = False
) -> SimConnection:
    """A connection to a running simulated server by its IP (http or https)."""
    return SimConnection(
        server.url, server.host, server.port, server.scheme, local, relay
    )


def plex_direct_connection(
    server: PlexSimulator, plex_hash: str, *, local: bool = True, relay: bool = False
) -> SimConnection:
    """``https://127-0-0-1.<plex_hash>.plex.direct:PORT`` for a TLS server."""
    host = f"{server.host.replace('.', '-')}.{plex_hash}.plex.direct"
    uri = f"https://{host}:{server.port}"
    return SimConnection(uri, server.host, server.port, "https", local, relay)


@dataclass
class SimResource:
    """A server as ``/api/v2/resources`` lists it."""

    name: str
    client_identifier: str
    access_token: str
    connections: list[SimConnection] = field(default_factory=list)
    owned: bool = True
    provides: str = "server"
    product_version: str = "1.42.2.10156-f737b826c"

    @classmethod
    def for_server(
        cls,
        server: PlexSimulator,
        connections: list[SimConnection] | None = None,
        *,
        owned: bool = True,
    ) -> SimResource:
        """The resource of a simulated server; by default one local connection."""
        return cls(
            name=server.friendly_name,
            client_identifier=server.machine_identifier,
            access_token=server.token if owned else server.shared_token or "",
            connections=[connection_to(server)] if connections is None else connections,
            owned=owned,
            product_version=server.version,
        )

    def as_json(self) -> dict[str, Any]:
        """The resource as plex.tv sends it."""
        return {
            "name": self.name,
            "product": "Plex Media Server",
            "productVersion": self.product_version,
            "clientIdentifier": self.client_identifier,
            "provides": self.provides,
            "owned": self.owned,
            "accessToken": self.access_token,
            "presence": True,
            "connections": [c.as_json() for c in self.connections],
        }


@dataclass
class SimPin:
    """A PIN plex.tv handed out."""

    id: int
    code: str
    client_identifier: str
    expires_at: float
    auth_token: str | None = None


class HangingServer:
    """A TCP port on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        """Nothing listens until ``start``."""
        self.port = 0
        self.accepted = 0
        self.first_accepted = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        """The base URL of the silent server."""
        return f"http://127.0.0.1:{self.port}"

    def connection(self, *, local: bool = True) -> SimConnection:
        """A resource connection that times out."""
        return SimConnection(self.url, "127.0.0.1", self.port, "http", local)

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _hold(
        self, _: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        self.first_accepted.set()
        self._writers.append(writer)

    async def stop(self) -> None:
        """Close the held connections and stop listening."""
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


@dataclass
class PlexTvSimulator:
    """State and switches of the simulated plex.tv; ``app`` serves it."""

    user_token: str = field(default_factory=lambda: secrets.token_urlsafe(15))
    username: str = "owner"
    # What a visit to the auth page does: True signs the user in.
    signed_in: bool = True
    pin_expires_in: float = 900.0
    resources: list[SimResource] = field(default_factory=list)
    # Sent as the resources answer instead of ``resources`` when set.
    resources_json: Any = None
    # What every request gets instead of its answer: a status ("500"...),
    # "garbage" (not JSON) or "array" (JSON, but a list of numbers).
    fault: str | None = None
    fault_path: str | None = None
    pins: dict[int, SimPin] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Build the aiohttp app; nothing listens until ``start``."""
        self._ids = itertools.count(111222333)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.app = web.Application(middlewares=[self._middleware])
        self.app.router.add_post("/api/v2/pins", self._create_pin)
        self.app.router.add_get("/api/v2/pins/{id}", self._get_pin)
        self.app.router.add_get("/api/v2/resources", self._resources)
        self.app.router.add_get("/api/v2/user", self._user)
        self.app.router.add_get("/auth", self._auth_page)
        self.app.router.add_post("/_control", self._control)

    @property
    def url(self) -> str:
        """The base URL: the value for ``PLEX_BUTLER_PLEX_TV``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int | None = None) -> None:
        """Listen on 127.0.0.1; port 0 picks a free one, None reuses the last."""
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=0.5, handle_signals=False
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            "127.0.0.1",
            self.port if port is None else port,
            reuse_address=True,
        )
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        """Stop listening (clients then get connection refused); state is kept."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- playing the user ---------------------------------------------------

    def authorize(self, code: str, token: str | None = None) -> bool:
        """Sign the user in for the PIN with this code; False if there is none."""
        pin = self._live_pin(code=code)
        if pin is None:
            return False
        pin.auth_token = token or self.user_token
        return True

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method and path."""
        return [r for r in self.requests if r.method == method and r.path == path]

    def _live_pin(
        self, *, pin_id: int | None = None, code: str | None = None
    ) -> SimPin | None:
        now = asyncio.get_running_loop().time()
        for pin in self.pins.values():
            if (pin.id == pin_id or pin.code == code) and pin.expires_at > now:
                return pin
        return None

    # --- HTTP -----------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Any
    ) -> web.StreamResponse:
        status = 0
        try:
            response = await self._fault_or(request, handler)
            status = response.status
            return response
        finally:
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    request.query_string,
                    dict(request.headers),
                    status,
                )
            )

    async def _fault_or(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fault = self.fault
        if (
            fault is None
            or request.path == "/_control"
            or (
                self.fault_path is not None
                and not request.path.startswith(self.fault_path)
            )
        ):
            return await handler(request)
        if fault == "garbage":
            return web.Response(body=b"{]not json", content_type="application/json")
        if fault == "array":
            return web.json_response([1, 2])
        return web.Response(
            status=int(fault), text=f"<html>{fault}</html>", content_type="text/html"
        )

    async def _create_pin(self, request: web.Request) -> web.Response:
        client_identifier = request.headers.get("X-Plex-Client-Identifier")
        if not client_identifier or not request.headers.get("X-Plex-Product"):
            return web.json_response({"errors": [{"code": 1000}]}, status=400)
        strong = request.query.get("strong") == "true"
        code = secrets.token_hex(12) + "x" if strong else secrets.token_hex(2)
        loop = asyncio.get_running_loop()
        pin = SimPin(
            next(self._ids), code, client_identifier, loop.time() + self.pin_expires_in
        )
        self.pins[pin.id] = pin
        return web.json_response(self._pin_json(pin), status=201)

    async def _get_pin(self, request: web.Request) -> web.Response:
        pin = self._live_pin(pin_id=_int_or_none(request.match_info["id"]))
        if pin is None or pin.client_identifier != request.headers.get(
            "X-Plex-Client-Identifier"
        ):
            return web.json_response({"errors": [{"code": 1020}]}, status=404)
        return web.json_response(self._pin_json(pin))

    def _pin_json(self, pin: SimPin) -> dict[str, Any]:
        remaining = pin.expires_at - asyncio.get_running_loop().time()
        return {
            "id": pin.id,
            "code": pin.code,
            "product": "Plex Web",
            "trusted": False,
            "clientIdentifier": pin.client_identifier,
            "expiresIn": max(0.0, round(remaining, 3)),
            "authToken": pin.auth_token,
            "newRegistration": None,
        }

    async def _resources(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Plex-Token") != self.user_token:
            return web.json_response({"errors": [{"code": 1001}]}, status=401)
        if self.resources_json is not None:
            return web.json_response(self.resources_json)
        return web.json_response([r.as_json() for r in self.resources])

    async def _user(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Plex-Token") != self.user_token:
            return web.json_response({"errors": [{"code": 1001}]}, status=401)
        return web.json_response(
            {"id": 1, "uuid": "0f1e2d3c4b5a6978", "username": self.username}
        )

    async def _auth_page(self, request: web.Request) -> web.Response:
        code = request.query.get("code")
        if code is None:
            return _page("Plex", _FRAGMENT_TO_QUERY)
        if not self.signed_in:
            return _page("Sign in", "Waiting for the user to sign in.")
        if not self.authorize(code):
            return _page("Expired", "This link has expired.", status=404)
        forward_url = request.query.get("forwardUrl")
        if forward_url:
            raise web.HTTPFound(forward_url)
        return _page("Signed in", "You may close this window.")

    async def _control(self, request: web.Request) -> web.Response:
        changes = await request.json()
        for key in ("signed_in", "pin_expires_in", "fault", "fault_path"):
            if key in changes:
                setattr(self, key, changes[key])
        return web.json_response({"signed_in": self.signed_in, "pins": len(self.pins)})


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _page(title: str, body: str, *, status: int = 200) -> web.Response:
    text = f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
    return web.Response(text=text, content_type="text/html", status=status)


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Simulated plex.tv for Sign in with Plex"
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--user-token", default=None, help="random if omitted")
    parser.add_argument("--pin-expires-in", type=float, default=900.0)
    parser.add_argument(
        "--never-sign-in", action="store_true", help="the auth page signs no one in"
    )
    parser.add_argument(
        "--servers", type=int, default=1, help="simulated servers; the first is owned"
    )
    parser.add_argument(
        "--owned-server",
        nargs=2,
        action="append",
        default=[],
        metavar=("URL", "TOKEN"),
        help="also list this running server as owned, with one local connection; "
        "its name, id and version are read from GET URL/ with TOKEN (repeatable)",
    )
    parser.add_argument(
        "--gdm-port", type=int, default=None, help="also answer GDM on this UDP port"
    )
    return parser.parse_args(argv)


async def owned_resource(url: str, token: str) -> SimResource:
    """The resource of a running server the account owns, read from the server."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{url.rstrip('/')}/",
            headers={"X-Plex-Token": token, "Accept": "application/json"},
            raise_for_status=True,
        ) as response,
    ):
        container = (await response.json())["MediaContainer"]
    where = URL(url)
    if where.host is None or where.port is None:
        raise ValueError(f"{url} is not a server's http(s) URL")
    return SimResource(
        name=container["friendlyName"],
        client_identifier=container["machineIdentifier"],
        access_token=token,
        connections=[SimConnection(url, where.host, where.port, where.scheme)],
        product_version=container["version"],
    )


async def _serve(args: argparse.Namespace) -> None:
    plextv = PlexTvSimulator(
        user_token=args.user_token or secrets.token_urlsafe(15),
        signed_in=not args.never_sign_in,
        pin_expires_in=args.pin_expires_in,
    )
    servers = [
        PlexSimulator(
            friendly_name=f"Simulated Plex {n + 1}",
            shared_token=secrets.token_urlsafe(15),
        )
        for n in range(args.servers)
    ]
    for n, server in enumerate(servers):
        await server.start()
        plextv.resources.append(SimResource.for_server(server, owned=n == 0))
        print(f"Plex server {server.friendly_name} on {server.url}", flush=True)
    for url, token in args.owned_server:
        resource = await owned_resource(url, token)
        plextv.resources.append(resource)
        print(f"Owned server {resource.name} at {url}", flush=True)
    await plextv.start(args.port)
    gdm = GdmResponder(servers) if args.gdm_port is not None else None
    if gdm is not None:
        await gdm.start(port=args.gdm_port)
        print(f"GDM answering on udp://127.0.0.1:{gdm.port}", flush=True)
    print(f"PLEX_BUTLER_PLEX_TV={plextv.url}", flush=True)
    print(f"  user token: {plextv.user_token}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if gdm is not None:
        gdm.stop()
    await plextv.stop()
    for server in servers:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the simulator until interrupted."""
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
