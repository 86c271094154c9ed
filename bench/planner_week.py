"""Planner week benchmark (issue 17): how long GET /planner/week takes for a venue with 500 posts in one week.

A venue (Europe/London) with three Facebook Pages and `CHEERS_BENCH_WEEK_POSTS` posts (default 500) spread over
next week, each to all three Pages (1,500 deliveries), made through core's own use-case; a few deliveries are
moved to other states so the cards show several kinds of badge. The owner signs in through a real login link, then
the week page is fetched through the whole ASGI app (the page guard, the listing, Jinja, the middleware) over
httpx's in-process transport, `CHEERS_BENCH_WEEK_RUNS` times (default 200) after 10 warm-up requests. Each answer
must be 200 with every card. Prints p50/p95/p99/max per database, the median CPU time of one request (this
process's: what the page costs whatever else the machine runs), the target (p95 <= 100 ms) and whether it was met.
A wrong answer ends the bench with exit status 1; a missed target is reported, not fatal.
Before measuring it calls `api.app.settle_heap()`, as the web process does once started.

Runs on a temporary SQLite file, and on PostgreSQL when CHEERS_BENCH_POSTGRES_URL (or the local default) is
reachable (a throwaway database, dropped afterwards). Logging is at WARNING, so the table is all it prints.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from _publish_infra import PG_ADMIN, postgres_reachable, throwaway_database
from asgi_lifespan import LifespanManager
from sqlalchemy import update

from api.app import create_app, settle_heap
from core.access import accounts, auth
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import SystemClock
from core.logging import configure_logging
from core.posts.service import PostDraft, create_post
from core.posts.times import zone
from core.runtime import Runtime
from core.settings import Settings
from storage import migrate
from storage.crypto import generate_key
from storage.db import Database
from storage.models import Channel, Connection, ConnectionStatus, DeliveryStatus, PostTarget, Provider, Role
from storage.secrets import seal

POSTS = int(os.environ.get("CHEERS_BENCH_WEEK_POSTS", "500"))
RUNS = int(os.environ.get("CHEERS_BENCH_WEEK_RUNS", "200"))
WARM_UP = 10
PAGES = 3  # each post goes to every Page: several deliveries per card
TARGET_P95_MS = 100.0
TIMEZONE = "Europe/London"
SYSTEM = Actor(user_id=None, channel=Channel.cli)
CARD = re.compile(r'data-post-id="\d+"')
# A spread of states, so the badges are not all alike: every 7th delivery published, every 11th failed.
STATES = ((7, DeliveryStatus.published), (11, DeliveryStatus.failed))


def next_monday(now: datetime) -> date:
    """The Monday of next week in the venue's zone (every post of the bench is in the future, as core requires)."""
    today = now.astimezone(zone(TIMEZONE)).date()
    return today + timedelta(days=7 - today.weekday())


async def build_world(runtime: Runtime, monday: date, posts: int) -> int:
    """The venue, its owner and `posts` posts to its `PAGES` Pages in the week of `monday`; the owner's id."""
    async with runtime.uow() as uow:
        venue = await accounts.create_account(
            uow.session, runtime.clock, SYSTEM, name="The Bench Arms", timezone=TIMEZONE, owner_user_id=None
        )
        owner = await accounts.create_user(uow.session, runtime.clock, SYSTEM, name="Bench Owner", email=None)
        access = VenueAccess(SYSTEM, venue.id, Role.owner)
        await accounts.add_member(uow.session, runtime.clock, access, user_id=owner.id, role=Role.owner)
        pages = []
        for n in range(PAGES):
            row = Connection(
                account_id=venue.id,
                provider=Provider.facebook,
                external_id=f"bench-page-{n}",
                display_name=f"The Bench Arms {n + 1}",
                status=ConnectionStatus.active,
            )
            seal(row, "access_token", f"bench-token-{n}", runtime.cipher())
            uow.session.add(row)
            await uow.session.flush()
            pages.append(row.id)
        await uow.commit()
    # Spread over the seven days between 10:00 and 22:59 local: about 70 a day, four to six in an hour. The step
    # (5) shares no factor with the 364 slots, so every slot is used (a step of 7 used 52 of them, 7 hours a day).
    slots = [(day, hour, minute) for day in range(7) for hour in range(10, 23) for minute in (0, 15, 30, 45)]
    for start in range(0, posts, 100):
        async with runtime.uow() as uow:
            for k in range(start, min(posts, start + 100)):
                day, hour, minute = slots[(k * 5) % len(slots)]
                when = f"{monday + timedelta(days=day)}T{hour:02d}:{minute:02d}"
                draft = PostDraft(
                    text=f"Quiz night #{k}: tables from 7, bring your brains!\nSecond line.",
                    when=when,
                    connection_ids=pages,
                )
                await create_post(runtime, uow.session, access, draft)
            await uow.commit()
    async with runtime.uow() as uow:
        for every, status in STATES:
            await uow.session.execute(update(PostTarget).where(PostTarget.id % every == 0).values(status=status))
        await uow.commit()
    return owner.id


