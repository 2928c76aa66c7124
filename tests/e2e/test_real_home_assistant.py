"""Plex Butler in a real Home Assistant process, driven only through its APIs.

One scenario, as a user and their automations would meet the integration:
onboard, add the server, find its buttons, press one, call the action, let an
automation call it, lose the server and get it back, re-authenticate, restart
Home Assistant. Each step is a function below whose assertions say what it
proves; the test runs them in order against one ``hass`` process (restarted
once, in the last step) and the in-process Plex simulator.
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.plex_butler.tasks import KNOWN_TASKS, TaskProfile
from tests.conftest import MACHINE_ID, OWNER_TOKEN
from tests.plex_simulator import DEFAULT_LIBRARIES, PlexSimulator

from .helpers import HassApi, HassProcess, WebsocketCommandError, eventually

pytestmark = pytest.mark.e2e

DOMAIN = "plex_butler"
PRESSED = "button.living_room_plex_optimize_database"
HEAVY = "button.living_room_plex_run_deep_media_analysis"
LIBRARY_BUTTONS = "button.living_room_plex_libraries_refresh_"


async def test_plex_butler_in_a_real_home_assistant(
    hass_process: HassProcess, hass_api: HassApi, plex: PlexSimulator
) -> None:
    """Set up, use, break, heal and restart, as one user session would."""
    api = hass_api
    plex.set_libraries(list(DEFAULT_LIBRARIES))
    hass_process.start()
    await api.wait_for_onboarding(hass_process)

    await step_1_onboard_the_owner(api, hass_process)
    entry_id = await step_2_add_the_server_after_a_wrong_token(api, plex)
    entity_ids = await step_3_one_button_per_task_on_one_device(api, plex, entry_id)
    await step_4_a_button_press_sends_the_token_in_a_header(api, plex)
    await step_5_the_action_reports_started_then_already_running(api, entry_id)
    await step_6_a_yaml_automation_calls_the_action(api, plex, entry_id)
    await step_6b_a_library_button_and_the_action_with_a_folder(api, plex, entry_id)
    # Re-authentication reloads the entry, which gives it a fresh coordinator
    # whose refresh debouncer has no cool-down pending; doing it before the
    # outage means step 8 waits out that ~10 s cool-down only once.
    await step_7_a_refused_token_is_fixed_by_reauthentication(api, plex, entry_id)
    await step_8_buttons_follow_the_server_down_and_up(api, plex)
    await step_9_a_restart_keeps_entry_device_and_entity_ids(
        api, hass_process, entry_id, entity_ids
    )


async def step_1_onboard_the_owner(api: HassApi, hass: HassProcess) -> None:
    """Onboarding creates the owner and yields a token the API accepts."""
    assert await api.onboard()
    await api.wait_until_running(hass)
    assert await api.entries(DOMAIN) == []


async def step_2_add_the_server_after_a_wrong_token(
    api: HassApi, plex: PlexSimulator
) -> str:
    """A wrong token shows invalid_auth; the same flow then finishes with the owner's."""
    flow = await api.post(
        "/api/config/config_entries/flow",
        {"handler": DOMAIN, "show_advanced_options": False},
    )
    assert flow["type"] == "menu"
    assert flow["step_id"] == "user"
    flow_path = f"/api/config/config_entries/flow/{flow['flow_id']}"
    form = await api.post(flow_path, {"next_step_id": "manual"})
    assert form["type"] == "form"
    assert form["step_id"] == "manual"

    wrong = await api.post(
        flow_path, {"url": plex.url, "token": "not-the-owner-token", "verify_ssl": True}
    )
    assert wrong["type"] == "form"
    assert wrong["errors"] == {"base": "invalid_auth"}

    done = await api.post(
        flow_path, {"url": plex.url, "token": OWNER_TOKEN, "verify_ssl": True}
    )
    assert done["type"] == "create_entry", done
    assert done["title"] == "Living Room Plex"
    entry = done["result"]
    assert entry["domain"] == DOMAIN
    assert entry["state"] == "loaded"
    entry_id: str = entry["entry_id"]
    return entry_id


