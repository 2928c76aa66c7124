"""A GDM responder on 127.0.0.1: answers ``M-SEARCH`` like Plex Media Servers.

Real servers listen on the multicast group 239.0.0.250:32414; this one listens
on a loopback UDP port, so the scanner is pointed at it. Each simulated server
gets one reply; ``extra_replies`` adds raw datagrams (malformed ones,
duplicates, other content types) after them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from .plex_simulator import PlexSimulator


def gdm_reply(
    machine_identifier: str,
    name: str,
    port: int,
    version: str = "1.42.2.10156-f737b826c",
    content_type: str = "plex/media-server",
) -> bytes:
    """One server's answer, as PMS words it."""
    lines = [
        "HTTP/1.0 200 OK",
        f"Content-Type: {content_type}",
        f"Resource-Identifier: {machine_identifier}",
        f"Name: {name}",
        f"Port: {port}",
        "Updated-At: 1718000000",
        f"Version: {version}",
        "Host: 127.0.0.1",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def reply_for(server: PlexSimulator) -> bytes:
    """The answer of a simulated server."""
    return gdm_reply(
        server.machine_identifier, server.friendly_name, server.port, server.version
    )


class GdmResponder(asyncio.DatagramProtocol):
    """Answers every ``M-SEARCH`` with ``replies``; records what it received."""

    def __init__(
        self, servers: Iterable[PlexSimulator] = (), extra_replies: Iterable[bytes] = ()
    ) -> None:
        """Nothing listens until ``start``."""
        self.replies = [*(reply_for(s) for s in servers), *extra_replies]
        self.queries: list[tuple[bytes, tuple[str, int]]] = []
        self.queried = asyncio.Event()
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1:``port`` (0 picks a free one)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", port)
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def stop(self) -> None:
        """Stop listening."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Answer a search; ignore anything else, as PMS does."""
        self.queries.append((data, addr))
        self.queried.set()
        if self._transport is None or not data.startswith(b"M-SEARCH"):
            return
        for reply in self.replies:
            self._transport.sendto(reply, addr)
