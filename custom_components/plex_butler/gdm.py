"""Find Plex Media Servers on the local network with GDM, Plex's own discovery.

GDM answers where zeroconf is blocked or switched off: a client sends
``M-SEARCH`` to a UDP multicast group and every server answers with a few
``Key: value`` lines. It knows nothing of Home Assistant and gives no token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import ipaddress
import logging
from typing import Final

_LOGGER = logging.getLogger(__name__)

GDM_ADDRESS: Final = "239.0.0.250"
GDM_PORT: Final = 32414
SCAN_SECONDS: Final = 3.0
M_SEARCH: Final = b"M-SEARCH * HTTP/1.0\r\n\r\n"
_MEDIA_SERVER: Final = "plex/media-server"


@dataclass(frozen=True, slots=True)
class GdmServer:
    """A server that answered; ``host`` is the address the answer came from."""

    machine_identifier: str
    name: str | None
    host: str
    port: int
    version: str | None


def parse_gdm_reply(data: bytes, host: str) -> GdmServer | None:
    """Read one reply; None unless it is a media server's well-formed answer."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if not lines or not lines[0].upper().startswith(("HTTP/1.0 200", "HTTP/1.1 200")):
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, colon, value = line.partition(":")
        if colon:
            fields[key.strip().lower()] = value.strip()
    identifier = fields.get("resource-identifier")
    if fields.get("content-type", "").lower() != _MEDIA_SERVER or not identifier:
        return None
    try:
        port = int(fields.get("port", "32400"))
    except ValueError:
        return None
    if not 0 < port < 65536:
        return None
    return GdmServer(
        machine_identifier=identifier,
        name=fields.get("name") or None,
        host=host,
        port=port,
        version=fields.get("version") or None,
    )


class _ReplyCollector(asyncio.DatagramProtocol):
    """Keeps the first well-formed reply of each server."""

    def __init__(self) -> None:
        self.servers: dict[str, GdmServer] = {}
        self.closed = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        server = parse_gdm_reply(data, str(addr[0]))
        if server is None:
            _LOGGER.debug("Ignored a GDM reply from %s", addr[0])
            return
        self.servers.setdefault(server.machine_identifier, server)

    def error_received(self, exc: Exception) -> None:
        _LOGGER.debug("GDM socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        # A caller cancelled while waiting for the close has cancelled the future.
        if not self.closed.done():
            self.closed.set_result(None)


class GdmSearch:
    """A search under way: replies are collected until ``async_close``.

    For callers that must not sleep while listening (Home Assistant's
    discovery closes it from a timer instead).
    """

    def __init__(
        self, transport: asyncio.DatagramTransport, collector: _ReplyCollector
    ) -> None:
        """Take the open socket and its reply collector."""
        self._transport = transport
        self._collector = collector

    def close(self) -> None:
        """Stop listening now, without waiting for the socket to close."""
        self._transport.close()

    async def async_close(self) -> list[GdmServer]:
        """Stop listening and return the servers that answered."""
        self._transport.close()
        await self._collector.closed
        return list(self._collector.servers.values())


async def async_start_search(
    address: str = GDM_ADDRESS, port: int = GDM_PORT
) -> GdmSearch:
    """Send ``M-SEARCH`` and start collecting replies.

    ``address`` must be an IPv4 address. For a loopback target (tests, a
    simulator) the socket binds to loopback too; otherwise to every interface,
    since replies come from anywhere on the LAN.
    """
    target = ipaddress.IPv4Address(address)
    local = "127.0.0.1" if target.is_loopback else "0.0.0.0"  # noqa: S104 - LAN replies
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(
        _ReplyCollector, local_addr=(local, 0)
    )
    search = GdmSearch(transport, collector)
    try:
        transport.sendto(M_SEARCH, (address, port))
    except BaseException:
        search.close()
        raise
    return search


async def async_scan(
    address: str = GDM_ADDRESS,
    port: int = GDM_PORT,
    *,
    seconds: float = SCAN_SECONDS,
) -> list[GdmServer]:
    """Ask for servers and collect the replies that arrive within ``seconds``.

    The socket is closed before this returns, also when cancelled.
    """
    search = await async_start_search(address, port)
    try:
        await asyncio.sleep(seconds)
    finally:
        servers = await search.async_close()
    return servers


__all__ = [
    "GDM_ADDRESS",
    "GDM_PORT",
    "M_SEARCH",
    "GdmSearch",
    "GdmServer",
    "async_scan",
    "async_start_search",
    "parse_gdm_reply",
]
