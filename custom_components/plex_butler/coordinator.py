"""Poll the butler's task list and start tasks, mapping client errors once."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import (
    ButlerTask,
    PlexAuthenticationError,
    PlexButlerClient,
    PlexConnectionError,
    PlexError,
    PlexNotFoundError,
    PlexServer,
    PlexTimeoutError,
    StartResult,
)
from .const import DOMAIN, LOGGER, SCAN_INTERVAL

type PlexButlerConfigEntry = ConfigEntry[PlexButlerCoordinator]


@dataclass(frozen=True, slots=True)
class PlexButlerData:
    """What the entities show: the tasks the server has now, by Plex name."""

    tasks: dict[str, ButlerTask]


def _translated[ErrorT: HomeAssistantError](
    error_type: type[ErrorT], err: PlexError
) -> ErrorT:
    """Build a translated error of ``error_type`` that tells what went wrong."""
    if isinstance(err, PlexTimeoutError):
        return error_type(translation_domain=DOMAIN, translation_key="timeout")
    if isinstance(err, PlexConnectionError):
        return error_type(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        )
    return error_type(
        translation_domain=DOMAIN,
        translation_key="unexpected_response",
        translation_placeholders={"error": str(err)},
    )


def _polling_error(err: PlexError) -> HomeAssistantError:
    """A rejected token asks for reauth; anything else makes entities unavailable."""
    if isinstance(err, PlexAuthenticationError):
        return ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="authentication_failed"
        )
    return _translated(UpdateFailed, err)


class PlexButlerCoordinator(DataUpdateCoordinator[PlexButlerData]):
    """Keeps one server's task list fresh and is the one way to start a task."""

    config_entry: PlexButlerConfigEntry
    server: PlexServer

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PlexButlerConfigEntry,
        client: PlexButlerClient,
    ) -> None:
        """Poll at the fixed interval explained in const.py."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=SCAN_INTERVAL,
        )
        self.client = client

    async def _async_setup(self) -> None:
        """Read the server's identity once; it names the device."""
        try:
            server = await self.client.async_get_server()
        except PlexError as err:
            raise _polling_error(err) from err
        if server.machine_identifier != self.config_entry.unique_id:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="wrong_server",
                translation_placeholders={"name": server.friendly_name},
            )
        self.server = server

    async def _async_update_data(self) -> PlexButlerData:
        """Fetch the task list: one request per poll."""
        try:
            tasks = await self.client.async_get_tasks()
        except PlexError as err:
            raise _polling_error(err) from err
        return PlexButlerData(tasks={task.name: task for task in tasks})

    async def async_start_task(self, name: str) -> StartResult:
        """Start a task; the button and the action both come through here.

        Every client error becomes a translated Home Assistant error here and
        nowhere else. A rejected token also starts reauthentication.
        """
        try:
            return await self.client.async_start_task(name)
        except PlexAuthenticationError as err:
            self.config_entry.async_start_reauth(self.hass)
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            ) from err
        except PlexNotFoundError as err:
            # The server dropped the task since the last poll: refresh so its
            # button turns unavailable, and tell the caller what exists.
            await self.async_request_refresh()
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="task_not_on_server",
                translation_placeholders={
                    "task": name,
                    "tasks": ", ".join(sorted(self.data.tasks)),
                },
            ) from err
        except PlexError as err:
            raise _translated(HomeAssistantError, err) from err
