"""Run the Plex simulator for a developer and print every request it answers.

``python -m tests.plex_simulator`` serves quietly; when you press a button in
the UI you want to see ``POST /butler/OptimizeDatabase -> 200`` arrive, and
``scripts/screenshots`` reads these lines to prove the press reached the server.
Same options as the simulator.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys

from aiohttp import web

from tests.plex_simulator import TASK_SETS, PlexSimulator, SimTask, _parse_args


async def _print_request(request: web.Request, response: web.StreamResponse) -> None:
    """One line per answer, flushed at once so a reader of the pipe sees it."""
    print(f"REQUEST {request.method} {request.path} -> {response.status}", flush=True)


async def _serve(argv: list[str]) -> None:
    args = _parse_args(argv)
    extra = [SimTask(name, name, f"{name} (simulated)") for name in args.extra_task]
    sim = PlexSimulator(
        token=args.token or secrets.token_urlsafe(15),
        shared_token=args.shared_token,
        friendly_name=args.name,
        run_seconds=args.run_seconds,
        tasks=[*TASK_SETS[args.tasks], *extra],
    )
    if args.machine_identifier:
        sim.machine_identifier = args.machine_identifier
    # aiohttp types this signal for newer aiosignal releases than HA 2025.4 pins.
    sim.app.on_response_prepare.append(_print_request)  # type: ignore[arg-type]
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


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(sys.argv[1:]))


if __name__ == "__main__":
    main()
