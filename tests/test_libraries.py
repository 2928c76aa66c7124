"""Libraries: a button per library, the refresh_library action, and scans in progress.

Everything goes through Home Assistant (states, registries, services) to the
simulator over a real socket; its request log shows what reached Plex.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_FRIENDLY_NAME, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, ServiceResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_butler.const import DOMAIN, SERVICE_REFRESH_LIBRARY
from custom_components.plex_butler.coordinator import UNKNOWN_NAME_REFRESH_AFTER

from .common import (
    entry_state,
    poll_with_freezer,
    press,
    reauth_flows,
    setup_entry,
    wait_for_push,
)
from .conftest import MACHINE_ID, OWNER_TOKEN
from .plex_simulator import DEFAULT_LIBRARIES, PlexSimulator, SimLibrary

MOVIES, TV, YOUTUBE, MUSIC = DEFAULT_LIBRARIES
PREFIX = "button.living_room_plex_libraries_refresh_"
MOVIES_BUTTON = f"{PREFIX}movies"
YOUTUBE_BUTTON = f"{PREFIX}youtube"


@pytest.fixture
async def libraries(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The integration set up against a server with the four default libraries.

    A scan runs an hour: the frozen clock's polls move the loop's clock too.
    """
    plex.set_libraries(list(DEFAULT_LIBRARIES))
    plex.scan_seconds = 3600
    assert await setup_entry(hass, mock_config_entry)
    plex.requests.clear()
    return mock_config_entry


async def refresh(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    library: str,
    *,
    return_response: bool = True,
    **fields: Any,
) -> ServiceResponse:
    """Call plex_butler.refresh_library the way automations do."""
    return await hass.services.async_call(
        DOMAIN,
        SERVICE_REFRESH_LIBRARY,
        {"config_entry_id": entry.entry_id, "library": library, **fields},
        blocking=True,
        return_response=return_response,
    )


