"""Unit tests of the GDM scanner, against a responder on 127.0.0.1 over real UDP.

The scanner is always pointed at the responder: its default target is the
LAN's multicast group, which a test must never reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import logging
import socket

import pytest

from custom_components.plex_butler.gdm import (
    GDM_ADDRESS,
    GDM_PORT,
    M_SEARCH,
    GdmServer,
    async_scan,
    parse_gdm_reply,
)

from .gdm_simulator import GdmResponder, gdm_reply

ID_A = "a" * 40
ID_B = "b" * 40
SECONDS = 0.2


@pytest.fixture
async def responder(socket_enabled: None) -> AsyncGenerator[GdmResponder]:
    """A responder with two servers, on a free loopback port."""
    gdm = GdmResponder(
        extra_replies=[
            gdm_reply(ID_A, "Living Room", 32400, "1.42.2"),
            gdm_reply(ID_B, "Attic", 32401, "1.41.0"),
        ]
    )
    await gdm.start()
    yield gdm
    gdm.stop()


def _port_is_free(port: int) -> bool:
    """Whether a UDP socket could bind 127.0.0.1:port, i.e. nobody holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_defaults_are_plex_gdm() -> None:
    """The real scan goes to Plex's multicast group with the documented query."""
    assert (GDM_ADDRESS, GDM_PORT) == ("239.0.0.250", 32414)
    assert M_SEARCH == b"M-SEARCH * HTTP/1.0\r\n\r\n"


async def test_scan_finds_servers(responder: GdmResponder) -> None:
    """Every server that answers is listed, at the address it answered from."""
    servers = await async_scan("127.0.0.1", responder.port, seconds=SECONDS)

    assert sorted(servers, key=lambda s: s.name or "") == [
        GdmServer(ID_B, "Attic", "127.0.0.1", 32401, "1.41.0"),
        GdmServer(ID_A, "Living Room", "127.0.0.1", 32400, "1.42.2"),
    ]
    ((query, (host, _)),) = responder.queries
    assert query == M_SEARCH
    assert host == "127.0.0.1"


async def test_scan_keeps_one_entry_per_server(responder: GdmResponder) -> None:
    """A server answering twice (two interfaces, a repeat) is listed once."""
    responder.replies.append(gdm_reply(ID_A, "Living Room again", 32400))

    servers = await async_scan("127.0.0.1", responder.port, seconds=SECONDS)

    assert sorted((s.machine_identifier, s.name) for s in servers) == [
        (ID_A, "Living Room"),
        (ID_B, "Attic"),
    ]


async def test_scan_ignores_other_replies(responder: GdmResponder) -> None:
    """Players, garbage and broken replies do not stop the real ones."""
    responder.replies[:0] = [
        b"",
        b"\xff\xfe garbage",
        gdm_reply("c" * 40, "A player", 32500, content_type="plex/media-player"),
        b"HTTP/1.0 200 OK\r\nContent-Type: plex/media-server\r\nName: no id\r\n",
    ]

    servers = await async_scan("127.0.0.1", responder.port, seconds=SECONDS)

    assert {s.machine_identifier for s in servers} == {ID_A, ID_B}


async def test_scan_without_servers(socket_enabled: None) -> None:
    """Nobody answering is an empty list after the wait, not an error."""
    responder = GdmResponder()
    await responder.start()
    try:
        assert await async_scan("127.0.0.1", responder.port, seconds=SECONDS) == []
    finally:
        responder.stop()
    assert len(responder.queries) == 1


async def test_scan_closes_its_socket(responder: GdmResponder) -> None:
    """The socket is closed by the time the scan returns."""
    await async_scan("127.0.0.1", responder.port, seconds=SECONDS)
    ((_, (_, port)),) = responder.queries
    assert _port_is_free(port)


