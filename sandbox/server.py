"""Run a twin (an ASGI app) as a real HTTP server on loopback, on a free port; loopback port helpers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any
from urllib.parse import urlsplit

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    """A local TCP port nothing listens on (the OS picks it, then it is released)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def reachable(url: str, default_port: int) -> bool:
    """Whether something accepts TCP connections at the URL's host and port (a database, a broker)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


class _PromptServer(uvicorn.Server):
    """uvicorn, stopping at once: its loop polls for exit every 0.1 s and its shutdown sleeps in 0.1 s steps,
    which cost the test suite a third of a second per test (two twins each). Same steps, finer waits."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_now = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_now.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # an idle keep-alive connection closes at once; a busy one after its answer
        deadline = asyncio.get_running_loop().time() + (self.config.timeout_graceful_shutdown or 5.0)
        while self.server_state.connections or self.server_state.tasks:
            if asyncio.get_running_loop().time() > deadline:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.005)
        if not self.force_exit:
            await self.lifespan.shutdown()


class TwinServer:
    """Start and stop an ASGI app under uvicorn inside the current event loop."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server = _PromptServer(
            uvicorn.Config(app, host=host, port=self.port, log_config=None, access_log=False, lifespan="off")
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        """Serve in the background; returns the base URL once it accepts connections."""
        # `_serve` skips uvicorn's signal capture: the host process (dev server, tests) owns signals.
        self._task = asyncio.create_task(self._server._serve(), name=f"twin-{self.port}")
        for _ in range(500):
            if self._server.started:
                return self.url
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        raise RuntimeError(f"twin on port {self.port} did not start")

    async def stop(self) -> None:
        self._server.should_exit = True
        self._server.exit_now.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)
            self._task = None
