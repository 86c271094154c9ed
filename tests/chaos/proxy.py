"""A tiny TCP proxy in the test's event loop, between the workers and a twin, that the test can break.

- `pass`: bytes flow both ways, as if the proxy were not there;
- `refuse`: nothing listens on the port (connection refused, and every open connection is closed): the
  client cannot have sent anything, so httpx raises ConnectError — `Transient(sent=False)`;
- `reset`: a connection is accepted and its request read, then reset (RST) without forwarding it: the
  client did send, and cannot tell whether the other side acted on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Literal

Mode = Literal["pass", "refuse", "reset"]
CHUNK = 65536


class BreakableProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode: Mode = "pass"
        self.accepted = self.resets = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def set(self, mode: Mode) -> None:
        """Switch mode. Leaving `pass` resets every open connection (a client's pooled keep-alive ones too),
        so the new mode holds for every later request; `refuse` also closes the listening socket."""
        self.mode = mode
        if mode != "pass":
            for writer in list(self._open):
                _abort(writer)
            self._open.clear()
        if mode == "refuse" and self._server is not None:
            self._server.close()
            self._server = None
        elif mode != "refuse" and self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.set("refuse")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._open.add(writer)
        try:
            if self.mode == "reset":
                await reader.read(CHUNK)  # the request (or its start) has arrived: it was sent
                self.resets += 1
                _abort(writer)
                return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            self._open.add(up_writer)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                self._open.discard(up_writer)
                _abort(up_writer)
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()
