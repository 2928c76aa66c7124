"""The actions: start or stop one task or all of them, refresh a library."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .api import LibrarySection
from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_FORCE,
    ATTR_LIBRARY,
    ATTR_PATH,
    ATTR_TASK,
    DOMAIN,
    SERVICE_REFRESH_LIBRARY,
    SERVICE_START_ALL_TASKS,
    SERVICE_START_TASK,
    SERVICE_STOP_ALL_TASKS,
    SERVICE_STOP_TASK,
)
from .coordinator import PlexButlerConfigEntry, PlexButlerCoordinator, library_list
from .libraries import folder_in_library, match_library, suggest_library
from .tasks import match_task, suggest_task, task_key


class _StartTaskSchema(vol.Schema):
    """The action's schema, with the usual call checked without voluptuous.

    Walking two keys through voluptuous costs more than the rest of the
    action's own work. Two strings and nothing else pass cv.string unchanged,
    so they are copied as they are; anything else goes through voluptuous.
    """

    def __call__(self, data: Any) -> Any:
        """Validate ``data`` as the full schema would."""
        if (
            type(data) is dict
            and len(data) == 2
            and isinstance(data.get(ATTR_CONFIG_ENTRY_ID), str)
            and isinstance(data.get(ATTR_TASK), str)
        ):
            return dict(data)
        return super().__call__(data)  # type: ignore[no-untyped-call]


START_TASK_SCHEMA = _StartTaskSchema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_TASK): cv.string,
    }
)


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> PlexButlerConfigEntry:
    """Return the targeted Plex Butler entry, or say why it cannot be used."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    loaded: PlexButlerConfigEntry = entry
    return loaded


async def _async_resolve_task(
    coordinator: PlexButlerCoordinator, requested: str
) -> str:
    """The server's name of the task a user typed; the task actions share it."""
    name = match_task(requested, coordinator.data.tasks)
    if name is None:
        # The server may have gained the task since the last poll.
        await coordinator.async_refresh_for_unknown_name()
        name = match_task(requested, coordinator.data.tasks)
    if name is None:
        raise _unknown_task(coordinator.server_name, requested, coordinator.data.tasks)
    return name


async def _async_start_task(call: ServiceCall) -> ServiceResponse:
    """Start a task by its Plex name or key and say whether it started."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    coordinator = entry.runtime_data
    name = await _async_resolve_task(coordinator, call.data[ATTR_TASK])
    result = await coordinator.async_start_task(name)
    if not call.return_response:
        return None
    return {"task": name, "result": result.value}


def _unknown_task(
    server: str, requested: str, available: Collection[str]
) -> ServiceValidationError:
    """Say which tasks exist, as keys users type and Plex's names, and guess one."""
    placeholders = {
        "server": server,
        "task": requested,
        "tasks": ", ".join(
            f"{task_key(name)} ({name})" for name in sorted(available, key=task_key)
        ),
    }
    suggestion = suggest_task(requested, available)
    if suggestion is None:
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_task",
            translation_placeholders=placeholders,
        )
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_task_suggestion",
        translation_placeholders={
            **placeholders,
            "suggestion": f"{task_key(suggestion)} ({suggestion})",
        },
    )


ENTRY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


async def _async_stop_task(call: ServiceCall) -> ServiceResponse:
    """Stop a task by its Plex name or key; say whether it was running."""
    coordinator = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID]).runtime_data
    name = await _async_resolve_task(coordinator, call.data[ATTR_TASK])
    result = await coordinator.async_stop_task(name)
    if not call.return_response:
        return None
    return {"task": name, "result": result.value}


async def _async_start_all_tasks(call: ServiceCall) -> ServiceResponse:
    """Start every task the server's settings enable."""
    coordinator = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID]).runtime_data
    await coordinator.async_start_all_tasks()
    return {"result": "requested"} if call.return_response else None


async def _async_stop_all_tasks(call: ServiceCall) -> ServiceResponse:
    """Stop every running task and clear the queue."""
    coordinator = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID]).runtime_data
    await coordinator.async_stop_all_tasks()
    return {"result": "requested"} if call.return_response else None


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions once, whether or not any entry is loaded."""
    for service, handler, schema in (
        (SERVICE_STOP_TASK, _async_stop_task, START_TASK_SCHEMA),
        (SERVICE_START_ALL_TASKS, _async_start_all_tasks, ENTRY_SCHEMA),
        (SERVICE_STOP_ALL_TASKS, _async_stop_all_tasks, ENTRY_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN,
            service,
            handler,
            schema=schema,
            supports_response=SupportsResponse.OPTIONAL,
        )
    hass.services.async_register(
        DOMAIN,
        SERVICE_START_TASK,
        _async_start_task,
        schema=START_TASK_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    _async_setup_library_services(hass)


REFRESH_LIBRARY_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_LIBRARY): cv.string,
        vol.Optional(ATTR_PATH): vol.Any(None, cv.string),
        vol.Optional(ATTR_FORCE, default=False): cv.boolean,
    }
)


async def _async_refresh_library(call: ServiceCall) -> ServiceResponse:
    """Scan a library, or one folder of it, and say whether a scan started."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    coordinator = entry.runtime_data
    section = await _find_library(coordinator, call.data[ATTR_LIBRARY])
    path = _folder(coordinator, section, call.data.get(ATTR_PATH))
    result = await coordinator.async_refresh_library(
        section, path, force=call.data[ATTR_FORCE]
    )
    if not call.return_response:
        return None
    return {"library": section.title, "path": path, "result": result.value}


async def _find_library(
    coordinator: PlexButlerCoordinator, requested: str
) -> LibrarySection:
    """The library by title or key; the list is read again for a new one."""
    section = match_library(requested, coordinator.data.libraries.values())
    if section is None:
        # The server may have gained the library since the last poll.
        await coordinator.async_refresh_for_unknown_name()
        section = match_library(requested, coordinator.data.libraries.values())
    if section is not None:
        return section
    sections = coordinator.data.libraries.values()
    placeholders = {
        "server": coordinator.server_name,
        "library": requested,
        "libraries": library_list(sections),
    }
    if (suggestion := suggest_library(requested, sections)) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_library",
            translation_placeholders=placeholders,
        )
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_library_suggestion",
        translation_placeholders={**placeholders, "suggestion": suggestion.title},
    )


def _folder(
    coordinator: PlexButlerCoordinator, section: LibrarySection, path: str | None
) -> str | None:
    """The folder to scan, normalised; None (a blank path too) for all of it."""
    if path is None or not path.strip():
        return None
    if (folder := folder_in_library(path, section.locations)) is not None:
        return folder
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="path_not_in_library",
        translation_placeholders={
            "server": coordinator.server_name,
            "library": section.title,
            "path": path,
            "locations": ", ".join(section.locations) or "none",
        },
    )


@callback
def _async_setup_library_services(hass: HomeAssistant) -> None:
    """Register ``refresh_library``; called by ``async_setup_services``."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_REFRESH_LIBRARY,
        _async_refresh_library,
        schema=REFRESH_LIBRARY_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
