"""Set up, re-authenticate and reconfigure a Plex server's butler."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
import ipaddress
from typing import Any, Final

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_REAUTH,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import callback
from homeassistant.data_entry_flow import UnknownFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.helpers.typing import DiscoveryInfoType
import voluptuous as vol
from yarl import URL

from .api import PlexAuthenticationError, PlexConnectionError, PlexError, PlexServer
from .const import DEFAULT_PORT, DOMAIN, LOGGER
from .errors import error_key
from .helpers import async_client_identifier, async_create_client
from .pasted_input import (
    InvalidInputError,
    ServerAddress,
    choose_token,
    parse_address,
)
from .plextv import (
    NoConnectionError,
    PickedConnection,
    PinExpiredError,
    PlexResource,
    PlexTvClient,
    PlexTvError,
    async_pick_connection,
    owned_servers,
    plex_direct_ip,
)
from .signin import async_plex_tv_client, forward_url, server_label

TEXT_SELECTOR = TextSelector(
    # Plain text, not the URL type: browsers refuse "192.168.1.10:32400" there.
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="url")
)
TOKEN_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off")
)

# The token may be left empty when the address carries X-Plex-Token=, and in
# reconfigure, where empty keeps the stored token.
USER_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_URL): TEXT_SELECTOR,
        vol.Optional(CONF_TOKEN): TOKEN_SELECTOR,
        vol.Required(CONF_VERIFY_SSL, default=True): bool,
    }
)
TOKEN_SCHEMA = vol.Schema({vol.Required(CONF_TOKEN): TOKEN_SELECTOR})

# Errors that blame the token itself.
_TOKEN_ERRORS: Final = frozenset(
    {"invalid_auth", "not_owner", "invalid_token", "token_required"}
)

# How a failed read of ``/`` is shown on the form, by errors.error_key.
_SERVER_ERRORS: Final = {
    "authentication_failed": "invalid_auth",
    "host_not_found": "host_not_found",
    "not_https": "not_https",
    "certificate_untrusted": "certificate_untrusted",
    "certificate_wrong_name": "certificate_wrong_name",
    "tls_failed": "ssl_error",
    "timeout": "cannot_connect",
    "connection_refused": "cannot_connect",
    "cannot_connect": "cannot_connect",
}


async def _async_check_server(flow: ConfigFlow, data: dict[str, Any]) -> PlexServer:
    """Read the server and its butler with these settings, or raise InvalidInputError.

    Reading ``/`` proves the token is good; reading ``/butler`` proves it is
    the owner's, since only the owner may run maintenance.
    """
    client = await async_create_client(flow.hass, data)
    try:
        server = await client.async_get_server()
    except PlexError as err:
        raise InvalidInputError(
            _SERVER_ERRORS.get(error_key(err), "not_plex_server")
        ) from err
    try:
        await client.async_get_tasks()
    except PlexAuthenticationError as err:
        raise InvalidInputError("not_owner") from err
    except PlexConnectionError as err:
        raise InvalidInputError(_SERVER_ERRORS[error_key(err)]) from err
    except PlexError as err:
        raise InvalidInputError("no_butler") from err
    return server


async def _async_check_address(
    flow: ConfigFlow, address: ServerAddress, data: dict[str, Any]
) -> tuple[PlexServer, dict[str, Any]]:
    """Check the address as given, then on Plex's own port if nothing answered."""
    try:
        return await _async_check_server(flow, data), data
    except InvalidInputError as err:
        if err.error != "cannot_connect" or address.fallback_url is None:
            raise
        first = err
    fallback = {**data, CONF_URL: address.fallback_url}
    try:
        return await _async_check_server(flow, fallback), fallback
    except InvalidInputError as err:
        if err.error == "cannot_connect":
            raise first from err
        raise