async def step_3_one_button_per_task_on_one_device(
    api: HassApi, plex: PlexSimulator, entry_id: str
) -> dict[str, str]:
    """One service device; a registry entry per simulated task; heavy ones disabled.

    Returns the entity ids of all the entry's entities by unique id, for the
    restart step to compare.
    """
    async with api.websocket() as ws:
        devices = await ws.command("config/device_registry/list")
        registry = await ws.command("config/entity_registry/list")

    # The libraries' device hangs off this one (see step 6b).
    ours = [
        d
        for d in devices
        if entry_id in d["config_entries"] and d["via_device_id"] is None
    ]
    assert len(ours) == 1, ours
    device = ours[0]
    assert [DOMAIN, MACHINE_ID] in device["identifiers"]
    assert device["name"] == "Living Room Plex"
    assert device["entry_type"] == "service"

    ours_entities = [e for e in registry if e["config_entry_id"] == entry_id]
    # The library buttons have a device of their own; the settings and activity
    # entities are the subject of test_scheduled_tasks.
    server_entities = [e for e in ours_entities if "_library_" not in e["unique_id"]]
    assert all(e["device_id"] == device["id"] for e in server_entities)
    buttons = [e for e in server_entities if e["entity_id"].startswith("button.")]
    assert {e["unique_id"] for e in buttons} == {
        f"{MACHINE_ID}_{task.name}" for task in plex.tasks
    }

    by_entity_id = {e["entity_id"]: e for e in buttons}
    assert by_entity_id[PRESSED]["disabled_by"] is None
    assert by_entity_id[HEAVY]["disabled_by"] == "integration"
    # Exactly the heavy tasks' buttons start disabled, by the integration.
    assert {e["unique_id"]: e["disabled_by"] for e in buttons} == {
        f"{MACHINE_ID}_{task.name}": (
            "integration"
            if KNOWN_TASKS[task.name].profile is TaskProfile.HEAVY
            else None
        )
        for task in plex.tasks
    }
    enabled = {e["entity_id"] for e in buttons if e["disabled_by"] is None}
    assert 0 < len(enabled) < len(buttons)

    # Exactly the enabled buttons have a state, and all of them are usable.
    states = await api.get("/api/states")
    button_states = {
        s["entity_id"]: s["state"]
        for s in states
        if s["entity_id"].startswith("button.")
        and not s["entity_id"].startswith(LIBRARY_BUTTONS)
    }
    assert set(button_states) == enabled
    assert "unavailable" not in button_states.values()
    return {e["unique_id"]: e["entity_id"] for e in ours_entities}


async def step_4_a_button_press_sends_the_token_in_a_header(
    api: HassApi, plex: PlexSimulator
) -> None:
    """``button.press`` reaches Plex as ``POST /butler/<Task>``, token in the header only."""
    await api.post("/api/services/button/press", {"entity_id": PRESSED})

    presses = plex.requests_to("POST", "/butler/OptimizeDatabase")
    assert len(presses) == 1
    press = presses[0]
    assert press.status == 200
    headers = {key.lower(): value for key, value in press.headers.items()}
    assert headers.get("x-plex-token") == OWNER_TOKEN
    assert OWNER_TOKEN not in press.url
    assert "x-plex-token" not in press.query_string.lower()
    assert plex.is_running("OptimizeDatabase")
    # Nor did setup, the config flow or any poll put the token into a URL.
    assert all(OWNER_TOKEN not in request.url for request in plex.requests)


async def step_5_the_action_reports_started_then_already_running(
    api: HassApi, entry_id: str
) -> None:
    """``plex_butler.start_task`` with ``?return_response`` says what Plex answered."""
    path = f"/api/services/{DOMAIN}/start_task?return_response"
    data = {"config_entry_id": entry_id, "task": "backup_database"}

    first = await api.post(path, data)
    assert first["service_response"] == {"task": "BackupDatabase", "result": "started"}

    second = await api.post(path, data)
    assert second["service_response"] == {
        "task": "BackupDatabase",
        "result": "already_running",
    }

    # REST answers 500 for every failed action; the websocket API keeps the
    # kind, so a caller can tell its own mistake from a server failure.
    async with api.websocket() as ws:
        with pytest.raises(WebsocketCommandError) as misuse:
            await ws.command(
                "call_service",
                domain=DOMAIN,
                service="start_task",
                service_data={"config_entry_id": entry_id, "task": "make_coffee"},
                return_response=True,
            )
    assert misuse.value.code == "service_validation_error"


async def step_6_a_yaml_automation_calls_the_action(
    api: HassApi, plex: PlexSimulator, entry_id: str
) -> None:
    """The automation in ``automations.yaml`` runs on its event and starts the task."""
    assert plex.requests_to("POST", "/butler/CleanOldBundles") == []
    fired = await api.post(
        "/api/events/plex_butler_e2e",
        {"config_entry_id": entry_id, "task": "clean_old_bundles"},
    )
    assert fired == {"message": "Event plex_butler_e2e fired."}

    async def started() -> bool:
        return bool(plex.requests_to("POST", "/butler/CleanOldBundles"))

    await eventually(started, "the automation's POST /butler/CleanOldBundles")
    assert plex.is_running("CleanOldBundles")


