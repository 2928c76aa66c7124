"""A Plex Media Server simulator for the butler API, over real HTTP.

It follows ../shared/plex-api.md, quirks included: ``POST /butler/{name}``
answers 200 when a task starts, 202 when it already runs and 404 for a task
this server does not have; answers are XML unless the client sends
``Accept: application/json``; ``GET /identity`` needs no token. Libraries:
``GET /library/sections`` lists them with their ``Location`` folders and
``refreshing``; ``GET /library/sections/{key}/refresh`` (``?path=``,
``?force=1``) starts a scan that runs ``scan_seconds``, 404 for an unknown key.

Tests drive it in-process (``PlexSimulator``: switch faults, read the request
log, stop and start it on the same port). Developers run it alone:

    python -m tests.plex_simulator --port 32400 --token dev-token
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import json
import logging
import secrets
import signal
import ssl
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import quoteattr

from aiohttp import WSMsgType, web

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimTask:
    """A butler task as ``GET /butler`` describes it."""

    name: str
    title: str
    description: str = ""
    interval: int = 7
    enabled: bool = True
    schedule_randomized: bool = False


def _task(name: str, title: str, interval: int = 7, enabled: bool = True) -> SimTask:
    return SimTask(name, title, f"{title} (simulated)", interval, enabled)


# The 14 task names of the older API documentation.
OLD_TASKS: tuple[SimTask, ...] = (
    _task("BackupDatabase", "Backup Database", 3),
    _task("BuildGracenoteCollections", "Build Gracenote Collections"),
    _task("CheckForUpdates", "Check For Updates", 1),
    _task("CleanOldBundles", "Clean Old Bundles"),
    _task("CleanOldCacheFiles", "Clean Old Cache Files"),
    _task("DeepMediaAnalysis", "Deep Media Analysis"),
    _task("GenerateAutoTags", "Generate Auto Tags"),
    _task("GenerateChapterThumbs", "Generate Chapter Thumbnails"),
    _task("GenerateMediaIndexFiles", "Generate Media Index Files"),
    _task("OptimizeDatabase", "Optimize Database"),
    _task("RefreshLibraries", "Refresh Libraries", 1, enabled=False),
    _task("RefreshLocalMedia", "Refresh Local Media", 3),
    _task("RefreshPeriodicMetadata", "Refresh Periodic Metadata", 1),
    _task("UpgradeMediaAnalysis", "Upgrade Media Analysis"),
)

# The 22 task names of the current documentation (PMS >= 1.42.2).
CURRENT_TASKS: tuple[SimTask, ...] = (
    _task("AutomaticUpdates", "Automatic Updates", 1),
    _task("BackupDatabase", "Backup Database", 3),
    _task("ButlerTaskGenerateAdMarkers", "Generate Ad Markers"),
    _task("ButlerTaskGenerateCreditsMarkers", "Generate Credits Markers"),
    _task("ButlerTaskGenerateIntroMarkers", "Generate Intro Markers"),
    _task("ButlerTaskGenerateVoiceActivity", "Generate Voice Activity"),
    _task("CleanOldBundles", "Clean Old Bundles"),
    _task("CleanOldCacheFiles", "Clean Old Cache Files"),
    _task("DeepMediaAnalysis", "Deep Media Analysis"),
    _task("GarbageCollectBlobs", "Garbage Collect Blobs"),
    _task("GarbageCollectLibraryMedia", "Garbage Collect Library Media"),
    _task("GenerateBlurHashes", "Generate Blur Hashes"),
    _task("GenerateChapterThumbs", "Generate Chapter Thumbnails"),
    _task("GenerateMediaIndexFiles", "Generate Media Index Files"),
    _task("LoudnessAnalysis", "Loudness Analysis"),
    _task("MusicAnalysis", "Music Analysis"),
    _task("OptimizeDatabase", "Optimize Database"),
    _task("RefreshEpgGuides", "Refresh EPG Guides", 1),
    _task("RefreshLibraries", "Refresh Libraries", 1, enabled=False),
    _task("RefreshLocalMedia", "Refresh Local Media", 3),
    _task("RefreshPeriodicMetadata", "Refresh Periodic Metadata", 1),
    _task("UpgradeMediaAnalysis", "Upgrade Media Analysis"),
)

TASK_SETS = {"old": OLD_TASKS, "current": CURRENT_TASKS}


@dataclass
class SimSetting:
    """A server setting as ``GET /:/prefs`` describes it."""

    id: str
    label: str
    type: str  # bool, int, text (Plex also has double)
    value: bool | int | str
    group: str = "butler"
    # Plex's ``value:label|value:label``; when set, only these values are valid.
    enum_values: str = ""

    def accepts(self, text: str) -> bool:
        """Whether Plex would take this query value for this setting."""
        if self.type == "bool":
            return text in ("0", "1", "true", "false")
        if self.type == "int":
            try:
                int(text)
            except ValueError:
                return False
        allowed = [pair.partition(":")[0] for pair in self.enum_values.split("|")]
        return not self.enum_values or text in allowed

    def assign(self, text: str) -> None:
        """Store a value ``accepts`` took."""
        if self.type == "bool":
            self.value = text in ("1", "true")
        elif self.type == "int":
            self.value = int(text)
        else:
            self.value = text


def _hour_label(hour: int) -> str:
    return (
        "Midnight" if hour == 0 else f"{hour % 12 or 12} {'am' if hour < 12 else 'pm'}"
    )


HOURS = "|".join(f"{hour}:{_hour_label(hour)}" for hour in range(24))
BEHAVIOUR = "never:never|scheduled:as a scheduled task|asap:as soon as possible"

# The butler's settings of a current server, as Plex Web's Scheduled Tasks page
# shows them, plus two settings of other groups that must be left alone.
BUTLER_TASK_SETTINGS: tuple[tuple[str, str, bool], ...] = (
    ("ButlerTaskBackupDatabase", "Backup database every three days", True),
    ("ButlerTaskOptimizeDatabase", "Optimize database every week", True),
    ("ButlerTaskCleanOldBundles", "Remove old bundles every week", True),
    ("ButlerTaskCleanOldCacheFiles", "Remove old cache files every week", True),
    ("ButlerTaskRefreshLocalMedia", "Refresh local metadata every three days", True),
    ("ButlerTaskRefreshLibraries", "Update all libraries during maintenance", False),
    (
        "ButlerTaskUpgradeMediaAnalysis",
        "Upgrade media analysis during maintenance",
        True,
    ),
    ("ButlerTaskRefreshPeriodicMetadata", "Refresh metadata periodically", True),
    ("ButlerTaskDeepMediaAnalysis", "Perform extensive media analysis", True),
    ("ButlerTaskGarbageCollectBlobs", "Garbage collect blobs", True),
    ("ButlerTaskRefreshEpgGuides", "Perform refresh of program guide data", True),
    ("ButlerTaskReverseGeocode", "Fetch missing location names for photos", True),
    ("ButlerTaskGenerateAutoTags", "Analyze and tag photos", False),
    ("ButlerTaskGenerateMediaIndexFiles", "Generate media index files", True),
)


def default_settings() -> list[SimSetting]:
    """A fresh copy of the settings a current server reports."""
    return [
        SimSetting(
            "FriendlyName", "Friendly name", "text", "Simulated Plex", "general"
        ),
        SimSetting(
            "ButlerStartHour",
            "Time at which tasks start to run",
            "int",
            2,
            enum_values=HOURS,
        ),
        SimSetting(
            "ButlerEndHour",
            "Time at which tasks stop running",
            "int",
            5,
            enum_values=HOURS,
        ),
        *(
            SimSetting(id_, label, "bool", value)
            for id_, label, value in BUTLER_TASK_SETTINGS
        ),
        SimSetting(
            "ButlerDatabaseBackupPath", "Backup directory", "text", "/config/backups"
        ),
        SimSetting(
            "GenerateBIFBehavior",
            "Generate video preview thumbnails",
            "text",
            "asap",
            "library",
            BEHAVIOUR,
        ),
        SimSetting(
            "GenerateChapterThumbBehavior",
            "Generate chapter thumbnails",
            "text",
            "scheduled",
            "library",
            BEHAVIOUR,
        ),
        SimSetting(
            "LoudnessAnalysisBehavior",
            "Analyze audio tracks for loudness",
            "text",
            "never",
            "library",
            BEHAVIOUR,
        ),
        SimSetting(
            "ScannerLowPriority",
            "Run scanner tasks at a lower priority",
            "bool",
            False,
            "library",
        ),
    ]


@dataclass
class SimActivity:
    """Something the simulated server is busy with."""

    uuid: str
    type: str
    title: str
    subtitle: str = ""
    progress: int = 0
    cancellable: bool = False
    # The butler task that started it; Plex does not say this, so it is not sent.
    task: str | None = None
    # Plex's ``Context``, e.g. ``{"librarySectionID": "7"}`` for a library scan.
    context: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The activity as ``/activities`` and the websocket send it."""
        return {
            "uuid": self.uuid,
            "type": self.type,
            "cancellable": self.cancellable,
            "userID": 1,
            "title": self.title,
            "subtitle": self.subtitle,
            "progress": self.progress,
            **({"Context": self.context} if self.context else {}),
        }


