"""Reading pasted addresses and tokens, for inputs the flow tests cannot reach.

The config-flow tests send every accepted paste through the flow to the
simulator. IPv6 literals, host names and Plex's default ports are checked here
on the parser alone: tests may reach 127.0.0.1 only, and a blocked connect to
::1 or a blocked DNS lookup would prove nothing.
"""

from __future__ import annotations

import pytest

from custom_components.plex_butler.pasted_input import (
    InvalidInputError,
    ServerAddress,
    normalize_token,
    parse_address,
)


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("http://[::1]:32400/", ServerAddress("http://[::1]:32400")),
        ("[::1]:32400", ServerAddress("http://[::1]:32400")),
        (
            "https://[fe80::1]",
            ServerAddress("https://[fe80::1]", "https://[fe80::1]:32400"),
        ),
        ("plex.local", ServerAddress("http://plex.local:32400")),
        ("192.168.1.10", ServerAddress("http://192.168.1.10:32400")),
        ("192.168.1.10:32400", ServerAddress("http://192.168.1.10:32400")),
        (
            "HTTPS://Plex.Example.Invalid/web/index.html#!/",
            ServerAddress(
                "https://plex.example.invalid", "https://plex.example.invalid:32400"
            ),
        ),
        (
            "http://nas.local:8080/plex",
            ServerAddress("http://nas.local:8080"),
        ),
        (
            "https://192-168-1-10.0123abcd.plex.direct:32400/library/sections?X-Plex-Token=abc",
            ServerAddress(
                "https://192-168-1-10.0123abcd.plex.direct:32400", token="abc"
            ),
        ),
        ("<http://plex.local:32400>", ServerAddress("http://plex.local:32400")),
    ],
)
def test_addresses_are_read_as_plex_answers_them(
    raw: str, address: ServerAddress
) -> None:
    assert parse_address(raw, "url") == address


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("http://[::1", "invalid_url"),
        ("http://::1:32400/", "invalid_url"),
        ("http://[::1]:70000", "invalid_url"),
        ("http://plex .invalid", "invalid_url"),
        ("http://127.0.0.1:-1", "invalid_url"),
        ("   ", "invalid_url"),
        ("https://plex.tv/web", "plex_tv_address"),
    ],
)
def test_broken_addresses_are_refused_on_the_url_field(raw: str, error: str) -> None:
    with pytest.raises(InvalidInputError) as exc_info:
        parse_address(raw, "url")
    assert (exc_info.value.field, exc_info.value.error) == ("url", error)


@pytest.mark.parametrize(
    "raw",
    [
        "abcDEF123-_",
        " abcDEF123-_ ",
        "x-plex-token=abcDEF123-_",
        "X-Plex-Token:  'abcDEF123-_'",
        "`abcDEF123-_`",
        "https://10.0.0.2:32400/?foo=1&X-PLEX-TOKEN=abcDEF123-_",
    ],
)
def test_tokens_are_unwrapped(raw: str) -> None:
    assert normalize_token(raw, "token") == "abcDEF123-_"
