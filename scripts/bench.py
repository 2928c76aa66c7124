"""Benchmark Plex Butler against the Plex simulator and print how it compares.

Run it as ``scripts/bench [--out FILE]``; it is not a test and always exits 0,
printing MISS next to any target it does not meet. ``--profile CALLS`` instead
profiles a cold setup and CALLS calls of the action and of ``rest_command``
(cProfile; the top entries by own and cumulative time, and what the action
spends that ``rest_command`` does not), to find the work worth removing.

How it measures, and why this way:

* One Home Assistant core runs in this process, built by
  ``pytest_homeassistant_custom_component.common.async_test_home_assistant``:
  the real core (bus, service registry, state machine, entity and device
  registries, config entries, the loader) with only registry *storage* stubbed
  out, and the same aiohttp session every integration shares. Calls go through
  ``hass.services.async_call``, the path automations and the UI end on. A real
  ``hass -c`` process behind its REST API would add an HTTP round trip and
  authentication to every call, the same for all contenders, which would only
  blur the difference between them.
* The simulators run in a child process, as a Plex server would: their work
  neither queues on Home Assistant's loop nor holds its GIL (with a thread,
  whichever contender sent more bytes would be billed the server's parsing
  while it waited for the GIL), and ``time.process_time`` counts only Home
  Assistant's CPU.
* Latency: each round calls ``plex_butler.start_task`` and a ``rest_command``
  set up the way users start butler tasks today, each both answering
  (``return_response``: the action's ``started`` / ``already_running``, the
  rest_command's HTTP status, the only feedback it has) and silent (as an
  automation without ``response_variable`` calls them), and a bare aiohttp POST
  on the shared session (the floor), once each, in a rotating order, so that
  machine noise falls on all alike. The target compares like with like: the
  action answering against the rest_command answering, the way to start a task
  and learn whether it started. The other pairings are printed beside it. The
  simulator's ``run_seconds`` is 0, so every call starts the task (HTTP 200)
  and the task's activity is pushed over the websocket, started to finished,
  while the next calls run, as a busy server's pushes would be.
* Setup: the first entry (cold: Home Assistant also loads the integration,
  from a warm bytecode cache as on every start but the first) once, the same
  entry set up again after an unload (warm) many times, and twenty new entries
  for twenty simulators set up concurrently.
* Idle cost: with every entry loaded and every server's notification
  websocket connected (steady state: activities are pushed, not polled), the
  clock is moved forward one poll interval at a time
  (``async_fire_time_changed``); each simulator counts what it receives. A
  steady poll is 3 requests per server: the task list, the settings and the
  libraries (one request for 4 libraries or for 50); the target allows 3.
  Per hour = requests / (polls x interval) x 3600 s.
* Import time: ``python -X importtime`` in a fresh interpreter (median of
  several runs after one that warms the bytecode cache).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import compileall
from contextlib import asynccontextmanager
import cProfile
from dataclasses import dataclass, field
import json
import logging
import multiprocessing
from multiprocessing.connection import Connection
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Imported after the path is set. The integration itself is not imported here:
# the cold setup below would otherwise not include loading it.
from aiohttp.resolver import AsyncResolver  # noqa: E402
from homeassistant import loader  # noqa: E402
from homeassistant.const import __version__ as ha_version  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402
from homeassistant.helpers.aiohttp_client import async_get_clientsession  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_fire_time_changed,
    async_test_home_assistant,
)

from tests.plex_simulator import (  # noqa: E402
    DEFAULT_LIBRARIES,
    PlexSimulator,
    SimLibrary,
)

DOMAIN = "plex_butler"
TASK = "OptimizeDatabase"
TOKEN = "bench-owner-token"  # noqa: S105 - the simulators' made-up token

TARGET_ACTION_RATIO = 1.0  # no slower than the rest_command users set up today
TARGET_SETUP_MS = 50.0
# Steady state per server per poll: GET /butler, GET /:/prefs and
# GET /library/sections (one request however many libraries: one bench server
# has 50); activities come over the websocket. More than that misses the target.
TARGET_REQUESTS_PER_POLL = 3.0
BENCH_LIBRARIES = 50


# --- the simulators' process ---------------------------------------------------


@dataclass(frozen=True)
class Sim:
    """What Home Assistant's side knows of one simulator."""

    index: int
    url: str
    token: str
    machine_identifier: str
    friendly_name: str


