"""Run a twin (an ASGI app) as a real HTTP server on loopback, on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class TwinServer:
    """Start and stop an ASGI app under uvicorn inside the current event loop."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server = uvicorn.Server(
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
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)
            self._task = None
