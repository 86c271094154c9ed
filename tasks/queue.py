"""The JobQueue core uses to hand work to the broker, by task name, after commit."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker


class TaskiqQueue:
    """Implements `core.runtime.JobQueue` on a taskiq broker."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker

    async def enqueue(self, task_name: str, **kwargs: Any) -> None:
        await AsyncKicker(task_name=task_name, broker=self.broker, labels={}).kiq(**kwargs)

    async def depth(self) -> int | None:
        """Messages waiting or in flight; None when the broker cannot say."""
        if isinstance(self.broker, InMemoryBroker):
            return len(self.broker._running_tasks)
        if isinstance(self.broker, RedisStreamBroker):
            async with Redis(connection_pool=self.broker.connection_pool) as conn:
                groups = await conn.xinfo_groups(self.broker.queue_name)
                for group in groups:
                    name = group["name"]
                    if (name.decode() if isinstance(name, bytes) else name) == self.broker.consumer_group_name:
                        return int(group.get("lag") or 0) + int(group.get("pending") or 0)
                return int(await conn.xlen(self.broker.queue_name))
        return None

    async def ping(self) -> None:
        if isinstance(self.broker, RedisStreamBroker):
            async with Redis(connection_pool=self.broker.connection_pool) as conn:
                await conn.ping()
