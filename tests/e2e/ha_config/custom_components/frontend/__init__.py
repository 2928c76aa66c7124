"""A do-nothing ``frontend`` for the end-to-end Home Assistant.

Home Assistant always sets up ``frontend`` and falls back to recovery mode
(without custom integrations) when it fails. The real one needs the large
``home-assistant-frontend`` package, which the tests have no use for: they only
speak to the HTTP and websocket APIs. This stand-in keeps its dependencies, so
the APIs the tests use are still set up.
"""

from __future__ import annotations

from typing import Any


async def async_setup(hass: Any, config: Any) -> bool:
    """Nothing to serve: the tests never load a page."""
    return True
