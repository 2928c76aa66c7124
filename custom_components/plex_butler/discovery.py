"""GDM discovery while the integration is in use.

While at least one entry is loaded, Plex Butler asks the network for Plex
Media Servers with GDM (see gdm.py) when the first entry loads and every ten
minutes after. Each answer becomes an integration-discovery flow: the config
flow checks who answers there, updates a known server's moved address, and
offers a new one as a discovered card, as zeroconf does.

The GDM target defaults to Plex's multicast group; ``PLEX_BUTLER_GDM_ADDRESS``
and ``PLEX_BUTLER_GDM_PORT`` (read when scanning starts) point it elsewhere,
for tests and simulators.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import os
from typing import Final

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .gdm import GDM_ADDRESS, GDM_PORT, SCAN_SECONDS, GdmSearch, async_start_search

GDM_ADDRESS_ENV: Final = "PLEX_BUTLER_GDM_ADDRESS"
GDM_PORT_ENV: Final = "PLEX_BUTLER_GDM_PORT"
GDM_INTERVAL: Final = timedelta(minutes=10)
_SCANNER: HassKey[GdmScanner] = HassKey(f"{DOMAIN}_gdm")


class GdmScanner:
    """Scans now and every ``GDM_INTERVAL`` until stopped.

    A scan sends the search from a short task, then a timer closes it after
    ``SCAN_SECONDS`` and starts the flows: nothing sleeps, so waiting for
    Home Assistant to settle never waits for a scan.
    """

    def __init__(self, hass: HomeAssistant, address: str, port: int) -> None:
        """Nothing is sent until ``start``."""
        self._hass = hass
        self._address = address
        self._port = port
        self._search: GdmSearch | None = None
        self._unsub_interval: CALLBACK_TYPE | None = None
        self._unsub_finish: CALLBACK_TYPE | None = None
        # The entries that keep scanning going.
        self.users: set[str] = set()

    @callback
    def start(self) -> None:
        """Scan now, then every interval."""
        self._unsub_interval = async_track_time_interval(
            self._hass,
            self._async_scan_soon,
            GDM_INTERVAL,
            name=f"{DOMAIN} GDM scan",
            cancel_on_shutdown=True,
        )
        self._async_scan_soon(None)

    @callback
    def stop(self) -> None:
        """Stop the timers and a scan under way."""
        for unsub in (self._unsub_interval, self._unsub_finish):
            if unsub is not None:
                unsub()
        self._unsub_interval = self._unsub_finish = None
        if self._search is not None:
            self._search.close()
            self._search = None

    @callback
    def _async_scan_soon(self, _: datetime | None) -> None:
        if self._search is None:
            self._hass.async_create_background_task(
                self._async_start_scan(), f"{DOMAIN} GDM scan"
            )

    async def _async_start_scan(self) -> None:
        try:
            search = await async_start_search(self._address, self._port)
        except (OSError, ValueError) as err:
            LOGGER.debug("GDM scan of %s:%s failed: %s", self._address, self._port, err)
            return
        self._search = search
        self._unsub_finish = async_call_later(
            self._hass,
            SCAN_SECONDS,
            HassJob(self._async_finish_scan, cancel_on_shutdown=True),
        )

    async def _async_finish_scan(self, _: datetime) -> None:
        search, self._search = self._search, None
        self._unsub_finish = None
        if search is None:
            return
        for server in await search.async_close():
            discovery_flow.async_create_flow(
                self._hass,
                DOMAIN,
                context={"source": SOURCE_INTEGRATION_DISCOVERY},
                data={
                    "machine_identifier": server.machine_identifier,
                    "name": server.name,
                    "host": server.host,
                    "port": server.port,
                },
            )


@callback
def async_start_discovery(hass: HomeAssistant, entry_id: str) -> CALLBACK_TYPE:
    """Keep GDM scanning while this entry is loaded; call the result on unload."""
    scanner = hass.data.get(_SCANNER)
    if scanner is None:
        scanner = hass.data[_SCANNER] = GdmScanner(
            hass,
            os.environ.get(GDM_ADDRESS_ENV) or GDM_ADDRESS,
            int(os.environ.get(GDM_PORT_ENV) or GDM_PORT),
        )
        scanner.start()
    scanner.users.add(entry_id)

    @callback
    def release() -> None:
        scanner.users.discard(entry_id)
        if not scanner.users:
            scanner.stop()
            hass.data.pop(_SCANNER, None)

    return release