async def test_cancelled_scan_closes_its_socket(responder: GdmResponder) -> None:
    """Cancelling a scan (a flow closed early) still closes the socket."""
    scan = asyncio.create_task(async_scan("127.0.0.1", responder.port, seconds=30))
    await responder.queried.wait()
    scan.cancel()
    with pytest.raises(asyncio.CancelledError):
        await scan
    ((_, (_, port)),) = responder.queries
    assert _port_is_free(port)


async def test_send_error_is_logged_not_raised(
    socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed send (here to port 0) finds nothing but does not crash the scan."""
    caplog.set_level(logging.DEBUG, logger="custom_components.plex_butler.gdm")
    assert await async_scan("127.0.0.1", 0, seconds=0.05) == []
    assert "GDM socket error" in caplog.text


@pytest.mark.parametrize("address", ["not-an-ip", "::1", "plex.local"])
async def test_scan_needs_an_ipv4_address(address: str) -> None:
    """GDM is IPv4; anything else is refused before a socket is opened."""
    with pytest.raises(ValueError):
        await async_scan(address, 32414, seconds=0.01)


# --- parsing ----------------------------------------------------------------------


def test_parse_reply_reads_every_field() -> None:
    """Keys are case-insensitive; bare newlines count too; host is the sender."""
    reply = (
        b"HTTP/1.0 200 OK\n"
        b"content-type: Plex/Media-Server\n"
        b"RESOURCE-IDENTIFIER:  abc123 \n"
        b"Name: Office: upstairs\n"
        b"Port: 32402\n"
        b"Updated-At: 1718000000\n"
        b"Version: 1.42.2.10156\n"
        b"Host: ignored.example\n"
        b"no colon here\n"
    )
    assert parse_gdm_reply(reply, "192.168.1.5") == GdmServer(
        "abc123", "Office: upstairs", "192.168.1.5", 32402, "1.42.2.10156"
    )


def test_parse_reply_defaults() -> None:
    """A reply without name, version or port still names a server on 32400."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: plex/media-server\r\nResource-Identifier: x\r\n"
    assert parse_gdm_reply(reply, "10.0.0.2") == GdmServer(
        "x", None, "10.0.0.2", 32400, None
    )


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"\x00\xff",
        b"HTTP/1.0 404 Not Found\r\nContent-Type: plex/media-server\r\nResource-Identifier: x\r\n",
        b"M-SEARCH * HTTP/1.0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: plex/media-player\r\nResource-Identifier: x\r\n",
        b"HTTP/1.0 200 OK\r\nResource-Identifier: x\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: plex/media-server\r\nResource-Identifier:\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: plex/media-server\r\nResource-Identifier: x\r\nPort: web\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: plex/media-server\r\nResource-Identifier: x\r\nPort: 70000\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: plex/media-server\r\nResource-Identifier: x\r\nPort: 0\r\n",
    ],
    ids=[
        "empty",
        "binary",
        "not-200",
        "a-query",
        "player",
        "no-type",
        "blank-id",
        "port-not-number",
        "port-too-big",
        "port-zero",
    ],
)
def test_parse_reply_rejects(reply: bytes) -> None:
    """Only a media server's well-formed 200 answer is a server."""
    assert parse_gdm_reply(reply, "10.0.0.2") is None


async def test_cancelled_while_closing_leaves_no_error_behind(
    responder: GdmResponder,
) -> None:
    """Home Assistant stopping may cancel a scan twice: in its wait, then its close.

    The socket still closes, and its close must not raise in the event loop
    (an "Exception in callback" that Home Assistant would log on every stop).
    """
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        scan = asyncio.create_task(
            async_scan("127.0.0.1", responder.port, seconds=SECONDS)
        )
        await asyncio.sleep(0.01)
        scan.cancel()  # ends the wait; the close begins
        await asyncio.sleep(0)
        scan.cancel()  # ends the wait for the close
        with pytest.raises(asyncio.CancelledError):
            await scan
        for _ in range(5):  # the transport reports its close a few turns later
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert errors == []