def _simulator_main(conn: Connection) -> None:
    """Serve simulators in a child process, on commands from the pipe."""
    asyncio.run(_serve_simulators(conn))


def _libraries(index: int) -> list[SimLibrary]:
    """The usual four libraries; the second server has BENCH_LIBRARIES."""
    if index != 1:
        return list(DEFAULT_LIBRARIES)
    return [
        SimLibrary(str(n), f"bench-{n}", f"Library {n}", locations=(f"/data/{n}",))
        for n in range(BENCH_LIBRARIES)
    ]


async def _serve_simulators(conn: Connection) -> None:
    sims: list[PlexSimulator] = []
    loop = asyncio.get_running_loop()
    while True:
        command, arg = await loop.run_in_executor(None, conn.recv)
        if command == "start":
            sim = PlexSimulator(
                token=TOKEN,
                machine_identifier=f"{arg:040x}",
                friendly_name=f"Bench Plex {arg}",
                run_seconds=0,  # every start is "started"
                libraries=_libraries(arg),
            )
            await sim.start()
            sims.append(sim)
            conn.send((sim.url, sim.machine_identifier, sim.friendly_name))
        elif command == "log":
            conn.send([[f"{r.method} {r.path}" for r in sim.requests] for sim in sims])
        elif command == "websockets":
            conn.send([len(sim.sockets) for sim in sims])
        else:
            for sim in sims:
                await sim.stop()
            conn.send(None)
            return


class SimulatorProcess:
    """Simulators in a process of their own.

    Kept out of Home Assistant's process so that serving a request never
    holds Home Assistant's GIL or loop (which would bill the server's work to
    whichever contender sends more bytes), and so that ``time.process_time``
    counts Home Assistant's CPU only.
    """

    def __init__(self) -> None:
        """Start the child process; simulators are added with ``start``."""
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_simulator_main, args=(child,), daemon=True
        )
        self._process.start()
        self.simulators: list[Sim] = []

    def _ask(self, command: str, arg: Any = None) -> Any:
        self._conn.send((command, arg))
        return self._conn.recv()

    def start(self, index: int) -> Sim:
        """Start one simulator on a free port."""
        url, machine_identifier, name = self._ask("start", index)
        sim = Sim(index, url, TOKEN, machine_identifier, name)
        self.simulators.append(sim)
        return sim

    def log(self) -> list[list[str]]:
        """Every request each simulator has seen so far, as "METHOD /path"."""
        log: list[list[str]] = self._ask("log")
        return log

    def websockets(self) -> list[int]:
        """How many notification websockets each simulator holds open now."""
        counts: list[int] = self._ask("websockets")
        return counts

    def stop(self) -> None:
        """Stop the simulators and the process."""
        self._ask("stop")
        self._process.join(timeout=5)


# --- helpers --------------------------------------------------------------------


def _entry(sim: Sim) -> Any:
    return MockConfigEntry(
        domain=DOMAIN,
        title=sim.friendly_name,
        unique_id=sim.machine_identifier,
        data={"url": sim.url, "token": sim.token, "verify_ssl": True},
    )


def _warm_bytecode_cache() -> None:
    """Compile the integration's bytecode cache, as Home Assistant's first start does.

    Home Assistant writes ``__pycache__`` the first time it imports an
    integration and loads from it on every later start. Where writing it is
    turned off (``PYTHONDONTWRITEBYTECODE``, as on the development machine),
    every cold setup and import below would also compile the source: a cost a
    real installation pays once per update, and a third of the cold setup.
    """
    _check(
        compileall.compile_dir(ROOT / "custom_components" / DOMAIN, quiet=1),
        "the integration does not compile",
    )


