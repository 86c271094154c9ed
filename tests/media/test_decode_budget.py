"""The pixel budget itself: first come first served, never past its pixels, a photo larger than the whole
budget admitted alone, and a cancelled wait that gives its place on."""

from __future__ import annotations

import asyncio

from core.media.budget import PixelBudget


class FakeDecodes:
    """Decodes that run until the test ends them, recording the pixels in flight."""

    def __init__(self, budget: PixelBudget) -> None:
        self.budget = budget
        self.in_flight = 0
        self.most = 0
        self.started: list[str] = []
        self.finish: dict[str, asyncio.Event] = {}

    async def decode(self, name: str, pixels: int) -> None:
        self.finish[name] = asyncio.Event()
        async with self.budget.admit(pixels):
            self.started.append(name)
            self.in_flight += pixels
            self.most = max(self.most, self.in_flight)
            await self.finish[name].wait()
            self.in_flight -= pixels

    async def settle(self) -> None:
        """Let every task run until it blocks (on the budget or on its finish event)."""
        for _ in range(10):
            await asyncio.sleep(0)


async def test_the_budget_admits_in_order_never_past_its_pixels_and_a_giant_alone() -> None:
    fake = FakeDecodes(PixelBudget(100))
    tasks = [
        asyncio.create_task(fake.decode(name, px)) for name, px in [("a", 60), ("b", 60), ("giant", 150), ("c", 10)]
    ]
    await fake.settle()
    assert fake.started == ["a"], "b would pass the budget; the rest queue behind it, first come first served"

    fake.finish["a"].set()
    await fake.settle()
    assert fake.started == ["a", "b"], "the giant waits for the room to empty; c waits behind it"

    fake.finish["b"].set()
    await fake.settle()
    assert fake.started == ["a", "b", "giant"], "a photo bigger than the whole budget runs alone"

    fake.finish["giant"].set()
    await fake.settle()
    assert fake.started[-1] == "c"
    fake.finish["c"].set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    assert fake.most == 150, "only the giant, alone, ever passed the budget"
    assert (fake.budget.in_use, fake.budget.running, fake.budget.waiting) == (0, 0, 0)


async def test_a_cancelled_wait_gives_its_place_to_the_next() -> None:
    fake = FakeDecodes(PixelBudget(100))
    running = asyncio.create_task(fake.decode("a", 70))
    await fake.settle()
    big = asyncio.create_task(fake.decode("big", 50))  # waits for a
    small = asyncio.create_task(fake.decode("small", 20))  # fits, but waits behind big
    await fake.settle()
    assert fake.started == ["a"]

    big.cancel()  # the request went away
    await fake.settle()
    assert fake.started == ["a", "small"], "with big gone, small fits beside a"
    fake.finish["a"].set()
    fake.finish["small"].set()
    await asyncio.wait_for(asyncio.gather(running, small), timeout=10)
    assert big.cancelled()
    assert (fake.budget.in_use, fake.budget.running, fake.budget.waiting) == (0, 0, 0)