# Which activity a started task shows is the simulator's invention: Plex does
# not document it. The library refresh looks like a real section scan.
TASK_ACTIVITY_TYPES = {"RefreshLibraries": "library.update.section"}

# Websocket behaviours a test can switch (``PlexSimulator.websocket``).
WEBSOCKET_MODES = (
    "open",  # accept the websocket
    "refuse",  # answer the handshake with 503
    "absent",  # answer 404, as a server older than the websocket does
    # accept, then send nothing and answer no ping, as a link that died
    # without closing (NAT timeout, Wi-Fi drop, server powered off) looks
    "silent",
)
UNKNOWN_FRAMES = (
    '{"NotificationContainer": {"type": "playing", "size": 1, "PlaySessionStateNotification": [{"sessionKey": "1"}]}}',
    '{"NotificationContainer": {"type": "activity", "size": 1, "ActivityNotification": {"event": "bogus"}}}',
    '{"SomethingNew": {"type": "future"}}',
    "not json at all",
)


@dataclass(frozen=True)
class SimLibrary:
    """A library as ``GET /library/sections`` describes it."""

    key: str
    uuid: str
    title: str
    type: str = "movie"
    locations: tuple[str, ...] = ()


# Libraries of a typical home server: one with two folders, one per kind.
DEFAULT_LIBRARIES: tuple[SimLibrary, ...] = (
    SimLibrary(
        "1",
        "6f1a2b3c-0001-4d5e-8f90-a1b2c3d4e5f6",
        "Movies",
        "movie",
        ("/data/movies", "/mnt/archive/movies"),
    ),
    SimLibrary(
        "2", "6f1a2b3c-0002-4d5e-8f90-a1b2c3d4e5f6", "TV Shows", "show", ("/data/tv",)
    ),
    SimLibrary(
        "7",
        "6f1a2b3c-0007-4d5e-8f90-a1b2c3d4e5f6",
        "YouTube",
        "movie",
        ("/data/youtube",),
    ),
    SimLibrary(
        "9", "6f1a2b3c-0009-4d5e-8f90-a1b2c3d4e5f6", "Music", "artist", ("/data/music",)
    ),
)

