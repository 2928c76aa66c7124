"""Set up, re-authenticate and reconfigure a Plex server's butler."""

from __future__ import annotations

from collections.abc import Mapping
import ipaddress
from typing import Any

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

from .api import (
    PlexAuthenticationError,
    PlexConnectionError,
    PlexError,
    PlexServer,
    PlexSSLError,
)
from .const import DEFAULT_PORT, DOMAIN, LOGGER
from .helpers import async_create_client

MAX_TOKEN_LENGTH = 512

URL_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.URL, autocomplete="url")
)
TOKEN_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off")
)

USER_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_URL): URL_SELECTOR,
        vol.Required(CONF_TOKEN): TOKEN_SELECTOR,
        vol.Required(CONF_VERIFY_SSL, default=True): bool,
    }
)
TOKEN_SCHEMA = vol.Schema({vol.Required(CONF_TOKEN): TOKEN_SELECTOR})


class InvalidInputError(Exception):
    """The form cannot be accepted; ``field`` and ``error`` say why."""

    def __init__(self, error: str, field: str = "base") -> None:
        """Keep the translation key of the error and the field it belongs to."""
        super().__init__(error)
        self.error = error
        self.field = field


def normalize_url(raw: str) -> str:
    """Return ``scheme://host[:port]`` or raise InvalidInputError for anything else.

    Plex serves its API at the root, so a path, query, fragment or credentials
    in the URL are mistakes worth pointing out rather than guessing around.
    """
    text = raw.strip()
    try:
        url = URL(text)
        port = url.explicit_port
    except (ValueError, TypeError) as err:
        raise InvalidInputError("invalid_url", CONF_URL) from err
    if (
        url.scheme not in ("http", "https")
        or not url.host
        or url.path not in ("", "/")
        or url.query_string
        or url.fragment
        or url.user is not None
        or " " in text
    ):
        raise InvalidInputError("invalid_url", CONF_URL)
    return str(URL.build(scheme=url.scheme, host=url.host, port=port))


def normalize_token(raw: str) -> str:
    """Return the token without surrounding blanks, or raise InvalidInputError."""
    token = raw.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isprintable():
        raise InvalidInputError("invalid_token", CONF_TOKEN)
    if any(char.isspace() for char in token):
        raise InvalidInputError("invalid_token", CONF_TOKEN)
    return token


async def _async_check_server(flow: ConfigFlow, data: dict[str, Any]) -> PlexServer:
    """Read the server and its butler with these settings, or raise InvalidInputError.

    Reading ``/`` proves the token is good; reading ``/butler`` proves it is
    the owner's, since only the owner may run maintenance.
    """
    client = await async_create_client(flow.hass, data)
    try:
        server = await client.async_get_server()
    except PlexAuthenticationError as err:
        raise InvalidInputError("invalid_auth") from err
    except PlexSSLError as err:
        raise InvalidInputError(
            "ssl_error" if data[CONF_VERIFY_SSL] else "cannot_connect"
        ) from err
    except PlexConnectionError as err:
        raise InvalidInputError("cannot_connect") from err
    except PlexError as err:
        raise InvalidInputError("not_plex_server") from err
    try:
        await client.async_get_tasks()
    except PlexAuthenticationError as err:
        raise InvalidInputError("not_owner") from err
    except PlexConnectionError as err:
        raise InvalidInputError("cannot_connect") from err
    except PlexError as err:
        raise InvalidInputError("no_butler") from err
    return server


class PlexButlerConfigFlow(ConfigFlow, domain=DOMAIN):
    """Ask for a server URL and token, and check both before saving."""

    VERSION = 1
    MINOR_VERSION = 1

    _discovered_url: str = ""
    _discovered_name: str = ""

    async def _async_validate(
        self, user_input: dict[str, Any], errors: dict[str, str]
    ) -> tuple[PlexServer, dict[str, Any]] | None:
        """Normalize and check the input; fill ``errors`` and return None if bad."""
        try:
            data = {
                CONF_URL: normalize_url(user_input[CONF_URL]),
                CONF_TOKEN: normalize_token(user_input[CONF_TOKEN]),
                CONF_VERIFY_SSL: user_input[CONF_VERIFY_SSL],
            }
            server = await _async_check_server(self, data)
        except InvalidInputError as err:
            errors[err.field] = err.error
            return None
        except Exception:  # noqa: BLE001 - shown as "unknown", logged with a trace
            LOGGER.exception("Unexpected error while checking the Plex server")
            errors["base"] = "unknown"
            return None
        return server, data

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
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                USER_SCHEMA, _without_token(user_input)
            ),
            errors=errors,
        )

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
                {
                    CONF_URL: self._discovered_url,
                    CONF_VERIFY_SSL: True,
                    CONF_TOKEN: user_input[CONF_TOKEN],
                },
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
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=TOKEN_SCHEMA,
            description_placeholders={
                "name": self._discovered_name,
                "url": self._discovered_url,
            },
            errors=errors,
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
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=TOKEN_SCHEMA,
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the URL, token or TLS check of a server already set up."""
        errors: dict[str, str] = {}
        entry = self._get_reconfigure_entry()
        if user_input is not None and (
            checked := await self._async_validate(user_input, errors)
        ):
            server, data = checked
            await self.async_set_unique_id(server.machine_identifier)
            self._abort_if_unique_id_mismatch(reason="wrong_server")
            return self.async_update_reload_and_abort(entry, data_updates=data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                USER_SCHEMA, _without_token(user_input or entry.data)
            ),
            description_placeholders={"name": entry.title},
            errors=errors,
        )


def _follows_discovery(url: str) -> bool:
    """Whether a stored URL is a plain ``http://<ip>`` that discovery may update."""
    current = URL(url)
    try:
        ipaddress.ip_address(current.host or "")
    except ValueError:
        return False
    return current.scheme == "http"


def _without_token(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Suggest earlier input again, but never put a token back into a form."""
    if values is None:
        return None
    return {key: value for key, value in values.items() if key != CONF_TOKEN}
