"""A pixel budget for image decodes running at once in one process (CHEERS_MEDIA_DECODE_PIXEL_BUDGET).

The per-file limit (60 MP) keeps one decode within a worker's memory; this keeps several from adding up:
three 60 MP PNGs decoding together took a worker from 351 MB to 1.19 GB. A decode of N pixels waits until
the pixels already decoding plus N fit the budget; one larger than the whole budget runs when nothing else
does, so every image is admitted eventually. Waiters go first come, first served, so a large photo is not
starved by a stream of small ones. Each worker process has its own budget (docs/operations.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

log = structlog.get_logger(__name__)


class PixelBudget:
    """A weighted, first-come-first-served gate: decodes totalling at most `capacity` pixels at once."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("a pixel budget must be positive")
        self.capacity = capacity
        self.in_use = 0  # pixels of the decodes admitted and not yet finished
        self.running = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        """How many decodes are queued for room."""
        return sum(1 for _, fut in self._waiters if not fut.done())

    @asynccontextmanager
    async def admit(self, pixels: int) -> AsyncIterator[None]:
        """Hold `pixels` of the budget for the block, waiting for room first."""
        await self._acquire(pixels)
        try:
            yield
        finally:
            self._release(pixels)

    def _fits(self, pixels: int) -> bool:
        return self.running == 0 or self.in_use + pixels <= self.capacity

    def _take(self, pixels: int) -> None:
        self.in_use += pixels
        self.running += 1

    async def _acquire(self, pixels: int) -> None:
        if not self._waiters and self._fits(pixels):
            self._take(pixels)
            return
        log.info("media_decode_waiting", pixels=pixels, in_use=self.in_use, budget=self.capacity)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pixels, fut)
        self._waiters.append(entry)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release(pixels)  # admitted just as we were cancelled: hand the room on
            else:
                if entry in self._waiters:  # a release may have dropped it already
                    self._waiters.remove(entry)
                self._wake()  # we may have been the head of the queue, holding back ones that fit
            raise

    def _release(self, pixels: int) -> None:
        self.in_use -= pixels
        self.running -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            pixels, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if not self._fits(pixels):
                return
            self._waiters.popleft()
            self._take(pixels)
            fut.set_result(None)
