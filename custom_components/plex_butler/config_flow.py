"""Set up, re-authenticate and reconfigure a Plex server's butler."""

from __future__ import annotations

from collections.abc import Mapping
import ipaddress
from typing import Any, Final

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import voluptuous as vol
from yarl import URL

from .api import PlexAuthenticationError, PlexConnectionError, PlexError, PlexServer
from .const import DEFAULT_PORT, DOMAIN, LOGGER
from .errors import error_key
from .helpers import async_create_client
from .pasted_input import (
    InvalidInputError,
    ServerAddress,
    choose_token,
    parse_address,
)

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
    """Ask for a server URL and token, and check both before saving."""

    VERSION = 1
    MINOR_VERSION = 1

    _discovered_url: str = ""
    _discovered_name: str = ""
    # What the form shows after an error: the input as read, the typed token.
    _suggested: Mapping[str, Any] = {}

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
        """Ask for the server's URL and an owner token."""
        errors: dict[str, str] = {}
        if user_input is not None and (
            checked := await self._async_validate(user_input, errors)
        ):
            server, data = checked
            # The user's own step wins over a discovery card of the same server;
            # creating the entry then ends that card.
            await self.async_set_unique_id(
                server.machine_identifier, raise_on_progress=False
            )
            self._abort_if_unique_id_configured()
            return self.async_create_entry(title=server.friendly_name, data=data)
        return self._show(step_id="user", schema=USER_SCHEMA, errors=errors)

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """Offer a server found on the network; it still needs the owner's token."""
        url = str(
            URL.build(
                scheme="http",
                host=str(discovery_info.ip_address),
                port=discovery_info.port or DEFAULT_PORT,
            )
        )
        client = await async_create_client(
            self.hass, {CONF_URL: url, CONF_TOKEN: "", CONF_VERIFY_SSL: True}
        )
        try:
            identity = await client.async_get_identity()
        except PlexError:
            return self.async_abort(reason="cannot_connect")
        await self.async_set_unique_id(identity.machine_identifier)
        self._async_follow_moved_server(url)
        self._abort_if_unique_id_configured()
        self._discovered_url = url
        # "plex.home._plexmediasvr._tcp.local." is the server "plex.home".
        self._discovered_name = discovery_info.name.removesuffix(
            f".{discovery_info.type}"
        )
        self.context["title_placeholders"] = {"name": self._discovered_name}
        return await self.async_step_zeroconf_confirm()

    @callback
    def _async_follow_moved_server(self, url: str) -> None:
        """Point a known server's entry at the address it was just found at.

        Only a plain ``http://<ip>`` URL follows: a hostname or https URL was
        chosen on purpose (certificates, DNS). An ignored entry is left alone.
        The entry is reloaded whatever its setup state, so one that failed
        because its old address now leads to another server comes back.
        """
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, self.unique_id or ""
        )
        if entry is None or entry.source == SOURCE_IGNORE:
            return
        if not _follows_discovery(entry.data[CONF_URL]):
            return
        if not self.hass.config_entries.async_update_entry(
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
            # The user's own step wins over a discovery card of the same server;
            # creating the entry then ends that card.
            await self.async_set_unique_id(
                server.machine_identifier, raise_on_progress=False
            )
            self._abort_if_unique_id_configured()
            return self.async_create_entry(title=server.friendly_name, data=data)
        return self._show(
            step_id="zeroconf_confirm",
            schema=TOKEN_SCHEMA,
            errors=errors,
            placeholders={"name": self._discovered_name, "url": self._discovered_url},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The server refused the stored token."""
        return await self.async_step_reauth_confirm()

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
            server, data = checked
            await self.async_set_unique_id(server.machine_identifier)
            self._abort_if_unique_id_mismatch(reason="wrong_server")
            return self.async_update_reload_and_abort(
                entry, data_updates={CONF_TOKEN: data[CONF_TOKEN]}
            )
        return self._show(
            step_id="reauth_confirm",
            schema=TOKEN_SCHEMA,
            errors=errors,
            placeholders={"name": entry.title},
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


def _follows_discovery(url: str) -> bool:
    """Whether a stored URL is a plain ``http://<ip>`` that discovery may update."""
    current = URL(url)
    try:
        ipaddress.ip_address(current.host or "")
    except ValueError:
        return False
    return current.scheme == "http"