# What the websocket would send: a ``NotificationContainer`` notification.
type ActivityListener = Callable[[dict[str, Any]], None]

# Faults a test can switch on (``PlexSimulator.fault``):
FAULTS = (
    "401",  # every token is refused
    "403",  # every token is refused with 403
    "500",  # internal server error
    "503",  # service unavailable
    "garbage",  # 200 with bytes that are neither JSON nor XML
    "html",  # 200 with an HTML error page
    "truncated",  # 200 with JSON cut off in the middle
    "xml",  # XML even when JSON was asked for
    "redirect",  # 302 to another path
    "reset",  # the connection is closed before any answer
    "hang",  # accept the request and never answer
    "slow",  # answer after ``slow_seconds``
    "huge",  # 200 with a 3 MiB body, its length declared
    "huge_chunked",  # 200 with a 3 MiB body in chunks, no length declared
)
HUGE_BODY = b'{"ButlerTasks": {"pad": "' + b"x" * (3 * 1024 * 1024) + b'"}}'


CONTROL_PATH = "/_simulator"
NOTIFICATIONS_PATH = "/:/websockets/notifications"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator saw it, for tests to assert on."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    status: int

    @property
    def url(self) -> str:
        """Path and query, as they would appear in an access log."""
        return f"{self.path}?{self.query_string}" if self.query_string else self.path


