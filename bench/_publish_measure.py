"""Measurements for bench/publish.py: the bare httpx fan-out, what the twin saw, percentiles."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from sandbox.meta.twin import MetaTwinControl

# Seconds an idle pooled connection to the twin is kept: below uvicorn's keep-alive timeout (5 s), so the
# client, not the twin, closes an idle connection (see fan_out).
KEEPALIVE_EXPIRY = 4.0


@dataclass(frozen=True)
class FanOut:
    seconds: float
    statuses: Counter[int]
    cpu: float  # this process, while sending (the client's setup excluded)
    errors: Counter[str]  # transport errors by exception name (those jobs were not sent again)


async def fan_out(
    graph: str, jobs: Sequence[tuple[str, str]], concurrency: int, label: str, *, per_client: int = 25
) -> FanOut:
    """The request the Facebook adapter makes for a text post (POST /{page}/feed, Page token in the header,
    `fields=id,permalink_url`), once per job, `concurrency` at a time.

    The senders share clients of `per_client` connections each: httpcore's pool scans all its connections
    (twice, nested) whenever a request starts or ends, so one client of 200 connections spends more CPU on
    that scan than on HTTP (measured: about 4x fewer requests per second here).

    Idle pooled connections are dropped after KEEPALIVE_EXPIRY, before the twin's uvicorn drops them: the
    pool hands out its first free connection, so under load the last ones in a pool can sit idle for
    seconds, and with both sides at 5 s (httpx's and uvicorn's defaults) a request sometimes went out on a
    connection at the instant the twin closed it, which resets it (httpx.ReadError; seen at N=3000). A
    transport error that still happens is counted in `errors` (that job is not sent again), not raised.
    """
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    pending = iter(enumerate(jobs))
    size = max(1, min(per_client, concurrency))
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=KEEPALIVE_EXPIRY)
    clients = [
        httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), limits=limits)
        for _ in range(math.ceil(concurrency / size))
    ]

    async def sender(client: httpx.AsyncClient) -> None:
        for n, (page, token) in pending:  # one iterator shared by every sender: each job is taken once
            try:
                response = await client.post(
                    f"{graph}/{page}/feed",
                    params={"fields": "id,permalink_url"},
                    data={"message": f"{label}: quiz night #{n}, tables from 7!"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError as exc:
                errors[type(exc).__name__] += 1
                continue
            response.json()
            statuses[response.status_code] += 1

    try:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender(clients[i // size]) for i in range(concurrency)))
        return FanOut(time.perf_counter() - started, statuses, time.process_time() - cpu, errors)
    finally:
        for client in clients:
            await client.aclose()


@dataclass(frozen=True)
class TwinSeen:
    """What the twin answered in one window: calls, their statuses, and Page posts closer than the spacing."""

    calls: int
    statuses: Counter[int]
    too_close: int  # consecutive POSTs to one Page less than half the spacing apart (not clock jitter)
    min_gap: float | None  # the smallest gap between two POSTs to one Page, seconds


class TwinCalls:
    """Reads the twin's call log (GET /_twin/state) and hands out what arrived since the previous read."""

    def __init__(self, control: MetaTwinControl) -> None:
        self.control = control
        self.seen = 0

    async def skip(self) -> None:
        self.seen = len(await self.control.calls())

    async def since_last(self, spacing: float) -> TwinSeen:
        calls = (await self.control.calls())[self.seen :]
        self.seen += len(calls)
        return summarise(calls, spacing)


def summarise(calls: Sequence[dict[str, Any]], spacing: float) -> TwinSeen:
    by_page: defaultdict[str, list[datetime]] = defaultdict(list)
    for call in calls:
        if call["method"] == "POST" and call["path"].endswith("/feed"):
            by_page[call["path"]].append(datetime.fromisoformat(call["at"]))
    gaps = [
        (later - earlier).total_seconds()
        for times in by_page.values()
        for earlier, later in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    return TwinSeen(
        calls=len(calls),
        statuses=Counter(int(c["status"]) for c in calls),
        too_close=sum(1 for g in gaps if g < spacing / 2),
        min_gap=min(gaps, default=None),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values` (NaN when empty)."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), math.ceil(q / 100 * len(values))))
    return values[rank - 1]
