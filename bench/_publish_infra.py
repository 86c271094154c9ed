"""Processes and services for bench/publish.py: the throwaway database, the twin and worker processes, CPU.

Every process is started in its own session (process group) and killed as a group, so a failed run
leaves nothing behind; the database is dropped and the Redis stream deleted in `finally` blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import normalise_database_url
from storage import migrate

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("CHEERS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CHEERS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TASKIQ_SCRIPT = Path(sys.executable).with_name("taskiq")
TASKIQ = [str(TASKIQ_SCRIPT)] if TASKIQ_SCRIPT.exists() else [sys.executable, "-m", "taskiq"]
# Engine settings a run may change (set them in the bench's environment); everything else is the default.
ENGINE_KNOBS = (
    "CHEERS_DISPATCH_INTERVAL_SECONDS",
    "CHEERS_DISPATCH_BATCH",
    "CHEERS_CONNECTION_MIN_INTERVAL_SECONDS",
    "CHEERS_CONNECTION_MAX_IN_FLIGHT",
    "CHEERS_PUBLISH_LEASE_SECONDS",
    "CHEERS_DB_POOL_SIZE",
    "CHEERS_LOG_LEVEL",
    "CHEERS_LOG_FORMAT",
)
TICK = os.sysconf("SC_CLK_TCK")


def postgres_reachable() -> bool:
    """Whether PostgreSQL answers at PG_ADMIN (CHEERS_BENCH_POSTGRES_URL): the benches that can run without it ask."""
    parts = urlsplit(PG_ADMIN)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


async def _pg_admin(sql: str) -> None:
    engine = create_async_engine(normalise_database_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def throwaway_database() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of our own (its asyncpg URL), dropped afterwards whatever happens."""
    name = f"cheers_bench_{uuid.uuid4().hex[:8]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = urlsplit(normalise_database_url(PG_ADMIN))._replace(path=f"/{name}").geturl()
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def throwaway_queue() -> AsyncIterator[str]:
    """A stream name of our own on the shared Redis; the stream and its autoclaim key are deleted afterwards."""
    queue = f"cheers-bench:{uuid.uuid4().hex}"
    try:
        yield queue
    finally:
        async with Redis.from_url(REDIS_URL) as redis:
            await redis.delete(queue, f"autoclaim:cheers-workers:{queue}")


class Processes:
    """Child processes in their own sessions; `close()` SIGTERMs each group, then SIGKILLs what is left."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                argv, cwd=self.logs, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self.started.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def close(self) -> None:
        for sig, wait in ((signal.SIGTERM, 8.0), (signal.SIGKILL, 5.0)):
            for proc in self.started.values():
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)
            deadline = time.monotonic() + wait
            for proc in self.started.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))


def base_env() -> dict[str, str]:
    """Our environment without any CHEERS_* / DATABASE_URL / REDIS_URL, with the repository importable."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CHEERS_") and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return env


def engine_knobs() -> dict[str, str]:
    return {k: os.environ[k] for k in ENGINE_KNOBS if k in os.environ}


def twin_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "sandbox.meta.serve", "--port", str(port)]


def worker_argv(processes: int, tasks_each: int, *extra_modules: str) -> list[str]:
    """The Procfile's worker command with its process count and per-process concurrency made explicit (and
    `extra_modules` imported into each worker process too)."""
    return [
        *TASKIQ,
        "worker",
        "tasks.broker:create_broker",
        "tasks.periodic",
        *extra_modules,
        "--ack-type",
        "when_executed",
        "--no-configure-logging",
        "--workers",
        str(processes),
        "--max-async-tasks",
        str(tasks_each),
    ]


async def wait_http(url: str, procs: Processes, *, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            procs.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.post(f"{url}/_twin/publishing", json={})).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {within} s")
            await asyncio.sleep(0.1)


# -- CPU from /proc ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one live process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def descendants(root: int) -> list[int]:
    """`root` and every process below it (taskiq's worker manager starts its worker processes as children)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def pids_named(name: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    out.append(int(entry.name))
    return out


class CpuMeter:
    """CPU seconds each group of processes used between `start` and `stop`.

    Groups are listed again at `stop`, so a process that appeared meanwhile counts in full; one that
    exited meanwhile is lost (its time cannot be read any more).
    """

    def __init__(self) -> None:
        self.before: dict[int, float] = {}

    def start(self, groups: dict[str, list[int]]) -> None:
        self.before = {pid: cpu_seconds(pid) for pids in groups.values() for pid in pids}

    def stop(self, groups: dict[str, list[int]]) -> dict[str, float]:
        return {
            label: sum(max(0.0, cpu_seconds(pid) - self.before.get(pid, 0.0)) for pid in set(pids))
            for label, pids in groups.items()
        }