@dataclass
class PlexSimulator:
    """State and switches of one simulated server; ``app`` serves it."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(15))
    # A token that can read the server but not its butler (a shared user's).
    shared_token: str | None = None
    shared_status: int = 401
    machine_identifier: str = field(default_factory=lambda: secrets.token_hex(20))
    friendly_name: str = "Simulated Plex"
    version: str = "1.42.2.10156-f737b826c"
    tasks: list[SimTask] = field(default_factory=lambda: list(CURRENT_TASKS))
    # How long a started task "runs"; a second start meanwhile answers 202.
    run_seconds: float = 30.0
    # None by default, so tests about tasks see only tasks; the command line
    # serves DEFAULT_LIBRARIES.
    libraries: list[SimLibrary] = field(default_factory=list)
    # How long a started library scan "runs" (``refreshing`` is true meanwhile).
    scan_seconds: float = 30.0
    # Library key -> loop time its scan ends.
    scanning: dict[str, float] = field(default_factory=dict)
    # Called with each ``library.update.section`` activity notification, as the
    # websocket (``/:/websockets/notifications``) sends it; the websocket
    # endpoint subscribes here. Nothing is scheduled while the list is empty.
    activity_listeners: list[ActivityListener] = field(default_factory=list)
    fault: str | None = None
    # Limit the fault to requests whose path starts with this (e.g. "/butler").
    fault_path: str | None = None
    slow_seconds: float = 2.0
    requests: list[RecordedRequest] = field(default_factory=list)
    running: dict[str, float] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    # Rudeness of real links, switchable at run time: write every body in
    # ``trickle_bytes`` pieces, ``trickle_pause`` seconds apart (Wi-Fi, a NAS,
    # a reverse proxy and TLS records all split replies like this).
    trickle: bool = False
    trickle_bytes: int = 200
    trickle_pause: float = 0.003
    # Print "REQUEST POST /butler/X -> 200" per answer (scripts/develop and
    # scripts/screenshots read these lines).
    print_requests: bool = False
    settings: list[SimSetting] = field(default_factory=default_settings)
    activities: dict[str, SimActivity] = field(default_factory=dict)
    websocket: str = "open"
    # Send the frames of UNKNOWN_FRAMES after each handshake and before each
    # activity frame.
    unknown_frames: bool = False
    # Ping each client once it connects, as a server or a proxy in front of it
    # may; the pongs that come back are kept in ``pongs``.
    ping_clients: bool = False

    def __post_init__(self) -> None:
        """Build the aiohttp app; nothing listens until ``start``."""
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._scan_timers: dict[str, asyncio.TimerHandle] = {}
        self.host = "127.0.0.1"
        self.port = 0
        self.scheme = "http"
        self.app = web.Application(middlewares=[self._middleware])
        self.app.router.add_get("/identity", self._identity)
        self.app.router.add_get("/", self._root)
        self.app.router.add_get("/butler", self._list_tasks)
        self.app.router.add_post("/butler", self._start_all)
        self.app.router.add_delete("/butler", self._stop_all)
        self.app.router.add_post("/butler/{name}", self._start_task)
        self.app.router.add_delete("/butler/{name}", self._stop_task)
        self.app.router.add_get("/:/prefs", self._get_prefs)
        self.app.router.add_put("/:/prefs", self._put_prefs)
        self.app.router.add_get("/activities", self._get_activities)
        self.app.router.add_get(NOTIFICATIONS_PATH, self._notifications)
        self.sockets: set[web.WebSocketResponse] = set()
        # Sockets accepted in "silent" mode: they stay silent for good.
        self._silent: set[web.WebSocketResponse] = set()
        self.websocket_connects = 0
        self.pongs: list[bytes] = []
        self.requests_at_connect = 0
        self._background: set[asyncio.Task[None]] = set()
        self._activity_runs: dict[str, asyncio.Task[None]] = {}
        self.app.router.add_get("/library", self._library)
        self.app.router.add_get("/library/sections", self._list_sections)
        self.app.router.add_get("/library/sections/{key}/refresh", self._refresh)
        self.app.router.add_delete(
            "/library/sections/{key}/refresh", self._cancel_refresh
        )
        # Not Plex: lets a developer switch rudeness on a running simulator.
        self.app.router.add_put(CONTROL_PATH, self._control)

    # --- lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return f"{self.scheme}://{self.host}:{self.port}"

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Listen on ``host:port``; port 0 picks a free one, None reuses the last.

        With ``ssl_context`` it serves https (tests of plex.direct connections).
        """
        self.host = host
        self.scheme = "https" if ssl_context is not None else "http"
        self._release = asyncio.Event()
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=0.5, handle_signals=False
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host,
            self.port if port is None else port,
            reuse_address=True,
            ssl_context=ssl_context,
        )
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        """Stop listening (clients then get connection refused); state is kept.

        Websockets are closed, and activities stop progressing (they stay listed).
        """
        self._release.set()
        for handle in self._scan_timers.values():
            handle.cancel()
        self._scan_timers.clear()
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()  # no new connections while the sockets close
        await self.drop_websockets()
        for task in [*self._activity_runs.values(), *self._background]:
            task.cancel()
        await asyncio.gather(
            *self._activity_runs.values(), *self._background, return_exceptions=True
        )
        self._activity_runs.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- helpers for tests ---------------------------------------------------

    def set_tasks(self, tasks: list[SimTask] | tuple[SimTask, ...]) -> None:
        """Change the task list, as a server upgrade would."""
        self.tasks = list(tasks)

    def set_libraries(self, libraries: list[SimLibrary]) -> None:
        """Change the libraries, as adding, renaming or removing one in Plex does."""
        self.libraries = list(libraries)

    def is_refreshing(self, key: str) -> bool:
        """Whether a scan of library ``key`` started earlier still "runs"."""
        end = self.scanning.get(key)
        if end is None:
            return False
        if asyncio.get_running_loop().time() >= end:
            del self.scanning[key]
            return False
        return True

    def finish_scans(self) -> None:
        """End every running library scan now (no activity is sent)."""
        self.scanning.clear()

    def refreshes(self, key: str) -> list[dict[str, str]]:
        """The query of each request to scan library ``key``, decoded, in order."""
        return [
            dict(parse_qsl(r.query_string))
            for r in self.requests_to("GET", f"/library/sections/{key}/refresh")
        ]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method and path."""
        return [r for r in self.requests if r.method == method and r.path == path]

    def finish_all(self) -> None:
        """End every running task and activity now."""
        self.running.clear()
        for uuid in list(self.activities):
            self.end_activity(uuid)

    def setting(self, setting_id: str) -> SimSetting:
        """The setting with this id (KeyError if the server lacks it)."""
        return next(s for s in self.settings if s.id == setting_id)

    def remove_settings(self, *setting_ids: str) -> None:
        """Drop settings, as an older or differently built server lacks them."""
        self.settings = [s for s in self.settings if s.id not in setting_ids]

    # --- activities and the websocket ----------------------------------------

    def start_activity(
        self,
        type_: str,
        title: str,
        subtitle: str = "",
        *,
        task: str | None = None,
        context: dict[str, str] | None = None,
    ) -> SimActivity:
        """Begin an activity and tell the websockets ("started")."""
        activity = SimActivity(
            secrets.token_hex(8),
            type_,
            title,
            subtitle,
            0,
            task is not None,
            task,
            context,
        )
        self.activities[activity.uuid] = activity
        self._notify("started", activity)
        return activity

    def update_activity(self, uuid: str, progress: int) -> None:
        """Report progress of an activity ("updated")."""
        activity = self.activities[uuid]
        activity.progress = progress
        self._notify("updated", activity)

    def end_activity(self, uuid: str) -> None:
        """End an activity ("ended"); its run, if any, stops."""
        activity = self.activities.pop(uuid, None)
        run = self._activity_runs.pop(uuid, None)
        if run is not None and run is not asyncio.current_task():
            run.cancel()
        if activity is not None:
            self._notify("ended", activity)

    def _start_task_activity(self, task: SimTask) -> None:
        """A started task is an activity that reports progress and ends."""
        activity = self.start_activity(
            TASK_ACTIVITY_TYPES.get(task.name, "butler.task"),
            task.title,
            task=task.name,
        )
        run = asyncio.get_running_loop().create_task(self._run_activity(activity.uuid))
        self._activity_runs[activity.uuid] = run

    async def _run_activity(self, uuid: str) -> None:
        for progress in (25, 50, 75):
            await asyncio.sleep(self.run_seconds / 4)
            self.update_activity(uuid, progress)
        await asyncio.sleep(self.run_seconds / 4)
        self.end_activity(uuid)

    def _end_task_activities(self, name: str | None = None) -> None:
        for activity in list(self.activities.values()):
            if activity.task is not None and name in (None, activity.task):
                self.end_activity(activity.uuid)

    def _notify(self, event: str, activity: SimActivity) -> None:
        frame = {
            "NotificationContainer": {
                "type": "activity",
                "size": 1,
                "ActivityNotification": [
                    {
                        "event": event,
                        "uuid": activity.uuid,
                        "Activity": activity.as_dict(),
                    }
                ],
            }
        }
        if self.sockets:
            texts = [
                *(UNKNOWN_FRAMES if self.unknown_frames else ()),
                json.dumps(frame),
            ]
            self._spawn(self._broadcast(texts))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _broadcast(self, texts: list[str]) -> None:
        for socket in list(self.sockets - self._silent):
            for text in texts:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await socket.send_str(text)

    async def drop_websockets(self) -> None:
        """Close every notification websocket from the server's side."""
        for socket in list(self.sockets):
            await socket.close()

    def release_hung(self) -> None:
        """Let requests held by the "hang" fault finish (they answer 503).

        The client gave up on them at its timeout, but the server side keeps
        waiting; this ends them without stopping the server, so a test can
        check that ``in_flight`` drops back to 0.
        """
        self._release.set()
        self._release = asyncio.Event()

    def is_running(self, name: str) -> bool:
        """Whether a task started earlier is still "running"."""
        end = self.running.get(name)
        if end is None:
            return False
        if asyncio.get_running_loop().time() >= end:
            del self.running[name]
            return False
        return True

    # --- HTTP --------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Any
    ) -> web.StreamResponse:
        # An open websocket lasts for ever: it is not a request in flight.
        counted = request.path != NOTIFICATIONS_PATH
        self.in_flight += counted
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        status = 0
        try:
            response = await self._fault_or(request, handler)
            status = response.status
        except web.HTTPException as err:
            status = err.status
            raise
        finally:
            self.in_flight -= counted
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    request.query_string,
                    dict(request.headers),
                    status,
                )
            )
            if self.print_requests:
                print(
                    f"REQUEST {request.method} {request.path} -> {status}", flush=True
                )
        # Recorded before a trickled body is written: a client may act on the
        # last piece before this coroutine runs again.
        if self.trickle and isinstance(response, web.Response) and response.body:
            return await self._trickled(request, response)
        return response

    async def _trickled(
        self, request: web.Request, response: web.Response
    ) -> web.StreamResponse:
        """Send ``response`` with its body in small pieces and pauses."""
        body = response.body
        assert isinstance(body, bytes)
        stream = web.StreamResponse(status=response.status, headers=response.headers)
        stream.content_length = len(body)
        await stream.prepare(request)
        for start in range(0, len(body), self.trickle_bytes):
            if start:
                await asyncio.sleep(self.trickle_pause)
            await stream.write(body[start : start + self.trickle_bytes])
        await stream.write_eof()
        return stream

    async def _control(self, request: web.Request) -> web.Response:
        """Switch ``trickle`` (on/off) and ``fault`` (a name or none) at run time."""
        if "trickle" in request.query:
            self.trickle = request.query["trickle"] in ("1", "on", "true")
        if "fault" in request.query:
            fault = request.query["fault"]
            if fault not in (*FAULTS, "none"):
                return web.Response(status=400, text=f"unknown fault {fault}")
            self.fault = None if fault == "none" else fault
        return web.json_response({"trickle": self.trickle, "fault": self.fault})

    async def _fault_or(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fault = self.fault
        if fault is None or (
            self.fault_path is not None and not request.path.startswith(self.fault_path)
        ):
            return await handler(request)  # type: ignore[no-any-return]
        if fault == "hang":
            await self._release.wait()
            return web.Response(status=503)
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
            return await handler(request)  # type: ignore[no-any-return]
        if fault in ("401", "403", "500", "503"):
            return web.Response(
                status=int(fault),
                text=f"<html>{fault}</html>",
                content_type="text/html",
            )
        if fault == "garbage":
            return web.Response(
                body=b"\x00\xff{]not json", content_type="application/json"
            )
        if fault == "html":
            return web.Response(
                text="<!DOCTYPE html><html><body><h1>Bad gateway</h1></body></html>",
                content_type="text/html",
            )
        if fault == "truncated":
            return web.Response(
                text='{"ButlerTasks": {"ButlerTask": [{"name": "Bac',
                content_type="application/json",
            )
        if fault == "redirect":
            return web.Response(status=302, headers={"Location": "/elsewhere"})
        if fault == "reset":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)
        if fault == "huge":
            return web.Response(body=HUGE_BODY, content_type="application/json")
        if fault == "huge_chunked":
            stream = web.StreamResponse(headers={"Content-Type": "application/json"})
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            for start in range(0, len(HUGE_BODY), 64 * 1024):
                await stream.write(HUGE_BODY[start : start + 64 * 1024])
            await stream.write_eof()
            return stream
        if fault == "xml":
            request = request.clone(headers={**request.headers, "Accept": "text/xml"})
            return await handler(request)  # type: ignore[no-any-return]
        raise ValueError(f"unknown fault {fault!r}")

    def _token_of(self, request: web.Request) -> str | None:
        return request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")

    def _denied(self, request: web.Request, *, butler: bool) -> web.Response | None:
        """401 for a bad token, the shared status for a shared user's on the butler."""
        token = self._token_of(request)
        if token == self.token:
            return None
        if token is not None and token == self.shared_token:
            return _status(self.shared_status) if butler else None
        return _status(401)

    @staticmethod
    def _wants_json(request: web.Request) -> bool:
        return "application/json" in request.headers.get("Accept", "")

    def _container(
        self,
        request: web.Request,
        root: str,
        attrs: dict[str, Any],
        child: str,
        items: list[dict[str, Any]],
    ) -> web.Response:
        """Answer JSON (``{root: {**attrs, child: items}}``) or the XML equivalent."""
        if self._wants_json(request):
            body: dict[str, Any] = dict(attrs)
            if items:
                body[child] = items
            return web.json_response({root: body})
        xml_items = "".join(f"<{child} {_xml_attrs(item)}/>" for item in items)
        text = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} {_xml_attrs(attrs)}>{xml_items}</{root}>'
        return web.Response(text=text, content_type="text/xml")

    async def _identity(self, request: web.Request) -> web.Response:
        attrs = {
            "size": 0,
            "claimed": True,
            "machineIdentifier": self.machine_identifier,
            "version": self.version,
        }
        return self._container(request, "MediaContainer", attrs, "Directory", [])

    async def _root(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=False)) is not None:
            return denied
        attrs = {
            "size": 3,
            "friendlyName": self.friendly_name,
            "machineIdentifier": self.machine_identifier,
            "version": self.version,
            "platform": "Linux",
            "platformVersion": "6.1",
            "myPlexUsername": "owner@example.invalid",
        }
        dirs = [
            {"count": 1, "key": "activities", "title": "activities"},
            {"count": 1, "key": "butler", "title": "butler"},
            {"count": 1, "key": "library", "title": "library"},
        ]
        return self._container(request, "MediaContainer", attrs, "Directory", dirs)

    async def _list_tasks(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=True)) is not None:
            return denied
        items = [
            {
                "name": t.name,
                "interval": t.interval,
                "scheduleRandomized": t.schedule_randomized,
                "enabled": t.enabled,
                "title": t.title,
                "description": t.description,
            }
            for t in self.tasks
        ]
        return self._container(request, "ButlerTasks", {}, "ButlerTask", items)

    def _start(self, name: str) -> bool:
        """Start a task; False if it was already running."""
        if self.is_running(name):
            return False
        self.running[name] = asyncio.get_running_loop().time() + self.run_seconds
        task = next((t for t in self.tasks if t.name == name), None)
        if task is not None:
            self._start_task_activity(task)
        return True

    async def _start_all(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=True)) is not None:
            return denied
        for task in self.tasks:
            if task.enabled:
                self._start(task.name)
        return web.Response(status=200, content_type="text/html")

    async def _stop_all(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=True)) is not None:
            return denied
        self.running.clear()
        self._end_task_activities()
        return web.Response(status=200, content_type="text/html")

    async def _start_task(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=True)) is not None:
            return denied
        name = request.match_info["name"]
        if name not in {t.name for t in self.tasks}:
            return web.Response(status=404, content_type="text/html")
        started = self._start(name)
        return web.Response(status=200 if started else 202, content_type="text/html")

    async def _stop_task(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=True)) is not None:
            return denied
        name = request.match_info["name"]
        if not self.is_running(name):
            return web.Response(status=404, content_type="text/html")
        del self.running[name]
        self._end_task_activities(name)
        return web.Response(status=200, content_type="text/html")

    async def _get_prefs(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=True)) is not None:
            return denied
        items = [
            {
                "id": s.id,
                "label": s.label,
                "summary": "",
                "type": s.type,
                "default": s.value,
                "value": s.value,
                "hidden": False,
                "advanced": False,
                "group": s.group,
                "enumValues": s.enum_values,
            }
            for s in self.settings
        ]
        attrs = {"size": len(items)}
        return self._container(request, "MediaContainer", attrs, "Setting", items)

    async def _put_prefs(self, request: web.Request) -> web.Response:
        """Change settings; 400 (and no change) for an unknown id or a bad value."""
        if (denied := self._denied(request, butler=True)) is not None:
            return denied
        by_id = {s.id: s for s in self.settings}
        changes = [(k, v) for k, v in request.query.items() if k != "X-Plex-Token"]
        if not changes or any(
            k not in by_id or not by_id[k].accepts(v) for k, v in changes
        ):
            return _status(400)
        for key, value in changes:
            by_id[key].assign(value)
        return web.Response(status=200, content_type="text/html")

    async def _get_activities(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=False)) is not None:
            return denied
        items = [a.as_dict() for a in self.activities.values()]
        attrs = {"size": len(items)}
        return self._container(request, "MediaContainer", attrs, "Activity", items)

    async def _notifications(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request, butler=False)) is not None:
            return denied
        if self.websocket == "absent":
            return _status(404)
        if self.websocket == "refuse":
            return _status(503)
        silent = self.websocket == "silent"
        socket = web.WebSocketResponse(autoping=False)  # pings handled below
        await socket.prepare(request)
        self.sockets.add(socket)
        if silent:
            self._silent.add(socket)
        self.websocket_connects += 1
        self.requests_at_connect = len(self.requests)
        try:
            if self.unknown_frames and not silent:
                for text in UNKNOWN_FRAMES:
                    await socket.send_str(text)
            if self.ping_clients and not silent:
                await socket.ping(b"simulator")
            # Reading ends when the client closes. A silent socket answers no
            # ping; clients send nothing else Plex reads.
            async for message in socket:
                if message.type is WSMsgType.PING and not silent:
                    await socket.pong(message.data)
                elif message.type is WSMsgType.PONG:
                    self.pongs.append(message.data)
        finally:
            self.sockets.discard(socket)
            self._silent.discard(socket)
        return socket

    # --- libraries ---------------------------------------------------------

    async def _library(self, request: web.Request) -> web.Response:
        """``GET /library``: the library's entry points (python-plexapi reads it)."""
        if (denied := self._denied(request, butler=False)) is not None:
            return denied
        dirs = [
            {"key": "sections", "title": "Library Sections"},
            {"key": "recentlyAdded", "title": "Recently Added Content"},
            {"key": "onDeck", "title": "On Deck Content"},
        ]
        attrs = {"size": len(dirs), "title1": "Plex Library"}
        return self._container(request, "MediaContainer", attrs, "Directory", dirs)

    def _section(self, library: SimLibrary) -> dict[str, Any]:
        return {
            "allowSync": True,
            "key": library.key,
            "type": library.type,
            "title": library.title,
            "agent": "tv.plex.agents.movie",
            "scanner": "Plex Movie",
            "language": "en-US",
            "uuid": library.uuid,
            "refreshing": self.is_refreshing(library.key),
            "updatedAt": 1735689600,
            "scannedAt": 1735689600,
        }

    async def _list_sections(self, request: web.Request) -> web.Response:
        """``GET /library/sections``: each library with its ``Location`` folders."""
        if (denied := self._denied(request, butler=False)) is not None:
            return denied
        attrs = {"size": len(self.libraries), "allowSync": False, "title1": "Plex"}
        if self._wants_json(request):
            items = [
                {
                    **self._section(library),
                    "Location": [
                        {"id": index, "path": path}
                        for index, path in enumerate(library.locations, 1)
                    ],
                }
                for library in self.libraries
            ]
            body: dict[str, Any] = dict(attrs)
            if items:
                body["Directory"] = items
            return web.json_response({"MediaContainer": body})
        xml_items = "".join(
            f"<Directory {_xml_attrs(self._section(library))}>"
            + "".join(
                f"<Location {_xml_attrs({'id': index, 'path': path})}/>"
                for index, path in enumerate(library.locations, 1)
            )
            + "</Directory>"
            for library in self.libraries
        )
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<MediaContainer {_xml_attrs(attrs)}>{xml_items}</MediaContainer>"
        )
        return web.Response(text=text, content_type="text/xml")

    def _library_by_key(self, key: str) -> SimLibrary | None:
        return next((lib for lib in self.libraries if lib.key == key), None)

    async def _refresh(self, request: web.Request) -> web.Response:
        """Start a scan (Plex uses GET); ``?path=`` and ``?force=1`` are accepted."""
        if (denied := self._denied(request, butler=False)) is not None:
            return denied
        key = request.match_info["key"]
        library = self._library_by_key(key)
        if library is None:
            return _status(404)
        if not self.is_refreshing(key):
            self._activity(library, "started")
        end = asyncio.get_running_loop().time() + self.scan_seconds
        self.scanning[key] = max(end, self.scanning.get(key, end))
        if self.activity_listeners:
            if (timer := self._scan_timers.pop(key, None)) is not None:
                timer.cancel()
            self._scan_timers[key] = asyncio.get_running_loop().call_at(
                self.scanning[key], self._scan_ended, library
            )
        return web.Response(status=200, content_type="text/html")

    async def _cancel_refresh(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, butler=False)) is not None:
            return denied
        key = request.match_info["key"]
        library = self._library_by_key(key)
        if library is None:
            return _status(404)
        if self.scanning.pop(key, None) is not None:
            if (timer := self._scan_timers.pop(key, None)) is not None:
                timer.cancel()
            self._activity(library, "ended")
        return web.Response(status=200, content_type="text/html")

    def _scan_ended(self, library: SimLibrary) -> None:
        self._scan_timers.pop(library.key, None)
        self.scanning.pop(library.key, None)
        self._activity(library, "ended")

    def _activity(self, library: SimLibrary, event: str) -> None:
        """Tell the listeners that a scan of ``library`` started or ended."""
        if not self.activity_listeners:
            return
        activity_id = f"scan-{library.uuid}"
        notification = {
            "NotificationContainer": {
                "type": "activity",
                "size": 1,
                "ActivityNotification": [
                    {
                        "event": event,
                        "uuid": activity_id,
                        "Activity": {
                            "uuid": activity_id,
                            "type": "library.update.section",
                            "cancellable": True,
                            "userID": 1,
                            "title": f"Scanning {library.title}",
                            "subtitle": "",
                            "progress": 100 if event == "ended" else 0,
                            "Context": {"librarySectionID": library.key},
                        },
                    }
                ],
            }
        }
        for listener in list(self.activity_listeners):
            listener(notification)


