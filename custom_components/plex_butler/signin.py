"""Sign in with Plex: the pieces the config flow needs besides its steps.

The flow sends the user's browser to plex.tv's auth page (an external step);
plex.tv then forwards the browser to ``AUTH_CALLBACK_PATH`` on this Home
Assistant, whose view tells the flow to look at the PIN again. The flow also
polls the PIN by itself, so closing the window early does not matter.
"""

from __future__ import annotations

from contextlib import suppress
from http import HTTPStatus
from typing import Final

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import UnknownFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView, current_request
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .api import PRODUCT
from .const import DOMAIN
from .helpers import async_client_identifier
from .plextv import PlexResource, PlexTvClient, plex_tv_urls

AUTH_CALLBACK_PATH: Final = "/api/plex_butler/auth_callback"
# The flow's step that waits for the browser; the view finishes only that one.
BROWSER_STEP: Final = "signin_browser"
_VIEW_REGISTERED: HassKey[bool] = HassKey(f"{DOMAIN}_auth_callback_view")

_CLOSE_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Plex Butler</title></head><body>"
    "<script>window.close()</script>"
    "Signed in. You may close this window and return to Home Assistant."
    "</body></html>"
)


class PlexButlerAuthCallbackView(HomeAssistantView):
    """Where plex.tv sends the browser back after the user signed in.

    It needs no login (the browser comes from plex.tv) and can do no harm:
    it only asks a Plex Butler flow that waits for the browser to check its
    PIN, which it also does every second by itself.
    """

    url = AUTH_CALLBACK_PATH
    name = "api:plex_butler:auth_callback"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Finish the flow's browser step and tell the user to close the window."""
        hass = request.app[KEY_HASS]
        flow_id = request.query.get("flow_id", "")
        flows = hass.config_entries.flow
        with suppress(UnknownFlow):
            flow = flows.async_get(flow_id)
            if flow["handler"] == DOMAIN and flow.get("step_id") == BROWSER_STEP:
                await flows.async_configure(flow_id)
        return web.Response(
            text=_CLOSE_PAGE, content_type="text/html", status=HTTPStatus.OK
        )


@callback
def forward_url(hass: HomeAssistant, flow_id: str) -> str | None:
    """The callback URL as this user's browser reaches Home Assistant, if known.

    The frontend names its base URL in a header; without it (a flow started
    over the API), Home Assistant's own URL; without that, none: the PIN is
    polled anyway, and the user closes the window.
    """
    if "http" not in hass.config.components:
        return None
    if not hass.data.get(_VIEW_REGISTERED):
        hass.http.register_view(PlexButlerAuthCallbackView)
        hass.data[_VIEW_REGISTERED] = True
    request = current_request.get()
    base = request.headers.get("HA-Frontend-Base") if request is not None else None
    if not base:
        try:
            base = get_url(hass)
        except NoURLAvailableError:
            return None
    return str((URL(base) / AUTH_CALLBACK_PATH.lstrip("/")).with_query(flow_id=flow_id))


async def async_plex_tv_client(hass: HomeAssistant) -> PlexTvClient:
    """A plex.tv client as this installation; ValueError if the override is bad.

    ``PLEX_BUTLER_PLEX_TV`` is read now, when a sign-in starts.
    """
    return PlexTvClient(
        async_get_clientsession(hass),
        product=PRODUCT,
        client_identifier=await async_client_identifier(hass),
        urls=plex_tv_urls(),
    )


def server_label(resource: PlexResource) -> str:
    """How the server picker shows a server: name, version, local or not."""
    where = (
        "local"
        if any(c.local and not c.relay for c in resource.connections)
        else "remote"
    )
    version = resource.product_version or "unknown version"
    return f"{resource.name} ({version}, {where})"
