"""A peer reads the simulator: python-plexapi, which is tested on real servers.

plexapi asks for XML (no ``Accept: application/json``), so these tests keep the
simulator's XML honest. If plexapi cannot read an answer, fix the simulator.
plexapi is synchronous: it runs in the executor while the loop serves it. It
gets every setting it needs as an argument, and a session that ignores proxy
settings, so it talks to 127.0.0.1 only (and never to plex.tv).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import replace
from functools import partial
from urllib.parse import urlsplit

from homeassistant.core import HomeAssistant
from plexapi.exceptions import BadRequest, NotFound
from plexapi.server import PlexServer
import pytest
import requests

from .plex_simulator import (
    CURRENT_TASKS,
    DEFAULT_LIBRARIES,
    OLD_TASKS,
    PlexSimulator,
    SimTask,
)


@pytest.fixture
async def peer(hass: HomeAssistant, plex: PlexSimulator) -> AsyncGenerator[PlexServer]:
    """A plexapi server object connected to the simulator (it reads ``/``)."""
    urls: list[str] = []
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    session.hooks["response"].append(lambda response, **_: urls.append(response.url))
    try:
        yield await hass.async_add_executor_job(
            partial(PlexServer, plex.url, plex.token, session=session, timeout=10)
        )
    finally:
        session.close()
    assert urls
    assert {urlsplit(url).netloc for url in urls} == {f"127.0.0.1:{plex.port}"}
    assert all(plex.token not in url for url in urls)


async def test_identity_matches(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    """The peer reads the server's name, id and version from ``/`` and ``/identity``."""
    assert (peer.friendlyName, peer.machineIdentifier, peer.version) == (
        plex.friendly_name,
        plex.machine_identifier,
        plex.version,
    )
    identity = await hass.async_add_executor_job(peer.identity)
    assert (identity.machineIdentifier, identity.version, identity.claimed) == (
        plex.machine_identifier,
        plex.version,
        True,
    )


@pytest.mark.parametrize(
    "tasks",
    [
        CURRENT_TASKS,
        (*OLD_TASKS[:-1], replace(OLD_TASKS[-1], schedule_randomized=True)),
        (),
    ],
    ids=["current", "old-one-randomized", "none"],
)
async def test_butler_tasks_match(
    hass: HomeAssistant,
    plex: PlexSimulator,
    peer: PlexServer,
    tasks: tuple[SimTask, ...],
) -> None:
    """The peer lists every task with the simulator's fields, booleans included."""
    plex.set_tasks(tasks)
    listed = await hass.async_add_executor_job(peer.butlerTasks)
    assert [
        (t.name, t.title, t.description, t.interval, t.enabled, t.scheduleRandomized)
        for t in listed
    ] == [
        (t.name, t.title, t.description, t.interval, t.enabled, t.schedule_randomized)
        for t in tasks
    ]


async def test_start_then_202_while_running(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    """A first start is a 200; plexapi's complaint at the second proves the 202."""
    await hass.async_add_executor_job(peer.runButlerTask, "BackupDatabase")
    with pytest.raises(BadRequest, match=r"^\(202\) accepted;"):
        await hass.async_add_executor_job(peer.runButlerTask, "BackupDatabase")
    assert [r.status for r in plex.requests_to("POST", "/butler/BackupDatabase")] == [
        200,
        202,
    ]


async def test_unknown_task_is_404(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    """The peer refuses a task ``/butler`` lacks; a POST anyway gets NotFound (404)."""
    with pytest.raises(BadRequest, match="Invalid butler task: NoSuchTask"):
        await hass.async_add_executor_job(peer.runButlerTask, "NoSuchTask")
    assert not plex.requests_to("POST", "/butler/NoSuchTask")

    post = partial(peer.query, "/butler/NoSuchTask", method=peer._session.post)
    with pytest.raises(NotFound, match=r"^\(404\) not_found;"):
        await hass.async_add_executor_job(post)
    assert [r.status for r in plex.requests_to("POST", "/butler/NoSuchTask")] == [404]


async def test_settings_match(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    """The peer reads /:/prefs with typed values (XML booleans are 1/0)."""
    settings = await hass.async_add_executor_job(lambda: peer.settings)
    assert settings.get("butlerStartHour").value == 2
    assert settings.get("butlerTaskRefreshLibraries").value is False
    assert settings.get("butlerTaskBackupDatabase").value is True
    assert settings.get("butlerDatabaseBackupPath").value == "/config/backups"
    assert settings.get("loudnessAnalysisBehavior").enumValues == {
        "never": "never",
        "scheduled": "as a scheduled task",
        "asap": "as soon as possible",
    }


async def test_activities_match(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    """The peer lists running activities, and none when idle (no Activity element)."""
    assert await hass.async_add_executor_job(lambda: peer.activities) == []
    started = plex.start_activity("library.update.section", "Scanning", "Movies")
    [activity] = await hass.async_add_executor_job(lambda: peer.activities)
    assert (activity.uuid, activity.type, activity.title, activity.subtitle) == (
        started.uuid,
        "library.update.section",
        "Scanning",
        "Movies",
    )
    assert (activity.progress, activity.cancellable) == (0, False)


async def test_library_sections_match(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    """The peer reads each library's key, uuid, title, type, folders and state."""
    plex.set_libraries(list(DEFAULT_LIBRARIES))
    plex.scanning["7"] = asyncio.get_running_loop().time() + 60
    # ``peer.library`` reads /library: in the executor too, not in the loop.
    library = await hass.async_add_executor_job(getattr, peer, "library")
    sections = await hass.async_add_executor_job(library.sections)
    assert [
        (s.key, s.uuid, s.title, s.type, s.locations, s.refreshing) for s in sections
    ] == [
        (
            int(lib.key),
            lib.uuid,
            lib.title,
            lib.type,
            list(lib.locations),
            lib.key == "7",
        )
        for lib in DEFAULT_LIBRARIES
    ]


async def test_section_update_starts_a_scan_of_the_library_or_a_folder(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    """``update()`` and ``update(path=...)`` reach the simulator's refresh."""
    plex.set_libraries(list(DEFAULT_LIBRARIES))
    library = await hass.async_add_executor_job(getattr, peer, "library")
    section = await hass.async_add_executor_job(library.sectionByID, 7)
    await hass.async_add_executor_job(section.update)
    await hass.async_add_executor_job(
        partial(section.update, path="/data/youtube/Rock & Roll")
    )
    assert plex.refreshes("7") == [{}, {"path": "/data/youtube/Rock & Roll"}]
    assert plex.is_refreshing("7")


async def test_unknown_section_refresh_is_404(
    hass: HomeAssistant, plex: PlexSimulator, peer: PlexServer
) -> None:
    query = partial(peer.query, "/library/sections/99/refresh")
    with pytest.raises(NotFound, match=r"^\(404\) not_found;"):
        await hass.async_add_executor_job(query)
