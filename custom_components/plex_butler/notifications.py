"""Listen to the server's notification websocket while the entry is loaded.

The listener is a second source for the activity coordinator and never calls
into an entity. After each connect it reads ``/activities`` once to catch up,
and once more when the connection is lost (a server that went away shows as
unavailable at once); while disconnected the task-list poll reads them. It
reconnects with backoff: 1 s, doubling to 60 s, with jitter so that many
servers (or a restarted server's clients) do not retry in step. A server older than the websocket (404) is tried
again once per poll interval. A link that died without closing (no frames, no
answer to the client's pings, see ``NOTIFICATIONS_HEARTBEAT``) counts as lost
like a closed one. A lost connection is logged once, and its return once.
"""

from __future__ import annotations

import asyncio
import random
from typing import Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant

from .activity import PlexActivityCoordinator
from .api import PlexButlerClient, PlexError, PlexNotFoundError, PlexNotificationStream
from .const import DOMAIN, LOGGER, SCAN_INTERVAL
from .coordinator import PlexButlerConfigEntry

BACKOFF_FIRST: Final = 1.0
BACKOFF_MAX: Final = 60.0


def backoff_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row (1 or more)."""
    base: float = min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** (failures - 1))
    return base * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not secrecy


class NotificationListener:
    """Keeps one server's websocket open and feeds its frames to the coordinator."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PlexButlerConfigEntry,
        client: PlexButlerClient,
        coordinator: PlexActivityCoordinator,
    ) -> None:
        """Nothing connects until ``start``."""
        self._hass = hass
        self._entry = entry
        self._client = client
        self._coordinator = coordinator
        self._lost = False
        self._unsupported = False
        self._task: asyncio.Task[None] | None = None

    @property
    def _server(self) -> str:
        return self._entry.title

    def start(self) -> None:
        """Run until the entry unloads or Home Assistant stops.

        A plain task, not one of Home Assistant's background tasks: those are
        awaited by ``async_block_till_done``, and this one never ends by itself.
        """
        self._task = self._hass.loop.create_task(
            self._run(), name=f"{DOMAIN} notifications {self._server}"
        )
        self._entry.async_on_unload(self.async_stop)
        self._entry.async_on_unload(
            self._hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_STOP, self._async_on_stop
            )
        )

    async def _async_on_stop(self, event: Event) -> None:
        await self.async_stop()

    async def async_stop(self) -> None:
        """Cancel the listener and wait until its socket is closed."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                ended = await self._connect_and_listen()
            except PlexNotFoundError:
                self._report_unsupported()
                await asyncio.sleep(SCAN_INTERVAL.total_seconds())
                continue
            except PlexError as err:
                self._report_lost(str(err))
                failures += 1
                await asyncio.sleep(backoff_delay(failures))
                continue
            failures = 1  # a drop after a good connection waits the first delay
            self._report_lost(ended)
            self._coordinator.pushed = False
            await self._async_read_after_loss()
            await asyncio.sleep(backoff_delay(failures))

    async def _async_read_after_loss(self) -> None:
        """Read the activities once, now that nothing pushes them.

        A server that went away would otherwise go on showing what it pushed
        last (Busy, with the activities of that moment) until the next poll.
        A failed read makes the activity entities unavailable at once; a good
        one shows what the server is doing.
        """
        try:
            await self._coordinator.async_poll()
        except PlexError as err:
            self._coordinator.async_set_unreachable(err)

    async def _connect_and_listen(self) -> str | None:
        """Connect (its errors raise), listen, close; say why the socket ended.

        The stream lives only in here: nothing of a closed socket waits out
        the backoff, and the reason is a text, not an error whose traceback
        would hold the socket.
        """
        stream = await self._client.async_connect_notifications()
        try:
            return await self._listen(stream)
        finally:
            await stream.close()

    async def _listen(self, stream: PlexNotificationStream) -> str | None:
        """Catch up with one read, then apply frames until the socket ends.

        Returns why it ended, unless the server closed it.
        """
        if self._lost:
            LOGGER.info("The push connection to %s is back", self._server)
        elif self._unsupported:
            LOGGER.info("%s now offers push notifications", self._server)
        self._lost = self._unsupported = False
        try:
            await self._coordinator.async_poll()
            self._coordinator.pushed = True
            async for notes in stream:
                self._coordinator.async_apply(notes)
        except PlexError as err:
            LOGGER.debug("Websocket of %s broke: %r", self._server, err)
            return str(err)
        return None

    def _report_lost(self, reason: str | None) -> None:
        if not self._lost:
            LOGGER.warning(
                "Lost the push connection to %s (%s); its activities are read "
                "at each poll meanwhile",
                self._server,
                reason or "closed by the server",
            )
        self._lost = True

    def _report_unsupported(self) -> None:
        if not self._unsupported:
            LOGGER.info(
                "%s does not offer push notifications (older Plex); reading its "
                "activities at each poll",
                self._server,
            )
        self._unsupported = True
