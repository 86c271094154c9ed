"""Outbox benchmark: notify() throughput (with and without de-duplication keys) and full export rate.

Runs on a temporary SQLite file, and on PostgreSQL when CHEERS_BENCH_POSTGRES_URL (or the local
default) is reachable. Prints one table.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from _publish_infra import postgres_reachable, throwaway_database

from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import SystemClock
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from core.settings import Settings
from storage import migrate
from storage.crypto import generate_key
from storage.db import Database
from storage.models import Account, Channel, Role, Severity

N = int(os.environ.get("CHEERS_BENCH_NOTIFICATIONS", "5000"))
BATCH = 100


async def measure(url: str) -> dict[str, float]:
    settings = Settings(
        _env_file=None,
        database_url=url,
        cheers_secret_key="bench" * 8,
        cheers_token_keys=generate_key(),
    )
    runtime = Runtime(settings=settings, db=Database(settings.database), clock=SystemClock())
    async with runtime.uow() as uow:
        account = Account(name="Bench", timezone="Europe/London")
        uow.session.add(account)
        await uow.commit()
        account_id = account.id
    results: dict[str, float] = {}
    for label, keyed in (("notify/s (no key)", False), ("notify/s (dedup key)", True)):
        started = time.perf_counter()
        for start in range(0, N, BATCH):
            async with runtime.uow() as uow:
                for i in range(start, start + BATCH):
                    await notifications.notify(
                        uow.session,
                        runtime.clock,
                        account_id=account_id,
                        kind=NotificationKind.publish_succeeded,
                        severity=Severity.info,
                        title=f"n{i}",
                        payload={"i": i},
                        dedup_key=f"k{label}{i}" if keyed else None,
                    )
                await uow.commit()
        results[label] = N / (time.perf_counter() - started)
    access = VenueAccess(actor=Actor(user_id=None, channel=Channel.cli), account_id=account_id, role=Role.owner)
    started = time.perf_counter()
    rows = 0
    async for chunk in notifications.export(runtime.db, access, fmt="jsonl"):
        rows += chunk.count("\n")
    results["export rows/s"] = rows / (time.perf_counter() - started)
    results["exported rows"] = rows
    await runtime.db.dispose()
    return results


async def measure_on_postgres() -> dict[str, float]:
    """`measure` on a throwaway PostgreSQL database of its own, dropped afterwards."""
    async with throwaway_database() as url:
        return await measure(url)


def main() -> None:
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        table["sqlite"] = asyncio.run(measure(url))
    if postgres_reachable():
        table["postgresql"] = asyncio.run(measure_on_postgres())
    metrics = list(next(iter(table.values())))
    print(f"outbox benchmark, {N} notifications per run, {BATCH} per transaction")
    print(f"{'metric':<24}" + "".join(f"{db:>14}" for db in table))
    for metric in metrics:
        print(f"{metric:<24}" + "".join(f"{table[db][metric]:>14,.0f}" for db in table))


if __name__ == "__main__":
    main()
