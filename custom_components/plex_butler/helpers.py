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
from .plextv import plex_direct_target


async def async_client_identifier(hass: HomeAssistant) -> str:
    """The identifier Plex and plex.tv know this installation by.

    Derived from this Home Assistant installation, so Plex sees one stable
    device per installation rather than one per request or per sign-in.
    """
    return f"home-assistant-plex-butler-{await instance_id.async_get(hass)}"


async def async_create_client(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> PlexButlerClient:
    """Return a client on Home Assistant's shared session for this entry's data.

    A ``*.plex.direct`` URL (what Sign in with Plex usually picks) is reached
    at the IP its name spells, with the certificate checked against the name.
    """
    session = async_get_clientsession(hass, verify_ssl=data[CONF_VERIFY_SSL])
    url, server_hostname = plex_direct_target(data[CONF_URL])
    return PlexButlerClient(
        session,
        url,
        data[CONF_TOKEN],
        client_identifier=await async_client_identifier(hass),
        timeout=REQUEST_TIMEOUT,
        server_hostname=server_hostname,
    )
