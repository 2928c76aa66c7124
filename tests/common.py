"""Small helpers shared by several test modules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import ipaddress
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.plex_butler.const import SCAN_INTERVAL

from .plex_simulator import PlexSimulator


def reauth_flows(hass: HomeAssistant, entry: ConfigEntry) -> list[Any]:
    """The reauthentication flows in progress for this entry."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"]["source"] == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]


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