async def step_6b_a_library_button_and_the_action_with_a_folder(
    api: HassApi, plex: PlexSimulator, entry_id: str
) -> None:
    """A library's button scans it; the action scans one folder, checked first."""
    async with api.websocket() as ws:
        devices = await ws.command("config/device_registry/list")
    [server] = [d for d in devices if [DOMAIN, MACHINE_ID] in d["identifiers"]]
    [libraries] = [
        d for d in devices if [DOMAIN, f"{MACHINE_ID}_libraries"] in d["identifiers"]
    ]
    assert libraries["name"] == "Living Room Plex libraries"
    assert libraries["via_device_id"] == server["id"]

    await api.post(
        "/api/services/button/press", {"entity_id": f"{LIBRARY_BUTTONS}movies"}
    )
    assert plex.refreshes("1") == [{}]

    answer = await api.post(
        f"/api/services/{DOMAIN}/refresh_library?return_response",
        {
            "config_entry_id": entry_id,
            "library": "youtube",
            "path": "/data/youtube/Some Channel/",
        },
    )
    assert answer["service_response"] == {
        "library": "YouTube",
        "path": "/data/youtube/Some Channel",
        "result": "started",
    }
    assert plex.refreshes("7") == [{"path": "/data/youtube/Some Channel"}]

    async with api.websocket() as ws:
        with pytest.raises(WebsocketCommandError) as misuse:
            await ws.command(
                "call_service",
                domain=DOMAIN,
                service="refresh_library",
                service_data={
                    "config_entry_id": entry_id,
                    "library": "YouTube",
                    "path": "/data/youtube/../movies",
                },
                return_response=True,
            )
    assert misuse.value.code == "service_validation_error"
    assert len(plex.refreshes("7")) == 1


async def _refresh(api: HassApi) -> None:
    """Ask the coordinator for a refresh, as a user or script would."""
    await api.post("/api/services/homeassistant/update_entity", {"entity_id": PRESSED})


async def _wait_for_state(
    api: HassApi, entity_id: str, wanted: str, *, negate: bool = False
) -> None:
    async def reached() -> bool:
        state = await api.state(entity_id)
        return (state != wanted) if negate else (state == wanted)

    what = f"{entity_id} to {'leave' if negate else 'become'} {wanted!r}"
    await eventually(reached, what)


async def _entry(api: HassApi, entry_id: str) -> dict[str, Any]:
    [entry] = [e for e in await api.entries(DOMAIN) if e["entry_id"] == entry_id]
    return entry


async def step_7_a_refused_token_is_fixed_by_reauthentication(
    api: HassApi, plex: PlexSimulator, entry_id: str
) -> None:
    """A 401 on refresh starts reauth; a good token through REST reloads the entry."""
    plex.fault = "401"
    await _refresh(api)

    async def reauth_flow() -> dict[str, Any] | None:
        async with api.websocket() as ws:
            flows = await ws.command("config_entries/flow/progress")
        return next(
            (
                f
                for f in flows
                if f["handler"] == DOMAIN
                and f["context"].get("source") == "reauth"
                and f["context"].get("entry_id") == entry_id
            ),
            None,
        )

    flow = await eventually(reauth_flow, "a reauth flow for the entry")
    assert flow["step_id"] == "reauth"
    await _wait_for_state(api, PRESSED, "unavailable")

    plex.fault = None
    form = await api.post(
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {"next_step_id": "reauth_confirm"},
    )
    assert form["step_id"] == "reauth_confirm"
    result = await api.post(
        f"/api/config/config_entries/flow/{flow['flow_id']}", {"token": OWNER_TOKEN}
    )
    assert result["type"] == "abort"
    assert result["reason"] == "reauth_successful"

    async def loaded() -> bool:
        return bool((await _entry(api, entry_id))["state"] == "loaded")

    await eventually(loaded, "the entry to be loaded again")
    await _wait_for_state(api, PRESSED, "unavailable", negate=True)
    assert await reauth_flow() is None


async def step_8_buttons_follow_the_server_down_and_up(
    api: HassApi, plex: PlexSimulator
) -> None:
    """One refresh with the server gone makes buttons unavailable; one more heals them.

    The second refresh request lands in the debouncer's cool-down (~10 s after
    the first), so the wait for ``available`` is a deadline, not a timing claim.
    """
    port = plex.port
    await plex.stop()
    await _refresh(api)
    await _wait_for_state(api, PRESSED, "unavailable")

    await plex.start(port=port)
    assert plex.port == port
    await _refresh(api)
    await _wait_for_state(api, PRESSED, "unavailable", negate=True)
    assert await api.state(PRESSED) not in (None, "unavailable")


async def step_9_a_restart_keeps_entry_device_and_entity_ids(
    api: HassApi, hass: HassProcess, entry_id: str, entity_ids: dict[str, str]
) -> None:
    """After stopping the process by PID and starting it again, nothing is renamed."""
    assert await hass.stop() == 0
    hass.start()
    await api.wait_until_running(hass)

    assert (await _entry(api, entry_id))["state"] == "loaded"
    async with api.websocket() as ws:
        devices = await ws.command("config/device_registry/list")
        registry = await ws.command("config/entity_registry/list")
    assert sorted(
        d["identifiers"] for d in devices if entry_id in d["config_entries"]
    ) == [[[DOMAIN, MACHINE_ID]], [[DOMAIN, f"{MACHINE_ID}_libraries"]]]
    assert {
        e["unique_id"]: e["entity_id"]
        for e in registry
        if e["config_entry_id"] == entry_id
    } == entity_ids
    assert await api.state(PRESSED) not in (None, "unavailable")