class PlexButlerConfigFlow(ConfigFlow, domain=DOMAIN):
    """Sign in with Plex, or take a server URL and token; check both before saving."""

    VERSION = 1
    MINOR_VERSION = 1

    _discovered_url: str = ""
    _discovered_name: str = ""
    # What the form shows after an error: the input as read, the typed token.
    _suggested: Mapping[str, Any] = {}
    # The step that asks for a token where this flow started: the menus of the
    # sign-in offer it as the other way.
    _paste_step: str = "manual"
    # Sign in with Plex: the plex.tv client, the PIN poll, the account's token
    # (only in memory, never stored) and the servers the picker offers.
    _plextv: PlexTvClient
    _pin_task: asyncio.Task[str] | None = None
    _waiting_for_browser: bool = False
    _user_token: str = ""
    _servers: Mapping[str, PlexResource] = {}
    _picked: tuple[PlexResource, PickedConnection]

    async def _async_validate(
        self,
        user_input: Mapping[str, Any],
        errors: dict[str, str],
        *,
        stored_token: str | None = None,
    ) -> tuple[PlexServer, dict[str, Any]] | None:
        """Read and check the input; fill ``errors`` and return None if bad.

        The token is the one typed, else the address's ``X-Plex-Token``, else
        ``stored_token`` (reconfigure keeps it when the field is left empty).
        What the form should show again goes to ``self._suggested``: the
        address as read and the token typed in this flow, never a stored one.
        """
        raw_url = str(user_input.get(CONF_URL, ""))
        raw_token = str(user_input.get(CONF_TOKEN) or "")
        self._suggested = {**user_input, CONF_TOKEN: raw_token}
        try:
            address = parse_address(raw_url, CONF_URL)
            self._suggested[CONF_URL] = address.url
            token = choose_token(raw_token, address, stored_token, CONF_TOKEN)
            if token != stored_token:
                self._suggested[CONF_TOKEN] = token
            data = {
                CONF_URL: address.url,
                CONF_TOKEN: token,
                CONF_VERIFY_SSL: user_input[CONF_VERIFY_SSL],
            }
            return await _async_check_address(self, address, data)
        except InvalidInputError as err:
            errors[err.field] = err.error
            if err.error in _TOKEN_ERRORS:
                # A token that is the problem is not worth showing again.
                self._suggested[CONF_TOKEN] = None
        except Exception:  # noqa: BLE001 - shown as "unknown", logged with a trace
            LOGGER.exception("Unexpected error while checking the Plex server")
            errors["base"] = "unknown"
        return None

    def _show(
        self,
        *,
        step_id: str,
        schema: vol.Schema,
        errors: dict[str, str],
        placeholders: dict[str, str] | None = None,
        suggested: Mapping[str, Any] | None = None,
    ) -> ConfigFlowResult:
        """Show a form again with what this flow read from the user's input."""
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, suggested if suggested is not None else self._suggested
            ),
            description_placeholders=placeholders,
            errors=errors,
        )

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer Sign in with Plex first, and the address and token form."""
        return self.async_show_menu(step_id="user", menu_options=["signin", "manual"])

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the server's URL and an owner token."""
        errors: dict[str, str] = {}
        if user_input is not None and (
            checked := await self._async_validate(user_input, errors)
        ):
            server, data = checked
            return await self._async_create(server, data)
        return self._show(step_id="manual", schema=USER_SCHEMA, errors=errors)

    async def _async_create(
        self, server: PlexServer, data: dict[str, Any]
    ) -> ConfigFlowResult:
        """Create the entry of a checked server, unless it is set up already."""
        # The user's own step wins over a discovery card of the same server;
        # creating the entry then ends that card.
        await self.async_set_unique_id(
            server.machine_identifier, raise_on_progress=False
        )
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=server.friendly_name, data=data)

    # --- Sign in with Plex ----------------------------------------------------

    async def async_step_signin(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Get a PIN from plex.tv and send the user to Plex's sign-in page."""
        try:
            self._plextv = await async_plex_tv_client(self.hass)
            pin = await self._plextv.async_create_pin()
        except (PlexTvError, ValueError) as err:
            LOGGER.warning("Sign in with Plex could not start: %s", err)
            return await self.async_step_signin_failed()
        self._async_stop_polling()
        # A background task: it outlives no flow (async_remove cancels it), and
        # waiting for everything to settle must not wait for a user to sign in.
        self._pin_task = task = self.hass.async_create_background_task(
            self._plextv.async_wait_for_token(pin), f"{DOMAIN} sign-in {self.flow_id}"
        )
        task.add_done_callback(self._async_token_arrived)
        self._waiting_for_browser = True
        return self.async_external_step(
            step_id="signin_browser",
            url=self._plextv.auth_url(pin, forward_url(self.hass, self.flow_id)),
        )

    @callback
    def _async_token_arrived(self, task: asyncio.Task[str]) -> None:
        """Move on without the browser's return: the user may close the window."""
        if task.cancelled() or not self._waiting_for_browser:
            return

        async def finish_browser_step() -> None:
            with suppress(UnknownFlow):
                await self.hass.config_entries.flow.async_configure(self.flow_id)

        self.hass.async_create_task(finish_browser_step())

    async def async_step_signin_browser(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The browser came back, or the PIN poll ended: wait for the token."""
        self._waiting_for_browser = False
        return self.async_external_step_done(next_step_id="signin_wait")

    async def async_step_signin_wait(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show progress until the PIN carries a token, expires or fails."""
        task = self._pin_task
        if task is None or not task.done():
            return self.async_show_progress(
                step_id="signin_wait", progress_action="signin_wait", progress_task=task
            )
        try:
            self._user_token = task.result()
        except PinExpiredError:
            return self.async_show_progress_done(next_step_id="signin_expired")
        except PlexTvError as err:
            LOGGER.warning("Sign in with Plex failed: %s", err)
            return self.async_show_progress_done(next_step_id="signin_failed")
        return self.async_show_progress_done(next_step_id="server")

    async def async_step_signin_expired(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Nobody signed in before the PIN expired: start again, or paste a token."""
        return self.async_show_menu(
            step_id="signin_expired", menu_options=["signin", self._paste_step]
        )

    async def async_step_signin_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """plex.tv could not be reached: try again, or paste a token."""
        return self.async_show_menu(
            step_id="signin_failed", menu_options=["signin", self._paste_step]
        )

    @callback
    def async_remove(self) -> None:
        """Stop polling plex.tv when the flow ends, however it ends."""
        self._async_stop_polling()

    @callback
    def _async_stop_polling(self) -> None:
        self._waiting_for_browser = False
        if self._pin_task is not None and not self._pin_task.done():
            self._pin_task.cancel()

    async def async_step_server(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the account's own servers, or go on with the only one."""
        if user_input is not None:
            return await self._async_use_server(self._servers[user_input["server"]])
        try:
            resources = await self._plextv.async_get_resources(self._user_token)
        except PlexTvError as err:
            LOGGER.warning("Sign in with Plex could not list servers: %s", err)
            return await self.async_step_signin_failed()
        owned = owned_servers(resources)
        if not owned:
            return self.async_abort(reason="no_owned_server")
        if self.unique_id is not None:
            # Re-authentication and discovery are about one server.
            wanted = [r for r in owned if r.client_identifier == self.unique_id]
            if not wanted:
                return self.async_abort(reason="wrong_server")
            return await self._async_use_server(wanted[0])
        configured = self._async_current_ids(include_ignore=True)
        new = [r for r in owned if r.client_identifier not in configured]
        if not new:
            return self.async_abort(reason="already_configured")
        if len(new) == 1:
            return await self._async_use_server(new[0])
        self._servers = {r.client_identifier: r for r in new}
        options = [
            SelectOptionDict(value=r.client_identifier, label=server_label(r))
            for r in new
        ]
        return self.async_show_form(
            step_id="server",
            data_schema=vol.Schema(
                {
                    vol.Required("server"): SelectSelector(
                        SelectSelectorConfig(options=options)
                    )
                }
            ),
        )

    async def _async_use_server(self, resource: PlexResource) -> ConfigFlowResult:
        """Reauth keeps its address; otherwise find the best working connection."""
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            return await self._async_signed_in(
                {**entry.data, CONF_TOKEN: resource.access_token or ""}
            )
        await self.async_set_unique_id(
            resource.client_identifier, raise_on_progress=False
        )
        self._abort_if_unique_id_configured()
        try:
            picked = await async_pick_connection(
                async_get_clientsession(self.hass),
                resource,
                client_identifier=await async_client_identifier(self.hass),
            )
        except NoConnectionError as err:
            LOGGER.warning("Sign in with Plex found no way to the server: %s", err)
            return self.async_abort(
                reason="no_connection", description_placeholders={"name": resource.name}
            )
        self._picked = resource, picked
        if picked.relay_only:
            return await self.async_step_relay()
        return await self._async_signed_in(self._signed_in_data())

    async def async_step_relay(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Only Plex's relay answered: say it is slow before using it."""
        if user_input is not None:
            return await self._async_signed_in(self._signed_in_data())
        return self.async_show_form(
            step_id="relay",
            description_placeholders={
                "name": self._picked[0].name,
                "url": self._picked[1].connection.uri,
            },
        )

    def _signed_in_data(self) -> dict[str, Any]:
        """The picked URL and the server's own token; the account's is not kept."""
        resource, picked = self._picked
        return {
            CONF_URL: picked.connection.uri,
            CONF_TOKEN: resource.access_token or "",
            CONF_VERIFY_SSL: True,
        }

    async def _async_signed_in(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Check the server with the signed-in token, then save it."""
        try:
            server = await _async_check_server(self, data)
        except InvalidInputError as err:
            LOGGER.warning("The signed-in server refused its token: %s", err.error)
            return self.async_abort(
                reason="no_butler"
                if err.error == "no_butler"
                else "not_owner"
                if err.error in _TOKEN_ERRORS
                else "cannot_connect"
            )
        if self.source == SOURCE_REAUTH:
            return await self._async_reauthenticated(server, data)
        return await self._async_create(server, data)

    # --- discovery ----------------------------------------------------------

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """Offer a server found on the network; it still needs the owner's token."""
        # "plex.home._plexmediasvr._tcp.local." is the server "plex.home".
        name = discovery_info.name.removesuffix(f".{discovery_info.type}")
        return await self._async_discovered(
            str(discovery_info.ip_address), discovery_info.port or DEFAULT_PORT, name
        )

    async def async_step_integration_discovery(
        self, discovery_info: DiscoveryInfoType
    ) -> ConfigFlowResult:
        """Offer a server that answered a GDM search (see discovery.py)."""
        return await self._async_discovered(
            discovery_info["host"], discovery_info["port"], discovery_info["name"]
        )

    async def _async_discovered(
        self, host: str, port: int, name: str | None
    ) -> ConfigFlowResult:
        """Check who answers there, follow a moved server, or offer a new one."""
        url = str(URL.build(scheme="http", host=host, port=port))
        client = await async_create_client(
            self.hass, {CONF_URL: url, CONF_TOKEN: "", CONF_VERIFY_SSL: True}
        )
        try:
            identity = await client.async_get_identity()
        except PlexError:
            return self.async_abort(reason="cannot_connect")
        await self.async_set_unique_id(identity.machine_identifier)
        self._async_follow_moved_server(host, port)
        self._abort_if_unique_id_configured()
        self._discovered_url = url
        self._discovered_name = name or identity.friendly_name
        self._paste_step = "zeroconf_confirm"
        self.context["title_placeholders"] = {"name": self._discovered_name}
        return await self.async_step_discovered()

    async def async_step_discovered(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A found server: sign in with Plex, or paste a token for its address."""
        return self.async_show_menu(
            step_id="discovered",
            menu_options=["signin", "zeroconf_confirm"],
            description_placeholders={
                "name": self._discovered_name,
                "url": self._discovered_url,
            },
        )

    @callback
    def _async_follow_moved_server(self, host: str, port: int) -> None:
        """Point a known server's entry at the address it was just found at.

        A plain ``http://<ip>`` URL follows; a ``*.plex.direct`` one gets the
        new IP spelled into its name. Any other hostname or https URL was
        chosen on purpose (certificates, DNS). An ignored entry is left alone.
        The entry is reloaded whatever its setup state, so one that failed
        because its old address now leads to another server comes back.
        """
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, self.unique_id or ""
        )
        if entry is None or entry.source == SOURCE_IGNORE:
            return
        url = _moved_url(entry.data[CONF_URL], host, port)
        if url is None or not self.hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_URL: url}
        ):
            return
        if entry.state in (
            ConfigEntryState.LOADED,
            ConfigEntryState.SETUP_RETRY,
            ConfigEntryState.SETUP_ERROR,
        ):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the token of the discovered server."""
        errors: dict[str, str] = {}
        if user_input is not None and (
            checked := await self._async_validate(
                {**user_input, CONF_URL: self._discovered_url, CONF_VERIFY_SSL: True},
                errors,
            )
        ):
            server, data = checked
            return await self._async_create(server, data)
        return self._show(
            step_id="zeroconf_confirm",
            schema=TOKEN_SCHEMA,
            errors=errors,
            placeholders={"name": self._discovered_name, "url": self._discovered_url},
        )

    # --- reauth and reconfigure ---------------------------------------------

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The server refused the stored token: sign in again, or paste one."""
        entry = self._get_reauth_entry()
        await self.async_set_unique_id(entry.unique_id)
        self._paste_step = "reauth_confirm"
        return self.async_show_menu(
            step_id="reauth",
            menu_options=["signin", "reauth_confirm"],
            description_placeholders={"name": entry.title},
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new owner token for the same server."""
        errors: dict[str, str] = {}
        entry = self._get_reauth_entry()
        if user_input is not None and (
            checked := await self._async_validate(
                {**entry.data, CONF_TOKEN: user_input[CONF_TOKEN]}, errors
            )
        ):
            return await self._async_reauthenticated(*checked)
        return self._show(
            step_id="reauth_confirm",
            schema=TOKEN_SCHEMA,
            errors=errors,
            placeholders={"name": entry.title},
        )

    async def _async_reauthenticated(
        self, server: PlexServer, data: dict[str, Any]
    ) -> ConfigFlowResult:
        """Store the new token, if it is for the same server."""
        await self.async_set_unique_id(server.machine_identifier)
        self._abort_if_unique_id_mismatch(reason="wrong_server")
        return self.async_update_reload_and_abort(
            self._get_reauth_entry(), data_updates={CONF_TOKEN: data[CONF_TOKEN]}
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the URL, token or TLS check of a server already set up."""
        errors: dict[str, str] = {}
        entry = self._get_reconfigure_entry()
        if user_input is not None and (
            checked := await self._async_validate(
                user_input, errors, stored_token=entry.data[CONF_TOKEN]
            )
        ):
            server, data = checked
            await self.async_set_unique_id(server.machine_identifier)
            self._abort_if_unique_id_mismatch(reason="wrong_server")
            return self.async_update_reload_and_abort(entry, data_updates=data)
        suggested = None
        if user_input is None:
            # The stored token is never put back into a form.
            suggested = {k: v for k, v in entry.data.items() if k != CONF_TOKEN}
        return self._show(
            step_id="reconfigure",
            schema=USER_SCHEMA,
            errors=errors,
            placeholders={"name": entry.title},
            suggested=suggested,
        )


def _moved_url(stored: str, host: str, port: int) -> str | None:
    """The stored URL moved to the discovered address; None if it must stay.

    ``http://<ip>`` becomes ``http://<host>:<port>``. A ``*.plex.direct`` name
    keeps its scheme, hash and port, with the new IP spelled into its first
    label (``192-168-1-20.<hash>.plex.direct``). Anything else stays.
    """
    current = URL(stored)
    current_host = current.host or ""
    if plex_direct_ip(current_host) is not None:
        spelled = host.replace(".", "-").replace(":", "-")
        return str(current.with_host(f"{spelled}.{current_host.split('.', 1)[1]}"))
    try:
        ipaddress.ip_address(current_host)
    except ValueError:
        return None
    if current.scheme != "http":
        return None
    return str(URL.build(scheme="http", host=host, port=port))
