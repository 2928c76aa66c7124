"""Bad input to the config flow and the action: a clear error, and no request.

Whatever the user types, the answer must name the field that is wrong, create
nothing, and, if the input cannot be right, not bother the server at all (the
simulator's request log proves that).

IPv6 literals and host names are checked on ``normalize_url`` only: tests may
reach 127.0.0.1 alone, and a blocked connect to ::1 or a blocked DNS lookup
would surface as the flow's generic "unknown" error, which proves nothing.
"""

from __future__ import annotations

from contextlib import suppress
import importlib
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.plex_butler.config_flow import InvalidInputError, normalize_url
from custom_components.plex_butler.const import DOMAIN

from .conftest import OWNER_TOKEN
from .plex_simulator import PlexSimulator


def _schema_errors() -> tuple[type[Exception], ...]:
    """The errors of a rejected action schema: voluptuous, or probatio (HA 2026+)."""
    errors: list[type[Exception]] = [vol.Invalid]
    with suppress(ImportError):
        errors.append(importlib.import_module("probatio").Invalid)
    return tuple(errors)


SCHEMA_ERRORS = _schema_errors()


# --- config flow ---------------------------------------------------------------


async def _submit(hass: HomeAssistant, url: str, token: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_URL: url, CONF_TOKEN: token, CONF_VERIFY_SSL: True},
        )
    )


async def _recover(
    hass: HomeAssistant, plex: PlexSimulator, flow_id: str
) -> dict[str, Any]:
    """Correct the form in the same flow; it must then create the entry."""
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_URL: plex.url, CONF_TOKEN: OWNER_TOKEN, CONF_VERIFY_SSL: True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    return dict(result)


@pytest.mark.parametrize(
    ("url", "token", "errors"),
    [
        ("127.0.0.1:{port}", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("127.0.0.1", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://127.0.0.1:{port}/web", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        # Two slashes are a (empty-named) path, not a trailing slash.
        ("http://127.0.0.1:{port}//", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        (
            "http://127.0.0.1:{port}?X-Plex-Token=x",
            OWNER_TOKEN,
            {CONF_URL: "invalid_url"},
        ),
        ("http://127.0.0.1 :{port}", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://127.0. 0.1:{port}", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("ftp://127.0.0.1:{port}", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://127.0.0.1:65536", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://127.0.0.1:99999", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://127.0.0.1:-1", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://127.0.0.1:port", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://user:pass@127.0.0.1:{port}", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("   ", OWNER_TOKEN, {CONF_URL: "invalid_url"}),
        ("http://127.0.0.1:{port}", "", {CONF_TOKEN: "invalid_token"}),
        ("http://127.0.0.1:{port}", "   ", {CONF_TOKEN: "invalid_token"}),
        ("http://127.0.0.1:{port}", "ab cd", {CONF_TOKEN: "invalid_token"}),
        ("http://127.0.0.1:{port}", "x" * 10_240, {CONF_TOKEN: "invalid_token"}),
        ("http://127.0.0.1:{port}", "tok\nen", {CONF_TOKEN: "invalid_token"}),
    ],
)
async def test_flow_rejects_unusable_input_without_a_request(
    hass: HomeAssistant,
    plex: PlexSimulator,
    url: str,
    token: str,
    errors: dict[str, str],
) -> None:
    """Malformed URL or token: an error on that field and nothing sent."""
    result = await _submit(hass, url.format(port=plex.port), token)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert hass.config_entries.async_entries(DOMAIN) == []
    assert plex.requests == []

    await _recover(hass, plex, result["flow_id"])


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("http://127.0.0.1:{port}/", OWNER_TOKEN),
        ("  http://127.0.0.1:{port}/  ", OWNER_TOKEN),
        ("HTTP://127.0.0.1:{port}", OWNER_TOKEN),
        ("http://127.0.0.1:{port}/?", OWNER_TOKEN),
        ("http://127.0.0.1:{port}", f"  {OWNER_TOKEN}\t"),
    ],
)
async def test_flow_normalizes_harmless_variations(
    hass: HomeAssistant, plex: PlexSimulator, url: str, token: str
) -> None:
    """A trailing slash, surrounding blanks or an upper-case scheme are fine."""
    result = await _submit(hass, url.format(port=plex.port), token)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.data[CONF_URL] == f"http://127.0.0.1:{plex.port}"
    assert entry.data[CONF_TOKEN] == OWNER_TOKEN
    # The flow's two checks, then the new entry's setup reads the same two.
    assert [r.url for r in plex.requests][:4] == ["/", "/butler", "/", "/butler"]


async def test_flow_port_zero_is_tried_and_cannot_connect(
    hass: HomeAssistant, plex: PlexSimulator
) -> None:
    """Port 0 parses as a port, so it is tried: nothing listens there.

    The answer is the connection error that tells the user to check the port.
    """
    result = await _submit(hass, "http://127.0.0.1:0", OWNER_TOKEN)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert hass.config_entries.async_entries(DOMAIN) == []
    assert plex.requests == []

    await _recover(hass, plex, result["flow_id"])


async def test_reauth_rejects_a_blank_token_without_a_request(
    hass: HomeAssistant, plex: PlexSimulator, init_integration: MockConfigEntry
) -> None:
    """The reauth form checks the token like the user form does."""
    result = await init_integration.start_reauth_flow(hass)
    sent = len(plex.requests)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "  "}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_TOKEN: "invalid_token"}
    assert len(plex.requests) == sent
    assert init_integration.data[CONF_TOKEN] == OWNER_TOKEN


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("http://[::1]:32400", "http://[::1]:32400"),
        ("http://[::1]:32400/", "http://[::1]:32400"),
        ("https://[fe80::1]", "https://[fe80::1]"),
        ("http://plex.invalid:32400", "http://plex.invalid:32400"),
        ("HTTPS://Plex.Example.Invalid:32400/", "https://plex.example.invalid:32400"),
        (" http://nas.local:32400 ", "http://nas.local:32400"),
    ],
)
def test_normalize_url_keeps_ipv6_literals_and_host_names(
    raw: str, normalized: str
) -> None:
    assert normalize_url(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    ["http://[::1", "http://::1:32400/", "http://[::1]:70000", "http://plex .invalid"],
)
def test_normalize_url_rejects_broken_ipv6_and_host_names(raw: str) -> None:
    with pytest.raises(InvalidInputError) as exc_info:
        normalize_url(raw)
    assert (exc_info.value.field, exc_info.value.error) == (CONF_URL, "invalid_url")
