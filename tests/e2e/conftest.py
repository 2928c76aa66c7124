"""Fixtures for driving a real Home Assistant process.

The Plex simulator is the shared ``plex`` fixture: it runs in the test's own
event loop, so a test can switch its faults, stop and start it, and read what
it received while Home Assistant talks to it from another process.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from pathlib import Path

import aiohttp
import pytest

from .helpers import HassApi, HassProcess, free_port

_HASS_KEY = pytest.StashKey[HassProcess]()


@pytest.fixture
def hass_process(
    tmp_path: Path, socket_enabled: None, request: pytest.FixtureRequest
) -> Generator[HassProcess]:
    """A Home Assistant config dir and process handle; killed by PID at the end.

    Its language is English unless a test parametrizes this fixture indirectly
    with another one, e.g. ``"de"``.
    """
    language = str(getattr(request, "param", "en"))
    hass = HassProcess.create(tmp_path, free_port(), language)
    request.node.stash[_HASS_KEY] = hass
    yield hass
    hass.kill()


@pytest.fixture
async def hass_api(hass_process: HassProcess) -> AsyncGenerator[HassApi]:
    """An API client for ``hass_process`` (not logged in yet)."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        yield HassApi(session, hass_process.url)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None]:
    """Attach the end of Home Assistant's log to a failed test's report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    hass = item.stash.get(_HASS_KEY, None)
    if hass is not None and report.failed:
        report.sections.append(("Home Assistant log (tail)", hass.log_tail()))