def _check(condition: bool, message: str) -> None:
    """Stop the run: numbers measured on a broken setup mean nothing."""
    if not condition:
        raise RuntimeError(message)


def _ms(ns: float) -> float:
    return ns / 1e6


def _p99(values: list[int]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


@dataclass
class Row:
    """One line of the printed table."""

    name: str
    value: str
    target: str = ""
    verdict: str = ""


@dataclass
class Report:
    """Everything measured, for the table and the JSON file."""

    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)

    def add(
        self, name: str, value: str, target: str = "", passed: bool | None = None
    ) -> None:
        """Add a line; a failed target is remembered for the summary."""
        verdict = "" if passed is None else ("ok" if passed else "MISS")
        if passed is False:
            self.missed.append(f"{name}: {value} (target {target})")
        self.rows.append(Row(name, value, target, verdict))


# --- a: latency -----------------------------------------------------------------


async def _contenders(
    hass: HomeAssistant, sim: Sim, entry_id: str, action_results: list[Any]
) -> dict[str, Callable[[], Awaitable[None]]]:
    """Set up the rest_command and return one call of each contender.

    The latency table and ``--profile`` share these, so the profile shows the
    very calls that are timed. The action's responses go to ``action_results``.
    """
    url = f"{sim.url}/butler/{TASK}"
    _check(
        await async_setup_component(
            hass,
            "rest_command",
            {
                "rest_command": {
                    "plex_optimize": {
                        "url": url,
                        "method": "post",
                        "headers": {"X-Plex-Token": sim.token},
                    }
                }
            },
        ),
        "rest_command did not set up",
    )
    session = async_get_clientsession(hass)
    headers = {"X-Plex-Token": sim.token}

    async def action() -> None:
        action_results.append(
            await hass.services.async_call(
                DOMAIN,
                "start_task",
                {"config_entry_id": entry_id, "task": TASK},
                blocking=True,
                return_response=True,
            )
        )

    async def action_silent() -> None:
        await hass.services.async_call(
            DOMAIN,
            "start_task",
            {"config_entry_id": entry_id, "task": TASK},
            blocking=True,
        )

    async def rest_command() -> None:
        await hass.services.async_call("rest_command", "plex_optimize", blocking=True)

    async def rest_command_answering() -> None:
        answer = await hass.services.async_call(
            "rest_command", "plex_optimize", blocking=True, return_response=True
        )
        if answer is None or answer["status"] != 200:
            raise RuntimeError(f"rest_command answered {answer}")

    async def bare() -> None:
        async with session.post(url, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"bare POST answered {response.status}")

    return {
        "action": action,
        "action_silent": action_silent,
        "rest_command": rest_command,
        "rest_command_answering": rest_command_answering,
        "bare_aiohttp": bare,
    }


# Latency ratios: (name, numerator, denominator). The first is the target.
RATIOS: tuple[tuple[str, str, str], ...] = (
    ("action / rest_command, both answering", "action", "rest_command_answering"),
    ("action / rest_command, both silent", "action_silent", "rest_command"),
    ("action answering / rest_command silent", "action", "rest_command"),
    ("action / bare aiohttp", "action", "bare_aiohttp"),
)


