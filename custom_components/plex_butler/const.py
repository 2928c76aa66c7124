"""Constants of the Plex Butler integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "plex_butler"
LOGGER = logging.getLogger(__package__)

# The task list only changes when the server is upgraded, so polling is mostly a
# liveness check: five minutes notices a server that went away soon enough for a
# dashboard, and costs twelve small requests an hour.
SCAN_INTERVAL: Final = timedelta(minutes=5)

# Total time one request to the server may take before it counts as failed.
REQUEST_TIMEOUT: Final = 10.0

DEFAULT_PORT: Final = 32400

SERVICE_START_TASK: Final = "start_task"
SERVICE_STOP_TASK: Final = "stop_task"
SERVICE_START_ALL_TASKS: Final = "start_all_tasks"
SERVICE_STOP_ALL_TASKS: Final = "stop_all_tasks"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_TASK: Final = "task"

SERVICE_REFRESH_LIBRARY: Final = "refresh_library"
ATTR_LIBRARY: Final = "library"
ATTR_PATH: Final = "path"
ATTR_FORCE: Final = "force"
