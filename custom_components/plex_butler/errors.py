"""Turn the client's errors into Home Assistant's translated errors, in one place.

Every message names the server by its entry title and gives a short cause a
user can act on. The client's own exception text never reaches the user: its
details go to the debug log (without the token), where ``api.py`` puts them.
"""

from __future__ import annotations

from typing import Final

from homeassistant.exceptions import HomeAssistantError

from .api import (
    PlexAuthenticationError,
    PlexCertificateHostnameError,
    PlexCertificateUntrustedError,
    PlexConnectionError,
    PlexConnectionRefusedError,
    PlexError,
    PlexHostNotFoundError,
    PlexNotHttpsError,
    PlexResponseTooLargeError,
    PlexSSLError,
    PlexTimeoutError,
)
from .const import DOMAIN

# Most specific first: the first class an error is an instance of wins.
_KEYS: Final[tuple[tuple[type[PlexError], str], ...]] = (
    (PlexAuthenticationError, "authentication_failed"),
    (PlexTimeoutError, "timeout"),
    (PlexHostNotFoundError, "host_not_found"),
    (PlexConnectionRefusedError, "connection_refused"),
    (PlexNotHttpsError, "not_https"),
    (PlexCertificateUntrustedError, "certificate_untrusted"),
    (PlexCertificateHostnameError, "certificate_wrong_name"),
    (PlexSSLError, "tls_failed"),
    (PlexConnectionError, "cannot_connect"),
    (PlexResponseTooLargeError, "response_too_large"),
)


def error_key(err: PlexError) -> str:
    """The translation key that says what went wrong."""
    for error_class, key in _KEYS:
        if isinstance(err, error_class):
            return key
    return "unexpected_response"


def translated_error[ErrorT: HomeAssistantError](
    error_type: type[ErrorT], err: PlexError, server: str, *, starting: bool = False
) -> ErrorT:
    """Build a translated ``error_type`` that names ``server`` and the cause.

    ``starting`` marks a request that starts work: after a timeout Plex may have
    received it, so the message must not claim that nothing happened.
    """
    placeholders = {"server": server, "error": str(err)}
    key = error_key(err)
    if isinstance(err, PlexTimeoutError):
        placeholders["seconds"] = f"{err.seconds:g}"
        if starting:
            key = "start_timeout"
    return error_type(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )
