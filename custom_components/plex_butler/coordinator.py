"""Poll the butler's task list, keep the server's device fresh, and start tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    HomeAssistantError,
)
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    ButlerTask,
    LibrarySection,
    PlexAuthenticationError,
    PlexBadRequestError,
    PlexButlerClient,
    PlexError,
    PlexNotFoundError,
    PlexServer,
    PlexSetting,
    StartResult,
    StopResult,
)
from .const import DOMAIN, LOGGER, SCAN_INTERVAL
from .errors import translated_error
from .settings import is_butler_setting

if TYPE_CHECKING:
    from .activity import PlexActivityCoordinator

type PlexButlerConfigEntry = ConfigEntry[PlexButlerCoordinator]

# A name the action does not know triggers at most one extra read of the task
# list in this many seconds: enough to see a task the server just gained,
# never a request per call for a typo repeated by an automation.
UNKNOWN_NAME_REFRESH_AFTER = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class PlexButlerData:
    """What the entities show: the tasks the server has now, by Plex name.

    ``settings`` holds the butler's settings the server has, by Plex id, and
    ``libraries`` its libraries, by uuid: a library's key changes when it is
    re-created.
    """

    tasks: dict[str, ButlerTask]
    settings: dict[str, PlexSetting] = field(default_factory=dict)
    libraries: dict[str, LibrarySection] = field(default_factory=dict)


class LibraryRefreshResult(StrEnum):
    """What a request to scan a library did."""

    STARTED = "started"
    # The library was scanning already, so nothing was sent.
    ALREADY_REFRESHING = "already_refreshing"


def wrong_server_issue_id(entry: ConfigEntry) -> str:
    """The repair issue raised while the entry's address leads to another server."""
    return f"wrong_server_{entry.entry_id}"


