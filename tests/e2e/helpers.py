"""Run a real Home Assistant process and talk to it like a client would.

``HassProcess`` owns one ``python -m homeassistant`` subprocess and its config
directory; ``HassApi`` is a small aiohttp client for its REST and websocket
APIs. Nothing here knows about Plex Butler beyond putting it into
``custom_components``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
import itertools
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[2]
INTEGRATION_DIR = REPO_ROOT / "custom_components" / "plex_butler"
CONFIG_TEMPLATE_DIR = Path(__file__).resolve().parent / "ha_config"

# Generous bounds on waiting for things that happen asynchronously in the other
# process; they are deadlines, not expectations of speed.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
EVENTUALLY_TIMEOUT = 30.0

CONFIGURATION_YAML = """\
homeassistant:
  name: Plex Butler E2E
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: NL
  currency: EUR
  language: {language}
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
  logs:
    custom_components.plex_butler: debug
    homeassistant.components.automation: info
automation: !include automations.yaml
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class HassProcess:
    """One Home Assistant process on 127.0.0.1, stopped and started by PID."""

    config_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @classmethod
    def create(cls, base: Path, port: int, language: str = "en") -> HassProcess:
        """Lay out a config dir: our YAML, the integration, a stand-in frontend.

        ``language`` is the instance's ``homeassistant: language:``.
        """
        config_dir = base / "config"
        shutil.copytree(CONFIG_TEMPLATE_DIR, config_dir)
        shutil.copytree(
            INTEGRATION_DIR,
            config_dir / "custom_components" / "plex_butler",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        (config_dir / "configuration.yaml").write_text(
            CONFIGURATION_YAML.format(port=port, language=language), encoding="utf-8"
        )
        return cls(config_dir=config_dir, port=port, log_path=base / "hass.log")

    @property
    def url(self) -> str:
        """Base URL of its HTTP server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start ``hass`` on the config dir; its output goes to ``log_path``.

        The working directory is the config dir: started from the repository,
        Python would import the repository's ``custom_components`` package
        instead of the config dir's, and miss the stand-in frontend.
        """
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
                [
                    sys.executable,
                    "-m",
                    "homeassistant",
                    "--config",
                    str(self.config_dir),
                    "--skip-pip",
                ],
                cwd=self.config_dir,
                env=_environment_without_coverage(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def stop(self) -> int:
        """Ask it to stop (SIGTERM, so it saves its storage) and wait; return the code."""
        process = self.process
        assert process is not None
        process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        while (code := process.poll()) is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise AssertionError(f"hass (pid {process.pid}) ignored SIGTERM")
            await asyncio.sleep(0.1)
        return code

    def kill(self) -> None:
        """Make sure the process is gone: the fixture's finalizer, also on failure."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 200) -> str:
        """The end of Home Assistant's output, for failure reports."""
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def assert_running(self) -> None:
        """Fail at once, rather than at a deadline, if hass exited."""
        process = self.process
        assert process is not None
        code = process.poll()
        assert code is None, f"hass exited with code {code}; see its log below"


async def eventually[T](
    check: Callable[[], Awaitable[T | None]],
    what: str,
    within: float = EVENTUALLY_TIMEOUT,
) -> T:
    """Poll ``check`` until it returns something other than None or False."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = await check()
        if result is not None and result is not False:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")


class HassWebsocket:
    """One authenticated websocket connection; ``command`` sends and awaits."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Number commands from 1, as Home Assistant requires."""
        self._ws = ws
        self._ids = itertools.count(1)

    async def command(self, command_type: str, **data: Any) -> Any:
        """Send a command and return its result; raise with its error otherwise."""
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "type": command_type, **data})
        while True:
            message = await self._ws.receive_json(timeout=EVENTUALLY_TIMEOUT)
            if message.get("id") == message_id and message["type"] == "result":
                break
        if not message["success"]:
            raise WebsocketCommandError(message["error"])
        return message["result"]

    async def subscribe(self, event_type: str) -> None:
        """Subscribe to one event type; ``next_event`` then returns its events."""
        await self.command("subscribe_events", event_type=event_type)

    async def next_event(self) -> dict[str, Any]:
        """The next event of a subscription: its ``event_type``, ``data``...

        Messages that are not events (results of earlier commands) are skipped.
        """
        while True:
            message = await self._ws.receive_json(timeout=EVENTUALLY_TIMEOUT)
            if message["type"] == "event":
                event: dict[str, Any] = message["event"]
                return event


class WebsocketCommandError(Exception):
    """A websocket command answered ``success: false``."""

    def __init__(self, error: dict[str, Any]) -> None:
        """Keep the error code, e.g. ``service_validation_error``, and the rest."""
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code: str = error.get("code", "")
        self.error = error