def _status(status: int) -> web.Response:
    return web.Response(
        status=status,
        text=f"<html><head><title>{status}</title></head></html>",
        content_type="text/html",
    )


def _xml_attrs(attrs: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    return " ".join(f"{key}={quoteattr(fmt(value))}" for key, value in attrs.items())


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Simulated Plex Media Server (butler API)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=32400)
    parser.add_argument("--token", default=None, help="owner token (random if omitted)")
    parser.add_argument("--shared-token", default=None, help="a non-owner token")
    parser.add_argument("--tasks", choices=sorted(TASK_SETS), default="current")
    parser.add_argument(
        "--extra-task",
        action="append",
        default=[],
        metavar="NAME",
        help="add a task unknown to the integration",
    )
    parser.add_argument(
        "--trickle",
        action="store_true",
        help="write every body in small pieces with pauses, as slow links do "
        f"(switch at run time: PUT {CONTROL_PATH}?trickle=on|off)",
    )
    parser.add_argument("--run-seconds", type=float, default=30.0)
    parser.add_argument(
        "--scan-seconds",
        type=float,
        default=30.0,
        help="how long a started library scan runs",
    )
    parser.add_argument("--name", default="Simulated Plex")
    parser.add_argument("--machine-identifier", default=None)
    parser.add_argument(
        "--print-requests",
        action="store_true",
        help='print "REQUEST METHOD PATH -> STATUS" for every answer',
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    sim = PlexSimulator(
        token=args.token or secrets.token_urlsafe(15),
        shared_token=args.shared_token,
        friendly_name=args.name,
        run_seconds=args.run_seconds,
        scan_seconds=args.scan_seconds,
        libraries=list(DEFAULT_LIBRARIES),
        tasks=[*TASK_SETS[args.tasks], *(_task(n, n) for n in args.extra_task)],
        print_requests=args.print_requests,
        trickle=args.trickle,
    )
    if args.machine_identifier:
        sim.machine_identifier = args.machine_identifier
    await sim.start(args.host, args.port)
    print(f"Plex simulator listening on {sim.url}", flush=True)
    print(f"  token: {sim.token}", flush=True)
    print(f"  machineIdentifier: {sim.machine_identifier}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the simulator until interrupted."""
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
