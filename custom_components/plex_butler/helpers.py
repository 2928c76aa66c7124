"""Build the Plex client the same way for setup and for the config flow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import instance_id
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import PlexButlerClient
from .const import REQUEST_TIMEOUT


async def async_create_client(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> PlexButlerClient:
    """Return a client on Home Assistant's shared session for this entry's data.

    The client identifier is derived from this Home Assistant installation, so
    Plex sees one stable device per installation rather than one per request.
    """
    session = async_get_clientsession(hass, verify_ssl=data[CONF_VERIFY_SSL])
    return PlexButlerClient(
        session,
        data[CONF_URL],
        data[CONF_TOKEN],
        client_identifier=f"home-assistant-plex-butler-{await instance_id.async_get(hass)}",
        timeout=REQUEST_TIMEOUT,
    )