async def bench_latency(
    hass: HomeAssistant,
    *,
    sims: SimulatorProcess,
    sim: Sim,
    entry_id: str,
    rounds: int,
    warmup: int,
) -> dict[str, Any]:
    """Median and p99 of each contender, and the ratios between them."""
    action_results: list[Any] = []
    contenders = await _contenders(hass, sim, entry_id, action_results)
    names = list(contenders)
    samples: dict[str, list[int]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    post = f"POST /butler/{TASK}"
    before = sims.log()[sim.index].count(post)
    for i in range(warmup + rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            call = contenders[name]
            start = clock()
            await call()
            elapsed = clock() - start
            if i >= warmup:
                samples[name].append(elapsed)

    # The numbers only mean something if every call really started the task.
    expected = len(names) * (warmup + rounds)
    posts = sims.log()[sim.index].count(post) - before
    if posts != expected:
        raise RuntimeError(f"expected {expected} POSTs, saw {posts}")
    if any(r != {"task": TASK, "result": "started"} for r in action_results):
        raise RuntimeError("an action call did not answer 'started'")

    result: dict[str, Any] = {"rounds": rounds, "warmup_rounds": warmup}
    for name in names:
        result[name] = {
            "median_ms": _ms(statistics.median(samples[name])),
            "p99_ms": _ms(_p99(samples[name])),
            "mean_ms": _ms(statistics.fmean(samples[name])),
        }
    result["ratios"] = {
        label: {
            "median": result[top]["median_ms"] / result[bottom]["median_ms"],
            "p99": result[top]["p99_ms"] / result[bottom]["p99_ms"],
        }
        for label, top, bottom in RATIOS
    }
    return result


# --- b: setup ----------------------------------------------------------------


async def _setup(hass: HomeAssistant, entry: Any) -> int:
    start = time.perf_counter_ns()
    _check(
        await hass.config_entries.async_setup(entry.entry_id),
        f"setup failed: {entry.reason}",
    )
    await hass.async_block_till_done()
    return time.perf_counter_ns() - start


async def bench_setup_one(
    hass: HomeAssistant, entry: Any, repeats: int
) -> dict[str, Any]:
    """The first (cold) setup, then the same entry again after unloads (warm)."""
    cold = await _setup(hass, entry)
    warm: list[int] = []
    for _ in range(repeats):
        _check(await hass.config_entries.async_unload(entry.entry_id), "unload")
        await hass.async_block_till_done()
        warm.append(await _setup(hass, entry))
    return {
        "cold_ms": _ms(cold),
        "warm_median_ms": _ms(statistics.median(warm)),
        "warm_max_ms": _ms(max(warm)),
        "warm_repeats": repeats,
    }


async def bench_setup_many(
    hass: HomeAssistant, sims: SimulatorProcess, count: int
) -> dict[str, Any]:
    """Set up ``count`` new entries for as many simulators at once."""
    entries = []
    for index in range(1, count + 1):
        entry = _entry(sims.start(index))
        entry.add_to_hass(hass)
        entries.append(entry)
    start = time.perf_counter_ns()
    results = await asyncio.gather(
        *(hass.config_entries.async_setup(entry.entry_id) for entry in entries)
    )
    await hass.async_block_till_done()
    elapsed = time.perf_counter_ns() - start
    _check(all(results), "a setup of many failed")
    return {
        "servers": count,
        "total_ms": _ms(elapsed),
        "per_server_ms": _ms(elapsed) / count,
    }


# --- c: idle cost ---------------------------------------------------------------


async def bench_idle(
    hass: HomeAssistant,
    sims: SimulatorProcess,
    entry: Any,
    polls: int,
    refreshes: int,
) -> dict[str, Any]:
    """Requests per server per poll in steady state, and CPU per poll.

    Steady state means every server's websocket is connected and its catch-up
    read of ``/activities`` is done; counting earlier would bill a poll for a
    connect, or hide a listener that never connects.
    """
    from custom_components.plex_butler.const import SCAN_INTERVAL  # noqa: PLC0415

    interval = SCAN_INTERVAL.total_seconds()
    deadline = time.monotonic() + 30
    while not (
        all(sims.websockets()) and all("GET /activities" in log for log in sims.log())
    ):
        _check(time.monotonic() < deadline, "a server's websocket never connected")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the listener applies its catch-up read
    await hass.async_block_till_done()
    counts_before = [len(log) for log in sims.log()]
    base = dt_util.utcnow()
    for step in range(1, polls + 1):
        async_fire_time_changed(hass, base + SCAN_INTERVAL * step)
        await hass.async_block_till_done(wait_background_tasks=True)
    new = [log[before:] for log, before in zip(sims.log(), counts_before, strict=True)]
    connected_after = sum(1 for count in sims.websockets() if count)
    per_server = [len(requests) for requests in new]
    kinds = {request for requests in new for request in requests}
    per_hour = [count / (polls * interval) * 3600 for count in per_server]

    # CPU per poll: Home Assistant's process only, the simulator runs elsewhere.
    coordinator = entry.runtime_data
    cpu: list[float] = []
    for _ in range(refreshes):
        start = time.process_time()
        await coordinator.async_refresh()
        cpu.append(time.process_time() - start)
    _check(coordinator.last_update_success, "a refresh failed")

    # The floor: the same GET /butler and JSON parse with nothing around it.
    session = async_get_clientsession(hass)
    sim = sims.simulators[0]
    headers = {"X-Plex-Token": sim.token, "Accept": "application/json"}
    floor: list[float] = []
    for _ in range(refreshes):
        start = time.process_time()
        async with session.get(f"{sim.url}/butler", headers=headers) as response:
            json.loads(await response.read())
        floor.append(time.process_time() - start)

    return {
        "servers": len(per_server),
        "simulated_polls": polls,
        "scan_interval_s": interval,
        "websockets_connected_throughout": connected_after,
        "requests_per_server": per_server,
        "request_kinds": sorted(kinds),
        "min_requests_per_server_per_poll": min(per_server) / polls,
        "max_requests_per_server_per_poll": max(per_server) / polls,
        "requests_per_server_per_hour": max(per_hour),
        "extrapolation": "requests / (polls x scan_interval_s) x 3600",
        "cpu_per_poll_ms": statistics.fmean(cpu) * 1000,
        "cpu_per_bare_get_ms": statistics.fmean(floor) * 1000,
        "cpu_samples": refreshes,
    }


# --- d: import time -------------------------------------------------------------


def _parse_importtime(stderr: str) -> tuple[int, int]:
    """Own self time of the package's modules, and the import's cumulative time."""
    own = 0
    cumulative = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        self_us, cum_us, name = int(parts[0]), int(parts[1]), parts[2]
        module = name.strip()
        if module.startswith("custom_components"):
            own += self_us
        # Top-level lines (no nesting indent) that are ours: the import itself.
        if module.startswith("custom_components") and name.startswith(" custom_"):
            cumulative += cum_us
    return own, cumulative


def bench_import(runs: int) -> dict[str, Any]:
    """Import the package in fresh interpreters and read -X importtime."""
    command = [sys.executable, "-X", "importtime", "-c", "import " + DOMAIN_PACKAGE]
    own: list[int] = []
    total: list[int] = []
    for index in range(runs + 1):
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, check=True
        )
        if index == 0:
            continue  # compiles the bytecode cache
        own_us, total_us = _parse_importtime(done.stderr)
        own.append(own_us)
        total.append(total_us)
    return {
        "runs": runs,
        "own_ms": statistics.median(own) / 1000,
        "total_with_dependencies_ms": statistics.median(total) / 1000,
        "own_means": "sum of self times of custom_components.* modules",
        "total_means": "cumulative time of the import statement, homeassistant "
        "modules it pulls in included (interpreter start-up excluded)",
    }


DOMAIN_PACKAGE = f"custom_components.{DOMAIN}"


# --- --profile: where the time goes ------------------------------------------------

# pstats' raw form: (file, line, function) -> (calls, calls, own s, cumulative s, _).
type _Stats = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
type _Row = tuple[float, float, float, str]


# Socket sends, receives and the wait for them: kernel time, not Python work.
_SYSCALLS = {
    ("~", 0, "<method 'send' of '_socket.socket' objects>"),
    ("~", 0, "<method 'recv' of '_socket.socket' objects>"),
    ("~", 0, "<method 'poll' of 'select.epoll' objects>"),
}


def _where(key: tuple[str, int, str]) -> str:
    """``file:line(function)`` with the path cut to what tells modules apart."""
    filename, line, function = key
    if filename == "~":
        return function  # a builtin, such as <method 'send' of ...>
    parts = Path(filename).parts
    for anchor in ("site-packages", "custom_components", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    return f"{'/'.join(parts[-2:])}:{line}({function})"


async def _profiled(work: Callable[[], Awaitable[None]], times: int) -> _Stats:
    """Run ``work`` ``times`` times under cProfile and return the raw stats.

    Since Python 3.12 cProfile also sees other threads, so the imports Home
    Assistant runs in its executor show up too.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(times):
        await work()
    profiler.disable()
    profiler.create_stats()
    return {
        key: (calls, primitive, float(own), float(cumulative), callers)
        for key, (calls, primitive, own, cumulative, callers) in profiler.stats.items()
    }


def _top(stats: _Stats, column: int, top: int) -> list[_Row]:
    """The ``top`` entries by own (column 2) or cumulative (3) time."""
    ranked = sorted(stats.items(), key=lambda item: item[1][column], reverse=True)
    return [(tt, ct, nc, _where(key)) for key, (_, nc, tt, ct, _) in ranked[:top]]


def _table(title: str, rows: list[_Row], calls: int, unit: str = "us") -> list[str]:
    """Lines of one table: own and cumulative time per call, calls per call."""
    scale = {"us": 1e6, "ms": 1e3}[unit]
    lines = [
        f"\n{title}",
        f"{'own ' + unit:>9} {'cum ' + unit:>9} {'n/call':>6}  function",
    ]
    for own, cumulative, count, where in rows:
        lines.append(
            f"{own / calls * scale:9.2f} {cumulative / calls * scale:9.2f} "
            f"{count / calls:6.1f}  {where}"
        )
    return lines


async def profile_action(
    hass: HomeAssistant, *, sim: Sim, entry_id: str, calls: int, top: int
) -> list[str]:
    """Profile the action and rest_command, one after the other.

    cProfile's overhead grows with the number of Python calls, so absolute
    times are inflated; the tables are for finding work, the latency table
    for judging it. Everything the loop runs is profiled, the call's own
    share of the event loop and of aiohttp included.
    """
    action_results: list[Any] = []
    contenders = await _contenders(hass, sim, entry_id, action_results)
    for _ in range(50):  # warm caches and connections outside the profile
        for name in ("action", "rest_command"):
            await contenders[name]()
    action = await _profiled(contenders["action"], calls)
    rest = await _profiled(contenders["rest_command"], calls)
    _check(
        all(r == {"task": TASK, "result": "started"} for r in action_results),
        "an action call did not answer 'started'",
    )

    lines = [f"Profile of {calls} calls each (cProfile; times per call)."]
    for name, stats in (("action", action), ("rest_command", rest)):
        count = sum(nc for _, nc, _, _, _ in stats.values())
        total = sum(tt for _, _, tt, _, _ in stats.values())
        # Time in the kernel swings with the machine's load; the rest is ours.
        waits = sum(tt for key, (_, _, tt, _, _) in stats.items() if key in _SYSCALLS)
        lines.append(
            f"  {name}: {count / calls:.0f} Python function calls, "
            f"{total / calls * 1e6:.1f} us profiled per call, "
            f"{(total - waits) / calls * 1e6:.1f} us of it outside socket I/O"
        )
    lines += _table("action, by own time", _top(action, 2, top), calls)
    lines += _table("action, by cumulative time", _top(action, 3, top), calls)
    lines += _table("rest_command, by own time", _top(rest, 2, top), calls)
    # What the action spends that rest_command does not: the work to remove.
    extra = sorted(
        (
            (tt - rest.get(key, (0, 0, 0.0))[2], ct, nc - rest.get(key, (0, 0))[1], key)
            for key, (_, nc, tt, ct, _) in action.items()
        ),
        reverse=True,
    )
    lines += _table(
        "action minus rest_command, by own time (n/call: extra calls)",
        [(own, ct, n, _where(key)) for own, ct, n, key in extra[:top]],
        calls,
    )
    return lines


async def run_profile(args: argparse.Namespace) -> str:
    """Profile the cold setup of one entry, then its action; nothing else."""
    _warm_bytecode_cache()
    sims = SimulatorProcess()
    async with _home_assistant() as hass:
        sim = sims.start(0)
        entry = _entry(sim)
        entry.add_to_hass(hass)

        async def setup() -> None:
            await _setup(hass, entry)

        cold = await _profiled(setup, 1)
        lines = ["Profile of the cold setup of one entry (cProfile)."]
        lines += _table(
            "cold setup, by cumulative time", _top(cold, 3, args.top), 1, "ms"
        )
        lines += _table("cold setup, by own time", _top(cold, 2, args.top), 1, "ms")
        lines += [""]
        lines += await profile_action(
            hass, sim=sim, entry_id=entry.entry_id, calls=args.profile, top=args.top
        )
    sims.stop()
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------


@asynccontextmanager
async def _home_assistant() -> AsyncIterator[HomeAssistant]:
    """A test-harness Home Assistant that may load custom_components/."""
    # HA's shared session resolves names through zeroconf, which needs the
    # network integration; the simulators' URLs are IP literals, so the tests'
    # plain resolver changes nothing here and keeps mDNS off the network.
    with (
        tempfile.TemporaryDirectory(prefix="plex-butler-bench-") as config_dir,
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            return_value=AsyncResolver(),
        ),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # allow custom_components/
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)


async def run(args: argparse.Namespace) -> Report:
    """Run every measurement in one Home Assistant instance."""
    _warm_bytecode_cache()
    report = Report()
    sims = SimulatorProcess()
    async with _home_assistant() as hass:
        sim = sims.start(0)
        entry = _entry(sim)
        entry.add_to_hass(hass)
        setup_one = await bench_setup_one(hass, entry, args.setup_repeats)
        setup_many = await bench_setup_many(hass, sims, args.servers)
        latency = await bench_latency(
            hass,
            sims=sims,
            sim=sim,
            entry_id=entry.entry_id,
            rounds=args.rounds,
            warmup=args.warmup,
        )
        idle = await bench_idle(hass, sims, entry, args.polls, args.refreshes)
    sims.stop()
    imports = bench_import(args.import_runs)

    a = latency
    for name in (
        "action",
        "action_silent",
        "rest_command_answering",
        "rest_command",
        "bare_aiohttp",
    ):
        report.add(
            f"latency {name} median / p99",
            f"{a[name]['median_ms']:.3f} / {a[name]['p99_ms']:.3f} ms",
        )
    for index, (label, _, _) in enumerate(RATIOS):
        ratio = a["ratios"][label]
        value = f"{ratio['median']:.3f}x (p99 {ratio['p99']:.2f}x)"
        if index == 0:  # the target: like with like
            report.add(
                f"{label} (median)",
                value,
                f"<= {TARGET_ACTION_RATIO}x",
                ratio["median"] <= TARGET_ACTION_RATIO,
            )
        else:
            report.add(f"{label} (median)", value)
    report.add(
        "setup 1 entry, warm (median)",
        f"{setup_one['warm_median_ms']:.1f} ms (max {setup_one['warm_max_ms']:.1f})",
        f"< {TARGET_SETUP_MS:.0f} ms",
        setup_one["warm_median_ms"] < TARGET_SETUP_MS,
    )
    report.add(
        "setup 1 entry, cold (first, loads code)",
        f"{setup_one['cold_ms']:.1f} ms",
        f"< {TARGET_SETUP_MS:.0f} ms",
        setup_one["cold_ms"] < TARGET_SETUP_MS,
    )
    report.add(
        f"setup {setup_many['servers']} entries at once",
        f"{setup_many['total_ms']:.1f} ms ({setup_many['per_server_ms']:.1f} ms each)",
    )
    low = idle["min_requests_per_server_per_poll"]
    high = idle["max_requests_per_server_per_poll"]
    servers = idle["servers"]
    connected = idle["websockets_connected_throughout"]
    report.add(
        "steady-state requests per server per poll",
        f"{high:.2f} (min {low:.2f}; {', '.join(idle['request_kinds']) or 'none'}; "
        f"websocket up {connected}/{servers})",
        f"<= {TARGET_REQUESTS_PER_POLL:.0f}",
        high <= TARGET_REQUESTS_PER_POLL,
    )
    if low == 0:  # no poll at all would meet the target without meaning it
        report.missed.append("idle: a server was never polled; the count is void")
    if connected < servers:  # polls then read activities too: not steady state
        report.missed.append(
            f"idle: {servers - connected} of {servers} websockets dropped while "
            "counting; the count is not steady state"
        )
    report.add(
        "idle requests per server per hour",
        f"{idle['requests_per_server_per_hour']:.1f} "
        f"({idle['simulated_polls']} polls x {idle['scan_interval_s']:.0f} s, "
        f"{idle['servers']} servers)",
    )
    report.add(
        "CPU per poll (HA process)",
        f"{idle['cpu_per_poll_ms']:.3f} ms (bare GET+parse "
        f"{idle['cpu_per_bare_get_ms']:.3f} ms)",
    )
    report.add(
        "import: package's own modules",
        f"{imports['own_ms']:.1f} ms",
    )
    report.add(
        "import: incl. homeassistant deps",
        f"{imports['total_with_dependencies_ms']:.1f} ms",
    )
    report.data = {
        "environment": {
            "python": platform.python_version(),
            "homeassistant": ha_version,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "time": dt_util.utcnow().isoformat(),
        },
        "targets": {
            "action_over_rest_command_both_answering_median": TARGET_ACTION_RATIO,
            "setup_one_entry_ms": TARGET_SETUP_MS,
            "requests_per_server_per_poll": TARGET_REQUESTS_PER_POLL,
        },
        "latency": latency,
        "setup_one": setup_one,
        "setup_many": setup_many,
        "idle": idle,
        "import": imports,
        "missed": report.missed,
    }
    return report


def print_table(report: Report) -> None:
    """Print the results as an aligned text table."""
    header = Row("measure", "value", "target", "")
    rows = [header, *report.rows]
    widths = [
        max(len(getattr(row, col)) for row in rows)
        for col in ("name", "value", "target")
    ]
    for index, row in enumerate(rows):
        print(
            f"{row.name:<{widths[0]}}  {row.value:<{widths[1]}}  "
            f"{row.target:<{widths[2]}}  {row.verdict}".rstrip()
        )
        if index == 0:
            print("-" * (sum(widths) + 12))
    if report.missed:
        print("\nTARGETS MISSED:")
        for line in report.missed:
            print(f"  - {line}")
    else:
        print("\nAll targets met.")


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--rounds", type=int, default=1000, help="latency rounds")
    parser.add_argument("--warmup", type=int, default=50, help="rounds not counted")
    parser.add_argument("--servers", type=int, default=20, help="for the many setup")
    parser.add_argument("--setup-repeats", type=int, default=30)
    parser.add_argument("--polls", type=int, default=12, help="simulated intervals")
    parser.add_argument("--refreshes", type=int, default=200, help="CPU samples")
    parser.add_argument("--import-runs", type=int, default=5)
    parser.add_argument(
        "--profile",
        type=int,
        metavar="CALLS",
        help="only profile CALLS calls of the action and of rest_command",
    )
    parser.add_argument("--top", type=int, default=15, help="rows per profile table")
    args = parser.parse_args(argv)
    if args.rounds < 100:
        parser.error("--rounds must be at least 100 for a p99")

    logging.basicConfig(level=logging.WARNING)
    if args.profile is not None:
        text = asyncio.run(run_profile(args))
        print(text)
        if args.out is not None:
            args.out.write_text(text + "\n")
        return 0
    report = asyncio.run(run(args))
    print_table(report)
    if args.out is not None:
        args.out.write_text(json.dumps(report.data, indent=2) + "\n")
        print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