class PlexButlerCoordinator(DataUpdateCoordinator[PlexButlerData]):
    """Keeps one server's task list fresh and is the one way to start a task."""

    config_entry: PlexButlerConfigEntry
    server: PlexServer
    # Its sibling for what the server is busy with (fed by the websocket).
    activity: PlexActivityCoordinator

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
        self._fetched_at = datetime.min.replace(tzinfo=UTC)
        self._refreshing: asyncio.Task[None] | None = None

    @property
    def server_name(self) -> str:
        """How messages name this server: the entry title the user sees."""
        return self.config_entry.title

    def _polling_error(self, err: PlexError) -> HomeAssistantError:
        """A rejected token asks for reauth; anything else makes entities unavailable."""
        if isinstance(err, PlexAuthenticationError):
            return translated_error(ConfigEntryAuthFailed, err, self.server_name)
        return translated_error(UpdateFailed, err, self.server_name)

    async def _async_read_server(self) -> PlexServer:
        """Read ``/`` and check it is still the server this entry was made for."""
        try:
            server = await self.client.async_get_server()
        except PlexError as err:
            raise self._polling_error(err) from err
        entry = self.config_entry
        if server.machine_identifier != entry.unique_id:
            placeholders = {
                "server": self.server_name,
                "name": server.friendly_name,
                "url": entry.data[CONF_URL],
            }
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                wrong_server_issue_id(entry),
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="wrong_server",
                translation_placeholders=placeholders,
            )
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="wrong_server",
                translation_placeholders=placeholders,
            )
        ir.async_delete_issue(self.hass, DOMAIN, wrong_server_issue_id(entry))
        return server

    async def _async_setup(self) -> None:
        """Read the server's identity; it names the device."""
        self.server = await self._async_read_server()

    async def _async_update_data(self) -> PlexButlerData:
        """Fetch the tasks, the settings and the libraries: three requests per poll.

        While the notification websocket is down, the activities are read too.

        The server's name and version are read again only when the server
        comes back after being unreachable or its task list changed: a Plex
        upgrade does both, and a rename usually comes with one.
        """
        try:
            tasks = await self.client.async_get_tasks()
            settings = await self.client.async_get_settings()
            if not self.activity.pushed:
                await self.activity.async_poll()
        except PlexError as err:
            LOGGER.debug("Poll of %s failed: %r", self.server_name, err)
            raise self._polling_error(err) from err
        data = PlexButlerData(
            tasks={task.name: task for task in tasks},
            settings={s.id: s for s in settings if is_butler_setting(s)},
            libraries=await self._async_read_libraries(),
        )
        LOGGER.debug("Poll of %s: %d butler tasks", self.server_name, len(tasks))
        previous = self.data
        if previous is not None and (
            not self.last_update_success or previous.tasks.keys() != data.tasks.keys()
        ):
            try:
                self._async_follow_server(await self._async_read_server())
            except ConfigEntryError as err:
                raise UpdateFailed(str(err)) from err
        self._fetched_at = dt_util.utcnow()
        return data

    def _async_follow_server(self, server: PlexServer) -> None:
        """Carry a renamed or upgraded server over to its device and entry title.

        A device name the user set (``name_by_user``) and an entry title the user
        chose are theirs: only values that still equal the server's old name move.
        """
        old, self.server = self.server, server
        if server == old:
            return
        LOGGER.debug(
            "%s is now %s %s", old.friendly_name, server.friendly_name, server.version
        )
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id,
            identifiers={(DOMAIN, server.machine_identifier)},
            name=server.friendly_name,
            sw_version=server.version,
        )
        if self.config_entry.title == old.friendly_name:
            self.hass.config_entries.async_update_entry(
                self.config_entry, title=server.friendly_name
            )

    async def async_refresh_now(self) -> None:
        """Refresh at once, not debounced; callers that ask together share one read.

        The shared read is shielded: a caller that gives up does not cancel it
        for the others.
        """
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = self.config_entry.async_create_background_task(
                self.hass, self.async_refresh(), f"{DOMAIN} refresh {self.server_name}"
            )
        await asyncio.shield(self._refreshing)

    async def async_refresh_for_unknown_name(self) -> None:
        """Re-read the task list for a name it lacks, at most once per interval."""
        if dt_util.utcnow() - self._fetched_at >= UNKNOWN_NAME_REFRESH_AFTER:
            await self.async_refresh_now()

    async def async_start_task(self, name: str) -> StartResult:
        """Start a task; the button and the action both come through here.

        Every client error becomes a translated Home Assistant error here and
        nowhere else. A rejected token also starts reauthentication.
        """
        try:
            result = await self.client.async_start_task(name)
        except PlexNotFoundError as err:
            raise await self._async_task_gone(name) from err
        except PlexError as err:
            raise self._action_error(err, starting=True) from err
        await self._async_back_after_success()
        return result

    async def _async_task_gone(self, name: str) -> HomeAssistantError:
        """The server dropped a task it listed: re-read its list, then say so.

        A task the caller saw on the server is no misuse, hence not a
        ServiceValidationError. The list in the message is read after the 404,
        so it cannot still contain the task unless the server still lists it.
        """
        await self.async_refresh_now()
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="task_not_on_server",
            translation_placeholders={
                "server": self.server_name,
                "task": name,
                "tasks": ", ".join(sorted(self.data.tasks)),
            },
        )

    # --- settings, stopping, all tasks: the one path of switches, selects,
    # texts and actions alike ---------------------------------------------------

    def _action_error(
        self, err: PlexError, *, starting: bool = False
    ) -> HomeAssistantError:
        """A translated error naming the server; a rejected token starts reauth.

        ``starting`` marks a request that starts work, so that a timeout does
        not claim nothing happened.
        """
        if isinstance(err, PlexAuthenticationError):
            self.config_entry.async_start_reauth(self.hass)
        return translated_error(
            HomeAssistantError, err, self.server_name, starting=starting
        )

    async def _async_back_after_success(self) -> None:
        """The server just answered: if polls had lost it, don't wait for the next."""
        if not self.last_update_success:
            await self.async_refresh_now()

    async def async_set_setting(self, setting_id: str, value: bool | int | str) -> None:
        """Write a setting; the entities show it at once, the next poll confirms it."""
        setting = self.data.settings[setting_id]
        try:
            await self.client.async_set_setting(setting_id, value)
        except PlexError as err:
            if isinstance(err, PlexAuthenticationError):
                self.config_entry.async_start_reauth(self.hass)
            placeholders = {
                "server": self.server_name,
                "setting": setting.label,
                "value": str(value),
                "error": str(err),
            }
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=(
                    "setting_refused"
                    if isinstance(err, PlexBadRequestError)
                    else "setting_failed"
                ),
                translation_placeholders=placeholders,
            ) from err
        settings = {**self.data.settings, setting_id: replace(setting, value=value)}
        self.async_set_updated_data(replace(self.data, settings=settings))

    async def async_stop_task(self, name: str) -> StopResult:
        """Stop a task; one that is not running is a result, not an error."""
        try:
            return await self.client.async_stop_task(name)
        except PlexError as err:
            raise self._action_error(err) from err

    async def async_start_all_tasks(self) -> None:
        """Start every task enabled in the server's settings."""
        try:
            await self.client.async_start_all_tasks()
        except PlexError as err:
            raise self._action_error(err) from err

    async def async_stop_all_tasks(self) -> None:
        """Stop every running task and clear the butler's queue."""
        try:
            await self.client.async_stop_all_tasks()
        except PlexError as err:
            raise self._action_error(err) from err

    # --- libraries ------------------------------------------------------------

    async def _async_read_libraries(self) -> dict[str, LibrarySection]:
        """Read the sections list; one request, however many libraries there are."""
        try:
            sections = await self.client.async_get_sections()
        except PlexError as err:
            LOGGER.debug("Libraries of %s: %r", self.server_name, err)
            raise self._polling_error(err) from err
        return {section.uuid: section for section in sections}

    @callback
    def async_follow_library_scans(self) -> None:
        """Show library scans as Plex pushes them: ``library.update.section``.

        Called with each change of the activities; the next poll still reads
        the truth from the sections list.
        """
        for event in self.activity.data.events:
            activity = event.activity
            if activity.type == "library.update.section" and activity.library_section:
                self.async_set_library_refreshing(
                    activity.library_section, event.event_type == "started"
                )

    @callback
    def async_set_library_refreshing(self, section_key: str, refreshing: bool) -> None:
        """Say that library ``section_key`` started or stopped scanning.

        For a live source such as the websocket's ``library.update.section``
        activities (``Context.librarySectionID`` is the key): the entities
        update at once, without a request and without moving the next poll,
        which reads the truth again. An unknown key is ignored.
        """
        libraries = dict(self.data.libraries)
        for uuid, section in libraries.items():
            if section.key == section_key and section.refreshing != refreshing:
                libraries[uuid] = replace(section, refreshing=refreshing)
                self.data = replace(self.data, libraries=libraries)
                self.async_update_listeners()
                return

    async def async_refresh_library(
        self, section: LibrarySection, path: str | None = None, *, force: bool = False
    ) -> LibraryRefreshResult:
        """Scan a library, or one folder of it; the button and the action use this.

        A library that is scanning already is left alone unless ``force`` asks
        for a new scan. Client errors become translated errors here, as in
        ``async_start_task``; a rejected token also starts reauthentication.
        """
        if section.refreshing and not force:
            return LibraryRefreshResult.ALREADY_REFRESHING
        try:
            await self.client.async_refresh_section(section.key, path, force=force)
        except PlexNotFoundError as err:
            raise await self._async_library_gone(section) from err
        except PlexError as err:
            raise self._action_error(err, starting=True) from err
        await self._async_back_after_success()
        return LibraryRefreshResult.STARTED

    async def _async_library_gone(self, section: LibrarySection) -> HomeAssistantError:
        """The server no longer has the section: re-read its libraries, then say so."""
        await self.async_refresh_now()
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="library_not_on_server",
            translation_placeholders={
                "server": self.server_name,
                "library": section.title,
                "libraries": library_list(self.data.libraries.values()),
            },
        )


def library_list(sections: Iterable[LibrarySection]) -> str:
    """The libraries as messages list them: ``Movies (1), YouTube (7)``."""
    return (
        ", ".join(
            f"{section.title} ({section.key})"
            for section in sorted(sections, key=lambda s: s.title.casefold())
        )
        or "none"
    )
