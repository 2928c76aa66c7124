"""Read what people paste into the forms: server addresses and Plex tokens.

People paste what they have at hand: ``192.168.1.10:32400``, a Plex Web address,
the "View XML" address with ``X-Plex-Token=…`` in it, a token in quotes. Each is
turned into what the integration stores, or refused with the field to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from yarl import URL

from .const import DEFAULT_PORT

MAX_TOKEN_LENGTH: Final = 512
TOKEN_PARAMETER: Final = "x-plex-token"  # noqa: S105 - a name, not a secret
_QUOTES: Final = "\"'`<>"


class InvalidInputError(Exception):
    """The form cannot be accepted; ``field`` and ``error`` say why."""

    def __init__(self, error: str, field: str = "base") -> None:
        """Keep the translation key of the error and the field it belongs to."""
        super().__init__(error)
        self.error = error
        self.field = field


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """A pasted server address, read.

    ``url`` is what is tried and stored. ``fallback_url`` is Plex's own port,
    tried when nothing answers at ``url`` because its port was only implied by
    the scheme. ``token`` is an ``X-Plex-Token`` found in the query, if any.
    """

    url: str
    fallback_url: str | None = None
    token: str | None = None


def parse_address(raw: str, field: str) -> ServerAddress:
    """Read a pasted server address, or raise InvalidInputError on ``field``.

    - no scheme means ``http://``, and no port then means Plex's 32400;
    - a scheme without a port keeps that scheme's port (a reverse proxy may
      listen there), with 32400 as the fallback;
    - paths, queries and fragments are dropped: Plex answers at the root, and
      they come with Plex Web and "View XML" addresses;
    - ``X-Plex-Token`` in the query is taken as the token.
    """
    text = raw.strip().strip(_QUOTES).strip()
    has_scheme = "://" in text
    if not has_scheme:
        text = f"http://{text}"
    try:
        url = URL(text)
        port = url.explicit_port
        host = url.host
    except (ValueError, TypeError) as err:
        raise InvalidInputError("invalid_url", field) from err
    if (
        url.scheme not in ("http", "https")
        or not host
        or url.user is not None
        or any(char.isspace() for char in text)
    ):
        raise InvalidInputError("invalid_url", field)
    if host == "plex.tv" or host.endswith(".plex.tv"):
        # app.plex.tv is Plex Web served by Plex, not the user's server.
        raise InvalidInputError("plex_tv_address", field)
    fallback = None
    if port is None:
        if has_scheme:
            fallback = str(URL.build(scheme=url.scheme, host=host, port=DEFAULT_PORT))
        else:
            port = DEFAULT_PORT
    token = next(
        (
            value.strip()
            for key, value in url.query.items()
            if key.lower() == TOKEN_PARAMETER and value.strip()
        ),
        None,
    )
    return ServerAddress(
        url=str(URL.build(scheme=url.scheme, host=host, port=port)),
        fallback_url=fallback,
        token=token,
    )


def normalize_token(raw: str, field: str) -> str:
    """Return the bare token from what was pasted, or raise InvalidInputError.

    Accepted around it: blanks and quotes, an ``X-Plex-Token=`` or
    ``X-Plex-Token:`` prefix, and a whole address with ``X-Plex-Token=`` in
    its query.
    """
    token = raw.strip().strip(_QUOTES).strip()
    if "://" in token:
        found = parse_address(token, field).token
        if found is None:
            raise InvalidInputError("invalid_token", field)
        token = found
    lowered = token.lower()
    for prefix in (f"{TOKEN_PARAMETER}=", f"{TOKEN_PARAMETER}:"):
        if lowered.startswith(prefix):
            token = token[len(prefix) :].strip().strip(_QUOTES).strip()
            break
    if (
        not token
        or len(token) > MAX_TOKEN_LENGTH
        or not token.isprintable()
        or any(char.isspace() for char in token)
    ):
        raise InvalidInputError("invalid_token", field)
    return token


def choose_token(
    typed: str, address: ServerAddress, stored: str | None, field: str
) -> str:
    """The token to use: the one typed, else the address's, else the stored one.

    Raise InvalidInputError when there is none: the token may only be left
    empty when the address carries one, or when a stored one is kept.
    """
    if typed.strip() or address.token:
        return normalize_token(typed or address.token or "", field)
    if stored:
        return stored
    raise InvalidInputError("token_required", field)
