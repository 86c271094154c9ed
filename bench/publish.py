"""Publishing pipeline benchmark: deliveries through the whole engine vs a bare httpx fan-out, same twin.

The pipeline: posts created through core.posts.service → PostgreSQL → the dispatcher loop in each worker claims
them → Redis stream → `publish-delivery` in real `taskiq worker` processes (the Procfile command) →
POST /{page}/feed at the Meta twin → the outcome committed. The twin runs in its own process
(`python -m sandbox.meta.serve`), with 0 ms and then 50 ms added to every Graph answer. The baseline
sends the same request (Page token, same fields) from one process at the workers' total concurrency.

Throughput runs give each delivery its own connection (Page), so the 2 s per-connection spacing never
applies. The burst is issue 6's: BURST deliveries on BURST/10 connections (5,000 on 500) "due in the
same minute", each at its own time drawn uniformly (seeded, so every run draws the same times) over the
minute starting BURST_LEAD s ahead; CHEERS_BENCH_BURST_SHAPE=instant makes them all due at one instant
instead (then the 2 s spacing alone puts a connection's 10th call 18 s late). It reports, per delivery,
how late the first attempt starts and the publication lands after the delivery's own due time, and how
late the start is beyond the spacing (after the later of its due time and the connection's previous
start + spacing): what the engine adds to the wait it promises. Rates are measured from the (first) due
time to the last `published_at` (both on the database clock); CPU from /proc per process group; the
workers' round trips to PostgreSQL counted inside them (bench/_publish_roundtrips.py), dispatcher and
heartbeats included.

Environment: CHEERS_BENCH_N (default 500), CHEERS_BENCH_BURST (1000), CHEERS_BENCH_BURST_CONNECTIONS
(BURST/10), CHEERS_BENCH_BURST_SHAPE (minute or instant), CHEERS_BENCH_WORKERS (2),
CHEERS_BENCH_WORKER_TASKS (100 per worker process), CHEERS_BENCH_BURST_LATENCY_MS (50),
CHEERS_BENCH_POSTGRES_URL, CHEERS_BENCH_REDIS_URL; engine settings
listed in bench/_publish_infra.ENGINE_KNOBS (e.g. CHEERS_DISPATCH_BATCH) are passed on to the workers.
Skips with a message when PostgreSQL or Redis is unreachable.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from _publish_infra import (
    PG_ADMIN,
    REDIS_URL,
    CpuMeter,
    Processes,
    base_env,
    descendants,
    engine_knobs,
    pids_named,
    throwaway_database,
    throwaway_queue,
    twin_argv,
    wait_http,
    worker_argv,
)
from _publish_measure import KEEPALIVE_EXPIRY, TwinCalls, fan_out
from _publish_report import BurstShape, Row, print_report
from _publish_roundtrips import INTERVAL as COUNT_INTERVAL
from _publish_roundtrips import total as roundtrips_total
from _publish_world import (
    GRAPH_VERSION,
    Batch,
    Timings,
    create_posts,
    page_tokens,
    release,
    release_spread,
    seed_connections,
    timings,
    wait_settled,
)
from sqlalchemy import func, select, text

from api.devtwins import twin_settings
from core.clock import SystemClock
from core.runtime import Runtime
from core.settings import Settings
from sandbox.meta.twin import MetaTwinControl
from sandbox.server import free_port, reachable
from storage.crypto import generate_key
from storage.db import Database
from storage.models import Heartbeat

N = int(os.environ.get("CHEERS_BENCH_N", "500"))
BURST = int(os.environ.get("CHEERS_BENCH_BURST", "1000"))
BURST_CONNECTIONS = int(os.environ.get("CHEERS_BENCH_BURST_CONNECTIONS", str(max(1, BURST // 10))))
WORKERS = int(os.environ.get("CHEERS_BENCH_WORKERS", "2"))
TASKS = int(os.environ.get("CHEERS_BENCH_WORKER_TASKS", "100"))
BURST_LATENCY_MS = float(os.environ.get("CHEERS_BENCH_BURST_LATENCY_MS", "50"))
BURST_SHAPE = os.environ.get("CHEERS_BENCH_BURST_SHAPE", "minute")
BURST_WINDOW = 60.0  # seconds the due times of a "minute" burst spread over
BURST_LEAD = 3.0  # seconds from the release to the first possible due time of a "minute" burst
BURST_SEED = 6  # issue 6
TIMEOUT = float(os.environ.get("CHEERS_BENCH_TIMEOUT", "900"))
# Enough deliveries to grow the workers' database pools to full size (each new connection prepares every
# statement again), so the first measured run does not pay for it.
WARM_UP = 400
LATENCIES = (0.0, 50.0)


class Bench:
    def __init__(self, procs: Processes, database_url: str, queue: str) -> None:
        self.procs = procs
        self.settings = Settings(
            _env_file=None,
            database_url=database_url,
            redis_url=REDIS_URL,
            cheers_task_queue=queue,
            cheers_secret_key="bench-secret-" * 4,
            cheers_token_keys=generate_key(),
            cheers_var_dir=procs.logs,
        )
        self.runtime = Runtime(settings=self.settings, db=Database(self.settings.database), clock=SystemClock())
        self.spacing = float(os.environ.get("CHEERS_CONNECTION_MIN_INTERVAL_SECONDS", "2.0"))
        self.rows: list[Row] = []
        self.meter = CpuMeter()
        self.counts = procs.logs / "roundtrips"  # bench/_publish_roundtrips.py in each worker process writes here
        self.counts.mkdir()

    # -- processes ---------------------------------------------------------------------------------

    def worker_env(self, twin_url: str) -> dict[str, str]:
        s = self.settings
        env = base_env() | {k.upper(): v for k, v in twin_settings(twin_url, "http://127.0.0.1:9").items()}
        return env | {
            "CHEERS_ENV": "dev",
            "DATABASE_URL": s.database,
            "REDIS_URL": REDIS_URL,
            "CHEERS_TASK_QUEUE": s.cheers_task_queue,
            "CHEERS_SECRET_KEY": s.cheers_secret_key,
            "CHEERS_TOKEN_KEYS": s.cheers_token_keys,
            "CHEERS_VAR_DIR": str(self.procs.logs),
            "PUBLISH_BENCH_COUNT_DIR": str(self.counts),
            **engine_knobs(),
        }

    async def groups(self) -> dict[str, list[int]]:
        """Process groups whose CPU is reported: twin, workers (manager + children), our PG backends, Redis."""
        async with self.runtime.db.session() as session:
            query = text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            backends = [int(pid) for pid in (await session.execute(query)).scalars().all()]
        return {
            "twin": [self.procs.started["twin"].pid],
            "workers": descendants(self.procs.started["workers"].pid),
            "postgres": backends,
            "redis": pids_named("redis-server"),
        }

    async def wait_for_workers(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            self.procs.check_alive()
            async with self.runtime.db.session() as session:
                query = select(func.count()).select_from(Heartbeat).where(Heartbeat.component == "worker")
                if int((await session.execute(query)).scalar_one()) >= WORKERS:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start:\n" + self.procs.tail("workers"))
            await asyncio.sleep(0.2)

    # -- runs --------------------------------------------------------------------------------------

    async def pipeline(
        self, label: str, connection_ids: list[int], per_connection: int, calls: TwinCalls, *, spread: bool = False
    ) -> Batch:
        batch = await create_posts(self.runtime, connection_ids, per_connection, label)
        await asyncio.sleep(self.spacing)  # any pacing left by the previous run has lapsed
        await calls.skip()
        if spread:
            due = await release_spread(self.runtime, batch, lead=BURST_LEAD, window=BURST_WINDOW, seed=BURST_SEED)
        else:
            due = await release(self.runtime, batch, lead=1.0)
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        self.meter.start(await self.groups())
        trips = roundtrips_total(self.counts)
        driver = resource.getrusage(resource.RUSAGE_SELF)
        counts = await wait_settled(self.runtime, batch, within=TIMEOUT, check=self.procs.check_alive)
        cpu = self.meter.stop(await self.groups()) | {"driver": _cpu_since(driver)}
        await asyncio.sleep(2 * COUNT_INTERVAL)  # the workers' counts are written every COUNT_INTERVAL
        trips = roundtrips_total(self.counts) - trips
        found = await timings(self.runtime, batch, self.spacing)
        assert found.last_published is not None, f"{label}: nothing was published: {dict(counts)}"
        seconds = (found.last_published - found.first_due).total_seconds()
        problems = ", ".join(f"{n} {s}" for s, n in counts.items() if s != "published")
        row = Row(label, counts["published"], seconds, cpu, await calls.since_last(self.spacing), problems, trips)
        self.rows.append(row)
        return batch

    async def baseline(self, label: str, graph: str, jobs: list[tuple[str, str]], calls: TwinCalls) -> None:
        await calls.skip()
        self.meter.start(await self.groups())
        result = await fan_out(graph, jobs, WORKERS * TASKS, label)
        cpu = self.meter.stop(await self.groups()) | {"driver": result.cpu}
        problems = ", ".join(
            [f"{n} HTTP {s}" for s, n in result.statuses.items() if s != 200]
            + [f"{n} {name}" for name, n in result.errors.items()]
        )
        self.rows.append(Row(label, result.statuses[200], result.seconds, cpu, await calls.since_last(0.0), problems))

    async def run(self) -> None:
        port = free_port()
        twin_url = f"http://127.0.0.1:{port}"
        self.procs.start("twin", twin_argv(port), base_env())
        await wait_http(twin_url, self.procs)
        pages = max(N, BURST_CONNECTIONS)
        started = time.perf_counter()
        tokens = await page_tokens(twin_url, pages)
        connection_ids = await seed_connections(self.runtime, tokens)
        print(f"setup: {pages} twin Pages with tokens and connections in {time.perf_counter() - started:.1f} s")
        argv = worker_argv(WORKERS, TASKS, "bench._publish_roundtrips")
        self.procs.start("workers", argv, self.worker_env(twin_url))
        await self.wait_for_workers()
        # Idle connections dropped before the twin drops them (see _publish_measure.fan_out).
        limits = httpx.Limits(max_connections=10, max_keepalive_connections=10, keepalive_expiry=KEEPALIVE_EXPIRY)
        async with httpx.AsyncClient(timeout=120.0, limits=limits) as client:
            control = MetaTwinControl(twin_url, client)
            calls = TwinCalls(control)
            await self.pipeline("warm-up", connection_ids[: min(WARM_UP, pages)], 1, calls)
            self.rows.clear()
            creation: list[Batch] = []
            for latency in LATENCIES:
                await control.publishing(latency_ms=latency)
                batch = await self.pipeline(f"pipeline {latency:.0f} ms", connection_ids[:N], 1, calls)
                creation.append(batch)
                graph = f"{twin_url}/{GRAPH_VERSION}"
                await self.baseline(f"httpx fan-out {latency:.0f} ms", graph, tokens[:N], calls)
            await control.publishing(latency_ms=BURST_LATENCY_MS)
            per = max(1, BURST // BURST_CONNECTIONS)
            label = f"burst {BURST_SHAPE} {BURST_LATENCY_MS:.0f} ms"
            spread = BURST_SHAPE == "minute"
            burst = await self.pipeline(label, connection_ids[:BURST_CONNECTIONS], per, calls, spread=spread)
            creation.append(burst)
        self.report(creation, await timings(self.runtime, burst, self.spacing), per)

    # -- the table ---------------------------------------------------------------------------------

    def report(self, batches: list[Batch], burst: Timings, per: int) -> None:
        config = (
            f"{WORKERS} worker processes x {TASKS} async tasks (concurrency {WORKERS * TASKS}, the fan-out's too), "
            f"{os.cpu_count()} CPUs; engine settings: {engine_knobs() or 'defaults'}"
        )
        shape = BurstShape(BURST_SHAPE, per, BURST_CONNECTIONS, BURST_WINDOW if BURST_SHAPE == "minute" else 0.0)
        print_report(config, self.rows, batches, burst, shape, self.spacing)

    async def close(self) -> None:
        await self.runtime.db.dispose()


def _cpu_since(before: resource.struct_rusage) -> float:
    now = resource.getrusage(resource.RUSAGE_SELF)
    return (now.ru_utime - before.ru_utime) + (now.ru_stime - before.ru_stime)


async def main() -> None:
    if BURST_SHAPE not in {"minute", "instant"}:
        raise SystemExit(f"CHEERS_BENCH_BURST_SHAPE must be minute or instant, not {BURST_SHAPE!r}")
    if not reachable(PG_ADMIN, 5432) or not reachable(REDIS_URL, 6379):
        print(
            f"skipped: needs PostgreSQL ({PG_ADMIN}) and Redis ({REDIS_URL}); set CHEERS_BENCH_POSTGRES_URL/REDIS_URL"
        )
        return
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # clean up as on Ctrl-C
    with tempfile.TemporaryDirectory(prefix="cheers-bench-publish-") as tmp:
        procs = Processes(Path(tmp))
        async with throwaway_database() as database_url, throwaway_queue() as queue:
            bench = Bench(procs, database_url, queue)
            try:
                await bench.run()
            except BaseException:
                for name in procs.started:
                    print(f"--- {name} log (tail)\n{procs.tail(name)}", file=sys.stderr)
                raise
            finally:
                procs.close()
                await bench.close()


if __name__ == "__main__":
    asyncio.run(main())