def _attributes(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


def _library_requests(plex: PlexSimulator) -> list[str]:
    """What was asked of the libraries, besides reading their list."""
    return [
        r.url
        for r in plex.requests
        if r.path.startswith("/library/") and r.path != "/library/sections"
    ]


# --- the buttons -----------------------------------------------------------------


async def test_a_button_per_library_on_a_libraries_device(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    libraries: MockConfigEntry,
) -> None:
    """'Refresh <title>', unique id by uuid, on "<server> libraries" under the server."""
    entries = [
        e
        for e in er.async_entries_for_config_entry(entity_registry, libraries.entry_id)
        if "_library_" in e.unique_id
    ]
    assert {e.unique_id: e.entity_id for e in entries} == {
        f"{MACHINE_ID}_library_{lib.uuid}": PREFIX + slug
        for lib, slug in zip(
            DEFAULT_LIBRARIES, ("movies", "tv_shows", "youtube", "music"), strict=True
        )
    }
    devices = {
        identifier: device
        for device in dr.async_entries_for_config_entry(
            device_registry, libraries.entry_id
        )
        for _, identifier in device.identifiers
    }
    assert set(devices) == {MACHINE_ID, f"{MACHINE_ID}_libraries"}
    server, device = devices[MACHINE_ID], devices[f"{MACHINE_ID}_libraries"]
    assert device.name == "Living Room Plex libraries"
    assert device.via_device_id == server.id
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert {e.device_id for e in entries} == {device.id}
    assert all(e.disabled_by is None for e in entries)

    assert _attributes(hass, MOVIES_BUTTON) == {
        ATTR_FRIENDLY_NAME: "Living Room Plex libraries Refresh Movies",
        "refreshing": False,
        "library_key": "1",
        "locations": ["/data/movies", "/mnt/archive/movies"],
    }
    assert hass.states.get(MOVIES_BUTTON).state == STATE_UNKNOWN  # type: ignore[union-attr]


async def test_press_starts_a_scan_of_that_library(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    await press(hass, YOUTUBE_BUTTON)

    (request,) = plex.requests_to("GET", "/library/sections/7/refresh")
    assert (request.status, request.query_string) == (200, "")
    assert request.headers["X-Plex-Token"] == OWNER_TOKEN
    assert plex.is_refreshing("7")


async def test_refreshing_shows_with_the_poll_and_a_press_meanwhile_sends_nothing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    await press(hass, MOVIES_BUTTON)
    await poll_with_freezer(hass, freezer)
    assert _attributes(hass, MOVIES_BUTTON)["refreshing"] is True

    await press(hass, MOVIES_BUTTON)
    assert len(plex.requests_to("GET", "/library/sections/1/refresh")) == 1

    plex.finish_scans()
    await poll_with_freezer(hass, freezer)
    assert _attributes(hass, MOVIES_BUTTON)["refreshing"] is False


async def test_a_renamed_library_keeps_its_entity(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    plex.set_libraries([replace(MOVIES, title="Films"), TV, YOUTUBE, MUSIC])
    await poll_with_freezer(hass, freezer)

    assert _attributes(hass, MOVIES_BUTTON)[ATTR_FRIENDLY_NAME] == (
        "Living Room Plex libraries Refresh Films"
    )
    assert hass.states.get(f"{PREFIX}films") is None
    entry = entity_registry.async_get(MOVIES_BUTTON)
    assert entry is not None
    assert entry.unique_id == f"{MACHINE_ID}_library_{MOVIES.uuid}"


async def test_libraries_come_and_go_without_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    """An added library gets its button; a removed one goes unavailable, and back."""
    podcasts = SimLibrary("12", "uuid-podcasts", "Podcasts", "artist", ("/data/pod",))
    plex.set_libraries([*DEFAULT_LIBRARIES, podcasts])
    await poll_with_freezer(hass, freezer)
    assert hass.states.get(f"{PREFIX}podcasts").state == STATE_UNKNOWN  # type: ignore[union-attr]

    plex.set_libraries([TV, YOUTUBE, MUSIC, podcasts])
    await poll_with_freezer(hass, freezer)
    assert hass.states.get(MOVIES_BUTTON).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    with pytest.raises(ServiceValidationError) as err:
        await refresh(hass, libraries, "Movies")
    assert err.value.translation_key == "unknown_library"

    # Deleted and re-created in Plex: a new key, the same library.
    plex.set_libraries([*DEFAULT_LIBRARIES[1:], podcasts, replace(MOVIES, key="13")])
    await poll_with_freezer(hass, freezer)
    assert hass.states.get(MOVIES_BUTTON).state == STATE_UNKNOWN  # type: ignore[union-attr]
    await press(hass, MOVIES_BUTTON)
    assert plex.refreshes("13") == [{}]
    assert plex.refreshes("1") == []


def _reads_of_ours(plex: PlexSimulator) -> list[str]:
    """The requests about tasks and libraries, without settings and activities."""
    others = ("/:/prefs", "/activities", "/:/websockets/notifications")
    return [r.path for r in plex.requests if r.path not in others]


async def test_fifty_libraries_cost_no_more_requests_per_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    plex.set_libraries(
        [SimLibrary(str(n), f"uuid-{n}", f"Library {n}") for n in range(50)]
    )
    await poll_with_freezer(hass, freezer)
    plex.requests.clear()

    await poll_with_freezer(hass, freezer)

    assert _reads_of_ours(plex) == ["/butler", "/library/sections"]
    assert len(hass.states.async_entity_ids("button")) >= 50


async def test_unreadable_libraries_make_the_buttons_unavailable(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    plex.fault, plex.fault_path = "500", "/library/sections"
    await poll_with_freezer(hass, freezer)
    assert hass.states.get(YOUTUBE_BUTTON).state == STATE_UNAVAILABLE  # type: ignore[union-attr]

    plex.fault = None
    await poll_with_freezer(hass, freezer)
    assert hass.states.get(YOUTUBE_BUTTON).state == STATE_UNKNOWN  # type: ignore[union-attr]


# --- the action ------------------------------------------------------------------


@pytest.mark.parametrize("library", ["YouTube", "youtube", "  YOUTUBE ", "7"])
async def test_action_finds_the_library_by_title_or_key(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry, library: str
) -> None:
    response = await refresh(hass, libraries, library)

    assert response == {"library": "YouTube", "path": None, "result": "started"}
    assert _library_requests(plex) == ["/library/sections/7/refresh"]


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/data/youtube/Some Channel", "/data/youtube/Some Channel"),
        ("/data/youtube/Some Channel/", "/data/youtube/Some Channel"),
        ("/data/youtube//a/./b/../c", "/data/youtube/a/c"),
        ("/data/youtube", "/data/youtube"),
        ("/data/youtube/Rock & Roll?/ä #1", "/data/youtube/Rock & Roll?/ä #1"),
    ],
)
async def test_action_scans_a_normalised_folder_inside_the_library(
    hass: HomeAssistant,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
    path: str,
    sent: str,
) -> None:
    response = await refresh(hass, libraries, "YouTube", path=path)

    assert response == {"library": "YouTube", "path": sent, "result": "started"}
    assert plex.refreshes("7") == [{"path": sent}]


async def test_action_accepts_any_folder_of_a_library_with_several(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    await refresh(hass, libraries, "movies", path="/mnt/archive/movies/Alien (1979)")
    assert plex.refreshes("1") == [{"path": "/mnt/archive/movies/Alien (1979)"}]


@pytest.mark.parametrize("path", ["", "   ", None])
async def test_a_blank_path_scans_the_whole_library(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry, path: Any
) -> None:
    response = await refresh(hass, libraries, "YouTube", path=path)
    assert response == {"library": "YouTube", "path": None, "result": "started"}
    assert plex.refreshes("7") == [{}]


@pytest.mark.parametrize(
    "path",
    [
        "/data/movies/../tv",
        "/data/movies2/x",
        "/data/mov",
        "/data",
        "data/movies/x",
        "movies/x",
        "C:\\data\\movies",
    ],
)
async def test_a_folder_outside_the_library_is_refused_with_its_folders(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry, path: str
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await refresh(hass, libraries, "Movies", path=path)
    assert err.value.translation_key == "path_not_in_library"
    assert err.value.translation_placeholders == {
        "server": "Living Room Plex",
        "library": "Movies",
        "path": path,
        "locations": "/data/movies, /mnt/archive/movies",
    }
    assert _library_requests(plex) == []


async def test_force_asks_for_all_metadata(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    await refresh(hass, libraries, "TV Shows", force=True)
    await refresh(hass, libraries, "YouTube", path="/data/youtube/x", force=True)
    await refresh(hass, libraries, "Music", force=False)

    assert plex.refreshes("2") == [{"force": "1"}]
    assert plex.refreshes("7") == [{"path": "/data/youtube/x", "force": "1"}]
    assert plex.refreshes("9") == [{}]


async def test_already_refreshing_sends_nothing_unless_forced(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    await refresh(hass, libraries, "YouTube")
    await poll_with_freezer(hass, freezer)

    assert await refresh(hass, libraries, "YouTube", path="/data/youtube/new") == {
        "library": "YouTube",
        "path": "/data/youtube/new",
        "result": "already_refreshing",
    }
    assert len(plex.refreshes("7")) == 1

    assert await refresh(hass, libraries, "YouTube", force=True) == {
        "library": "YouTube",
        "path": None,
        "result": "started",
    }
    assert plex.refreshes("7") == [{}, {"force": "1"}]


async def test_without_a_response_the_scan_still_starts(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    assert await refresh(hass, libraries, "Music", return_response=False) is None
    assert plex.refreshes("9") == [{}]


async def test_unknown_library_lists_them_and_suggests_the_closest(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    listed = "Movies (1), Music (9), TV Shows (2), YouTube (7)"
    with pytest.raises(ServiceValidationError) as err:
        await refresh(hass, libraries, "Youtub")
    assert err.value.translation_key == "unknown_library_suggestion"
    assert err.value.translation_placeholders == {
        "server": "Living Room Plex",
        "library": "Youtub",
        "libraries": listed,
        "suggestion": "YouTube",
    }

    with pytest.raises(ServiceValidationError) as err:
        await refresh(hass, libraries, "Audiobooks")
    assert err.value.translation_key == "unknown_library"
    assert err.value.translation_placeholders == {
        "server": "Living Room Plex",
        "library": "Audiobooks",
        "libraries": listed,
    }
    assert _library_requests(plex) == []


async def test_a_library_added_since_the_poll_is_found_by_reading_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    """An unknown name re-reads the list once (throttled like start_task's)."""
    freezer.tick(UNKNOWN_NAME_REFRESH_AFTER)
    plex.set_libraries([*DEFAULT_LIBRARIES, SimLibrary("20", "uuid-kids", "Kids")])
    plex.requests.clear()

    assert (await refresh(hass, libraries, "Kids"))["result"] == "started"  # type: ignore[index]

    assert _reads_of_ours(plex) == [
        "/butler",
        "/library/sections",
        "/library/sections/20/refresh",
    ]
    assert hass.states.get(f"{PREFIX}kids").state == STATE_UNKNOWN  # type: ignore[union-attr]


async def test_a_server_without_libraries_says_so(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await refresh(hass, init_integration, "Movies")
    assert err.value.translation_placeholders["libraries"] == "none"  # type: ignore[index]


async def test_a_windows_server_s_folders(
    hass: HomeAssistant, plex: PlexSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """Drive letters and shares, either separator, any case; still by components."""
    plex.set_libraries(
        [SimLibrary("3", "uuid-win", "Films", locations=("D:\\Media\\Films",))]
    )
    assert await setup_entry(hass, mock_config_entry)

    await refresh(hass, mock_config_entry, "Films", path="d:/media/films/New/")
    assert plex.refreshes("3") == [{"path": "d:\\media\\films\\New"}]
    for outside in ("D:\\Media\\Films2", "D:\\Media\\Films\\..\\TV", "/media/films"):
        with pytest.raises(ServiceValidationError) as err:
            await refresh(hass, mock_config_entry, "Films", path=outside)
        assert err.value.translation_key == "path_not_in_library"
    assert len(plex.refreshes("3")) == 1


# --- server errors: start_task's rules ---------------------------------------------


async def test_a_library_gone_from_the_server_is_said_after_reading_again(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    plex.set_libraries([MOVIES, TV, MUSIC])
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, YOUTUBE_BUTTON)
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "library_not_on_server"
    assert err.value.translation_placeholders == {
        "server": "Living Room Plex",
        "library": "YouTube",
        "libraries": "Movies (1), Music (9), TV Shows (2)",
    }
    assert [
        r.status for r in plex.requests_to("GET", "/library/sections/7/refresh")
    ] == [404]
    assert hass.states.get(YOUTUBE_BUTTON).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fault", "key"),
    [("500", "unexpected_response"), ("reset", "cannot_connect")],
)
async def test_server_errors_are_translated_and_name_the_server(
    hass: HomeAssistant,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
    fault: str,
    key: str,
) -> None:
    plex.fault, plex.fault_path = fault, "/library/sections/7"
    with pytest.raises(HomeAssistantError) as err:
        await refresh(hass, libraries, "YouTube", path="/data/youtube/x")
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == key
    assert err.value.translation_placeholders["server"] == "Living Room Plex"  # type: ignore[index]


async def test_a_refused_token_starts_reauthentication(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    plex.fault, plex.fault_path = "401", "/library/sections/7"
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, YOUTUBE_BUTTON)
    assert err.value.translation_key == "authentication_failed"
    await hass.async_block_till_done()
    assert len(reauth_flows(hass, libraries)) == 1


async def test_a_scan_brings_buttons_back_when_the_server_answers_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    plex: PlexSimulator,
    libraries: MockConfigEntry,
) -> None:
    plex.fault, plex.fault_path = "503", "/butler"
    await poll_with_freezer(hass, freezer)
    assert hass.states.get(YOUTUBE_BUTTON).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    plex.fault = None

    await refresh(hass, libraries, "YouTube")

    assert hass.states.get(YOUTUBE_BUTTON).state == STATE_UNKNOWN  # type: ignore[union-attr]


async def test_entry_not_loaded_is_a_validation_error(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    await hass.config_entries.async_unload(libraries.entry_id)
    assert entry_state(libraries).value == "not_loaded"
    with pytest.raises(ServiceValidationError) as err:
        await refresh(hass, libraries, "YouTube")
    assert err.value.translation_key == "entry_not_loaded"


# --- live scan state: the hook for the websocket's activities -----------------------


async def test_activity_hook_sets_refreshing_at_once_without_a_request(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    """``library.update.section`` activities call this with librarySectionID."""
    coordinator = libraries.runtime_data

    coordinator.async_set_library_refreshing("7", True)
    await hass.async_block_till_done()
    assert _attributes(hass, YOUTUBE_BUTTON)["refreshing"] is True
    assert (await refresh(hass, libraries, "youtube"))["result"] == (  # type: ignore[index]
        "already_refreshing"
    )

    coordinator.async_set_library_refreshing("99", True)  # not a library: ignored
    coordinator.async_set_library_refreshing("7", False)
    await hass.async_block_till_done()
    assert _attributes(hass, YOUTUBE_BUTTON)["refreshing"] is False
    assert plex.requests == []


async def test_simulated_scan_runs_a_while_reports_activities_and_ends(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    """What the websocket will relay: started, then ended, with the section's key."""
    events: list[dict[str, Any]] = []
    plex.activity_listeners.append(events.append)
    plex.scan_seconds = 0.2

    await press(hass, MOVIES_BUTTON)
    assert plex.is_refreshing("1")
    await asyncio.sleep(0.3)
    assert not plex.is_refreshing("1")

    notes = [e["NotificationContainer"]["ActivityNotification"][0] for e in events]
    assert [n["event"] for n in notes] == ["started", "ended"]
    assert {n["Activity"]["type"] for n in notes} == {"library.update.section"}
    assert {n["Activity"]["Context"]["librarySectionID"] for n in notes} == {"1"}


async def test_pushed_scan_activities_show_refreshing_without_a_poll(
    hass: HomeAssistant, plex: PlexSimulator, libraries: MockConfigEntry
) -> None:
    """Plex's ``library.update.section`` activity flips ``refreshing`` at once.

    Its ``Context.librarySectionID`` names the library; no request is sent.
    """
    await wait_for_push(hass, plex)
    sent = len(plex.requests)

    scan = plex.start_activity(
        "library.update.section", "Scanning Movies", context={"librarySectionID": "1"}
    )
    await _until(hass, lambda: _attributes(hass, MOVIES_BUTTON)["refreshing"])
    assert _attributes(hass, YOUTUBE_BUTTON)["refreshing"] is False

    plex.end_activity(scan.uuid)
    await _until(hass, lambda: not _attributes(hass, MOVIES_BUTTON)["refreshing"])
    assert len(plex.requests) == sent


async def _until(hass: HomeAssistant, condition: Any) -> None:
    """Let the pushed frame arrive: yield until ``condition()`` holds (bounded)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the pushed change never arrived")
