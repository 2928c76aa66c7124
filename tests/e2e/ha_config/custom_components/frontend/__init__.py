"""A do-nothing ``frontend`` for the end-to-end Home Assistant.

Home Assistant always sets up ``frontend`` and falls back to recovery mode
(without custom integrations) when it fails. The real one needs the large
``home-assistant-frontend`` package, which the tests have no use for: they only
speak to the HTTP and websocket APIs. This stand-in keeps its dependencies, so
the APIs the tests use are still set up, and registers the real frontend's
``frontend/get_translations`` command, which the UI reads its texts with.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import websocket_api
from homeassistant.components.frontend import websocket_get_translations


async def async_setup(hass: Any, config: Any) -> bool:
    """No pages to serve; only the command that hands out translated texts."""
    websocket_api.async_register_command(hass, websocket_get_translations)
    return True
