"""Small helpers shared by several test modules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import ipaddress
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, CONF_TOKEN
from homeassistant.core import HomeAssistant, ServiceResponse
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.plex_butler.const import (
    DOMAIN,
    SCAN_INTERVAL,
    SERVICE_START_TASK,
)

from .plex_simulator import PlexSimulator

# The button of an everyday task, enabled by default on every server generation.
OPTIMIZE = "button.living_room_plex_optimize_database"


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> bool:
    """Add and set up the entry; a failed setup shows in its state, not raised."""
    entry.add_to_hass(hass)
    result = await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return result


def entry_state(entry: ConfigEntry) -> ConfigEntryState:
    """Read the state through a call, so mypy does not narrow it across awaits."""
    return entry.state


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """The state of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def button_states(hass: HomeAssistant) -> set[str]:
    """The states the buttons that exist are in (there must be some)."""
    entity_ids = hass.states.async_entity_ids(BUTTON_DOMAIN)
    assert entity_ids
    return {state_of(hass, entity_id) for entity_id in entity_ids}


async def press(hass: HomeAssistant, entity_id: str) -> None:
    """Press a button the way the UI does, waiting for the press to finish."""
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def start_task(
    hass: HomeAssistant, data: Mapping[str, Any], *, return_response: bool = True
) -> ServiceResponse:
    """Call the start_task action the way automations do."""
    return await hass.services.async_call(
        DOMAIN,
        SERVICE_START_TASK,
        dict(data),
        blocking=True,
        return_response=return_response,
    )


def reauth_flows(hass: HomeAssistant, entry: ConfigEntry) -> list[Any]:
    """The reauthentication flows in progress for this entry."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"]["source"] == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]


async def finish_reauth(hass: HomeAssistant, entry: ConfigEntry, token: str) -> None:
    """Answer the entry's one reauthentication flow with ``token``; it must succeed."""
    (flow,) = reauth_flows(hass, entry)
    # The flow opens with a menu: sign in with Plex, or enter a token.
    await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "reauth_confirm"}
    )
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    # The entry reloads in the background.
    await hass.async_block_till_done(wait_background_tasks=True)


async def poll_with_freezer(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Move the frozen clock one polling interval and let the fetches finish."""
    freezer.tick(SCAN_INTERVAL)
    async_fire_time_changed(hass)
    # Coordinators poll in background tasks.
    await hass.async_block_till_done(wait_background_tasks=True)


async def poll(hass: HomeAssistant) -> None:
    """Fire the timers of one polling interval from now and let the fetches finish."""
    async_fire_time_changed(hass, dt_util.utcnow() + SCAN_INTERVAL)
    await hass.async_block_till_done(wait_background_tasks=True)


def zeroconf_info(port: int | None) -> ZeroconfServiceInfo:
    """What zeroconf reports for a Plex server on 127.0.0.1."""
    return ZeroconfServiceInfo(
        ip_address=ipaddress.ip_address("127.0.0.1"),
        ip_addresses=[ipaddress.ip_address("127.0.0.1")],
        port=port,
        hostname="living-room.local.",
        type="_plexmediasvr._tcp.local.",
        name="Living Room Plex._plexmediasvr._tcp.local.",
        properties={},
    )


async def wait_for_push(
    hass: HomeAssistant, plex: PlexSimulator, connects: int = 1
) -> None:
    """Wait until the integration holds the ``connects``-th websocket and caught up.

    Catching up is the read of ``/activities`` that follows each connect. The
    loop yields instead of sleeping: under ``freezer`` the loop's clock stands
    still, so a sleep would never end.
    """
    for _ in range(100_000):
        if (
            plex.sockets
            and plex.websocket_connects >= connects
            and any(
                r.path == "/activities"
                for r in plex.requests[plex.requests_at_connect :]
            )
        ):
            break
        await asyncio.sleep(0)
    else:
        raise AssertionError("the integration did not connect its websocket")
    for _ in range(5):  # let the listener act on the answer
        await asyncio.sleep(0)
    await hass.async_block_till_done()


async def until(hass: HomeAssistant, predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate`` holds (pushed frames take a few turns)."""
    for _ in range(100_000):
        if predicate():
            await hass.async_block_till_done()
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def eventually(
    hass: HomeAssistant, predicate: Callable[[], bool], seconds: float = 5.0
) -> None:
    """Wait in real time until ``predicate`` holds: for timers that must really run.

    Only without ``freezer``, whose loop clock stands still.
    """
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the predicates are not events
            await asyncio.sleep(0.01)
    await hass.async_block_till_done()