@dataclass
class HassApi:
    """A client of one Home Assistant's REST and websocket APIs."""

    session: aiohttp.ClientSession
    base_url: str
    access_token: str | None = None

    def _auth(self) -> dict[str, str]:
        assert self.access_token, "log in first"
        return {"Authorization": f"Bearer {self.access_token}"}

    async def _answers(self, path: str, auth: bool) -> bool:
        """Whether ``GET path`` answers 200 now (False while not listening)."""
        try:
            async with self.session.get(
                f"{self.base_url}{path}", headers=self._auth() if auth else None
            ) as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False

    async def wait_for_onboarding(self, hass: HassProcess) -> None:
        """Wait until a fresh instance offers onboarding."""

        async def ready() -> bool:
            hass.assert_running()
            return await self._answers("/api/onboarding", auth=False)

        await eventually(ready, "the onboarding API", START_TIMEOUT)

    async def wait_until_running(self, hass: HassProcess) -> None:
        """Wait until Home Assistant says it has finished starting."""

        async def running() -> bool:
            hass.assert_running()
            if not await self._answers("/api/", auth=True):
                print("not yet", __import__("datetime").datetime.now())
                return False
            config = await self.get("/api/config")
            return bool(config["state"] == "RUNNING")

        await eventually(running, "Home Assistant to reach RUNNING", START_TIMEOUT)

    async def onboard(self) -> str:
        """Create the owner through onboarding and log in; return the access token.

        ``client_id`` is this instance's own URL, as the frontend would send.
        """
        client_id = f"{self.base_url}/"
        async with self.session.post(
            f"{self.base_url}/api/onboarding/users",
            json={
                "client_id": client_id,
                "name": "E2E Owner",
                "username": "e2e",
                "password": "e2e-password-not-secret",
                "language": "en",
            },
        ) as response:
            assert response.status == 200, await response.text()
            auth_code = (await response.json())["auth_code"]
        async with self.session.post(
            f"{self.base_url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": auth_code,
                "client_id": client_id,
            },
        ) as response:
            assert response.status == 200, await response.text()
            tokens = await response.json()
        self.access_token = tokens["access_token"]
        return str(tokens["access_token"])

    async def request(
        self, method: str, path: str, json: Any = None
    ) -> tuple[int, Any]:
        """Send an authenticated request; return the status and the JSON body."""
        async with self.session.request(
            method, f"{self.base_url}{path}", json=json, headers=self._auth()
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def get(self, path: str) -> Any:
        """GET that must answer 200."""
        status, body = await self.request("GET", path)
        assert status == 200, f"GET {path}: {status} {body}"
        return body

    async def post(self, path: str, json: Any = None) -> Any:
        """POST that must answer 200."""
        status, body = await self.request("POST", path, json)
        assert status == 200, f"POST {path}: {status} {body}"
        return body

    async def state(self, entity_id: str) -> str | None:
        """The entity's state, or None if Home Assistant has no state for it."""
        status, body = await self.request("GET", f"/api/states/{entity_id}")
        if status == 404:
            return None
        assert status == 200, f"state of {entity_id}: {status} {body}"
        return str(body["state"])

    async def entries(self, domain: str) -> list[dict[str, Any]]:
        """The config entries of one integration, with their state."""
        entries: list[dict[str, Any]] = await self.get(
            f"/api/config/config_entries/entry?domain={domain}"
        )
        return entries

    @asynccontextmanager
    async def websocket(self) -> AsyncIterator[HassWebsocket]:
        """An authenticated websocket connection, closed on exit."""
        async with self.session.ws_connect(f"{self.base_url}/api/websocket") as ws:
            assert (await ws.receive_json())["type"] == "auth_required"
            await ws.send_json({"type": "auth", "access_token": self.access_token})
            reply = await ws.receive_json()
            assert reply["type"] == "auth_ok", reply
            yield HassWebsocket(ws)


def _environment_without_coverage() -> dict[str, str]:
    """Our environment minus pytest-cov's subprocess hooks.

    pytest-cov would measure ``hass`` too, but from the config dir it misses the
    project's coverage settings and writes statement-only data that cannot be
    combined with the suite's branch data (and it measures a copy of the code).
    """
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("COV_CORE_")
    }


async def add_server_with_token(api: HassApi, url: str, token: str) -> str:
    """Add a server the way a user does by hand: the menu's manual form.

    Returns the loaded entry's id.
    """
    flow = await api.post(
        "/api/config/config_entries/flow",
        {"handler": "plex_butler", "show_advanced_options": False},
    )
    assert flow["type"] == "menu", flow
    form = await api.post(
        f"/api/config/config_entries/flow/{flow['flow_id']}", {"next_step_id": "manual"}
    )
    assert form["step_id"] == "manual", form
    done = await api.post(
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {"url": url, "token": token, "verify_ssl": True},
    )
    assert done["type"] == "create_entry", done
    assert done["result"]["state"] == "loaded"
    entry_id: str = done["result"]["entry_id"]
    return entry_id