async def sign_in(client: httpx.AsyncClient, runtime: Runtime, user_id: int) -> dict[str, str]:
    """The owner's session cookies, from a login link posted as the browser's confirm button does."""
    async with runtime.uow() as uow:
        link = await auth.issue_login_link(uow.session, runtime.clock, runtime.settings, SYSTEM, user_id=user_id)
        await uow.commit()
    r = await client.post(urlsplit(link.url).path)
    if r.status_code != 303:
        raise SystemExit(f"the login link did not sign in: {r.status_code} {r.text[:200]}")
    cookies: dict[str, str] = {}
    for header in r.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        cookies |= {name: morsel.value for name, morsel in parsed.items()}
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items() if k in {"cheers_session", "cheers_csrf"})}


async def measure(
    url: str, tmp: Path, *, posts: int = POSTS, runs: int = RUNS, warm_up: int = WARM_UP
) -> dict[str, float]:
    """Build the world in the database at `url` (migrated, empty), then time `runs` requests of its week page."""
    settings = Settings(
        _env_file=None,
        cheers_env="test",
        database_url=url,
        redis_url=None,
        cheers_secret_key="bench" * 8,
        cheers_token_keys=generate_key(),
        cheers_public_url="http://bench.local",
        cheers_var_dir=tmp / "var",
    )
    runtime = Runtime(settings=settings, db=Database(settings.database), clock=SystemClock())
    monday = next_monday(runtime.clock.now())
    started = time.perf_counter()
    owner = await build_world(runtime, monday, posts)
    built = time.perf_counter() - started
    app: Any = create_app(runtime=runtime, configure_logs=False)
    timings: list[float] = []
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench.local") as client,
    ):
        headers = await sign_in(client, runtime, owner)
        settle_heap()  # what the web process does once started (it builds its own runtime; this bench passes one)
        path = f"/planner/week?start={monday.isoformat()}"
        cpu: list[float] = []
        for n in range(warm_up + runs):
            began, began_cpu = time.perf_counter(), time.process_time()
            r = await client.get(path, headers=headers)
            elapsed, used = time.perf_counter() - began, time.process_time() - began_cpu
            cards = len(CARD.findall(r.text))
            if r.status_code != 200 or cards != posts:
                raise SystemExit(f"the week page answered {r.status_code} with {cards} of {posts} cards")
            if n >= warm_up:
                timings.append(elapsed * 1000)
                cpu.append(used * 1000)
    await runtime.db.dispose()
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "max": max(timings),
        "cpu": statistics.median(cpu),
        "built": built,
    }


async def measure_on_postgres(tmp: Path) -> dict[str, float]:
    """`measure` on a throwaway PostgreSQL database of its own, dropped afterwards."""
    async with throwaway_database() as url:
        return await measure(url, tmp)


def main() -> int:
    configure_logging("WARNING", "json")
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        table["sqlite"] = asyncio.run(measure(url, Path(tmp)))
        if postgres_reachable():
            table["postgresql"] = asyncio.run(measure_on_postgres(Path(tmp)))
        else:
            print(f"PostgreSQL not reachable at {PG_ADMIN}: SQLite only")
    print(f"planner week benchmark: GET /planner/week, {POSTS} posts x {PAGES} deliveries in one week, {RUNS} requests")
    print(
        f"{'database':<12}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'cpu ms':>9}{'target':>12}{'met':>6}"
        f"{'setup s':>9}"
    )
    for db, row in table.items():
        met = "yes" if row["p95"] <= TARGET_P95_MS else "no"
        print(
            f"{db:<12}{row['p50']:>9.1f}{row['p95']:>9.1f}{row['p99']:>9.1f}{row['max']:>9.1f}{row['cpu']:>9.1f}"
            f"{f'p95<={TARGET_P95_MS:.0f}':>12}{met:>6}{row['built']:>9.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
