"""The world bench/publish.py publishes into: twin Pages and their tokens, venues, connections, posts.

Pages get their tokens the way the product gets them (consent dialog, code exchange, long-lived token,
/me/accounts); the connections holding them are written straight into the database, sealed with the
workers' key. Posts are created through `core.posts.service.create_post`, scheduled a day ahead, then made due
with one UPDATE per table, so that creating them is not part of what is measured: all at one instant
(`release`), or each at its own time drawn from a seeded generator across a window (`release_spread`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import ColumnElement, and_, func, select, text, update
from sqlalchemy.orm import InstrumentedAttribute

from core.access import accounts
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.posts.service import PostDraft, create_post
from core.runtime import Runtime
from providers.base import ProviderConfig
from sandbox.meta.twin import DEFAULT_APP_ID, DEFAULT_APP_SECRET, MetaTwinControl
from storage.models import Channel, Connection, ConnectionStatus, Post, PostTarget, Provider, PublishAttempt, Role
from storage.models.posts import SETTLED
from storage.queries.deliveries import database_now
from storage.secrets import seal

GRAPH_VERSION = ProviderConfig.__dataclass_fields__["graph_version"].default
BENCH_USER = "100000000009999"
SCOPES = ("pages_show_list", "pages_manage_posts", "pages_read_engagement")
ACTOR = Actor(user_id=None, channel=Channel.cli)
CREATE_BATCH = 100  # posts per transaction while creating


def page_id(n: int) -> str:
    return f"209{n:012d}"


async def page_tokens(url: str, pages: int) -> list[tuple[str, str]]:
    """A twin with `pages` Pages of one owner, every one consented; (page id, Page token) for each."""
    graph = f"{url}/{GRAPH_VERSION}"
    async with httpx.AsyncClient(timeout=60.0) as client:
        control = MetaTwinControl(url, client)
        spec = [{"id": page_id(i), "name": f"Bench Pub {i}"} for i in range(pages)]
        await control.scenario([{"id": BENCH_USER, "name": "Bench Owner", "pages": spec}])
        await control.publishing(duplicate_code=0)  # every message differs anyway; skips an O(posts) scan
        app = {"client_id": DEFAULT_APP_ID, "redirect_uri": "http://127.0.0.1/callback"}
        r = await client.get(f"{url}/dialog/oauth", params={**app, "scope": ",".join(SCOPES), "state": "bench"})
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        exchange = {**app, "client_secret": DEFAULT_APP_SECRET}
        short = (await client.post(f"{graph}/oauth/access_token", data={**exchange, "code": code})).json()
        grant = {"grant_type": "fb_exchange_token", "fb_exchange_token": short["access_token"]}
        user_token = (await client.post(f"{graph}/oauth/access_token", data={**exchange, **grant})).json()
        headers = {"Authorization": f"Bearer {user_token['access_token']}"}
        found: list[tuple[str, str]] = []
        params = {"fields": "id,access_token", "limit": "100"}
        while True:
            body = (await client.get(f"{graph}/me/accounts", params=params, headers=headers)).json()
            found += [(str(p["id"]), str(p["access_token"])) for p in body["data"]]
            if "next" not in body.get("paging", {}):
                return found
            params = {**params, "after": body["paging"]["cursors"]["after"]}


async def seed_connections(runtime: Runtime, tokens: list[tuple[str, str]]) -> list[int]:
    """One venue per Page, each with an active Facebook connection holding the Page token; connection ids."""
    cipher = runtime.cipher()
    ids: list[int] = []
    for start in range(0, len(tokens), CREATE_BATCH):
        async with runtime.uow() as uow:
            rows = []
            for n, (pid, token) in enumerate(tokens[start : start + CREATE_BATCH], start=start):
                account = await accounts.create_account(
                    uow.session, runtime.clock, ACTOR, name=f"Bench Pub {n}", timezone="Europe/London",
                    owner_user_id=None,
                )  # fmt: skip
                row = Connection(
                    account_id=account.id,
                    provider=Provider.facebook,
                    status=ConnectionStatus.active,
                    external_id=pid,
                    page_id=pid,
                    display_name=f"Bench Pub {n}",
                    provider_user_id=BENCH_USER,
                    scopes=list(SCOPES),
                    details={"tasks": ["CREATE_CONTENT", "MANAGE"], "can_publish": True},
                )
                seal(row, "access_token", token, cipher)
                rows.append(row)
            uow.session.add_all(rows)
            await uow.session.flush()
            ids += [r.id for r in rows]
            await uow.commit()
    return ids


@dataclass(frozen=True)
class Batch:
    """The posts of one run: ids `first`..`last` (created one after another), one delivery each."""

    label: str
    first: int
    last: int
    created_per_second: float

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def of(self, column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
        return column.between(self.first, self.last)


async def create_posts(runtime: Runtime, connection_ids: list[int], per_connection: int, label: str) -> Batch:
    """`per_connection` text posts for each connection, through core's use case, due a day from now."""
    when = (runtime.clock.now() + timedelta(days=1)).isoformat(timespec="seconds")
    query = select(Connection.id, Connection.account_id).where(Connection.id.in_(connection_ids))
    async with runtime.db.session() as session:
        owners = dict((await session.execute(query)).tuples().all())
    work = [(cid, k) for k in range(per_connection) for cid in connection_ids]
    post_ids: list[int] = []
    started = time.perf_counter()
    for start in range(0, len(work), CREATE_BATCH):
        async with runtime.uow() as uow:
            for cid, k in work[start : start + CREATE_BATCH]:
                access = VenueAccess(actor=ACTOR, account_id=owners[cid], role=Role.owner)
                text = f"{label}: quiz night #{k} at connection {cid}, tables from 7!"
                draft = PostDraft(text=text, when=when, connection_ids=[cid])
                post_ids.append((await create_post(runtime, uow.session, access, draft)).post.id)
            await uow.commit()
    rate = len(post_ids) / (time.perf_counter() - started)
    assert post_ids == list(range(post_ids[0], post_ids[-1] + 1)), "posts of one run must have consecutive ids"
    return Batch(label, post_ids[0], post_ids[-1], rate)


async def release(runtime: Runtime, batch: Batch, *, lead: float = 1.0) -> datetime:
    """Make every delivery of `batch` due at one instant `lead` seconds from now (database clock)."""
    async with runtime.uow() as uow:
        session = uow.session
        due = await database_now(session) + timedelta(seconds=lead)
        cutoff = due + timedelta(minutes=runtime.settings.cheers_post_freshness_minutes)
        await session.execute(update(Post).where(batch.of(Post.id)).values(scheduled_at=due, cutoff_at=cutoff))
        await session.execute(
            update(PostTarget).where(batch.of(PostTarget.post_id)).values(due_at=due, cutoff_at=cutoff)
        )
        await uow.commit()
    return due


# Each delivery's own due time: `start` + its offset; the cutoff the same freshness window after it.
_SPREAD = """
UPDATE {table} AS t SET {due} = o.due, cutoff_at = o.due + make_interval(mins => CAST(:fresh AS integer))
FROM (
    SELECT post_id, CAST(:start AS timestamptz) + make_interval(secs => offset_s) AS due
    FROM unnest(CAST(:ids AS bigint[]), CAST(:offsets AS double precision[])) AS u(post_id, offset_s)
) AS o
WHERE t.{key} = o.post_id
"""


async def release_spread(runtime: Runtime, batch: Batch, *, lead: float, window: float, seed: int) -> datetime:
    """Make each delivery of `batch` due at its own time, uniform over [start, start + `window`) with start
    `lead` seconds from now (database clock); the offsets come from `random.Random(seed)` in post id order,
    so a run is repeated exactly. Returns the start."""
    rng = random.Random(seed)
    ids = list(range(batch.first, batch.last + 1))
    offsets = [rng.uniform(0.0, window) for _ in ids]
    async with runtime.uow() as uow:
        session = uow.session
        start = await database_now(session) + timedelta(seconds=lead)
        fresh = runtime.settings.cheers_post_freshness_minutes
        params = {"start": start, "fresh": fresh, "ids": ids, "offsets": offsets}
        tables = ((Post.__tablename__, "scheduled_at", "id"), (PostTarget.__tablename__, "due_at", "post_id"))
        for table, due, key in tables:
            await session.execute(text(_SPREAD.format(table=table, due=due, key=key)), params)
        await uow.commit()
    return start


async def wait_settled(
    runtime: Runtime, batch: Batch, *, within: float, check: Callable[[], None] | None = None
) -> Counter[str]:
    """Poll until every delivery of `batch` is settled (published, failed, …); their statuses."""
    deadline = time.monotonic() + within
    while True:
        async with runtime.db.session() as session:
            query = (
                select(PostTarget.status, func.count()).where(batch.of(PostTarget.post_id)).group_by(PostTarget.status)
            )
            counts = Counter({str(s): int(n) for s, n in (await session.execute(query)).tuples().all()})
        if sum(n for s, n in counts.items() if s in SETTLED) >= batch.count:
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"{batch.label}: not settled after {within} s: {dict(counts)}")
        if check is not None:
            check()
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Timings:
    """Per delivery of a run, seconds, sorted: lateness of its first attempt's start and of its publication
    after its own due time, and that start's lateness beyond the connection's spacing (the start minus the
    later of its due time and the previous first attempt's start on the same connection + `spacing`)."""

    first_start: list[float]
    published: list[float]
    beyond_spacing: list[float]
    spacing_floor: list[float]  # what an engine with no delay at all would show, given the spacing alone
    first_due: datetime
    last_due: datetime
    last_published: datetime | None
    retried: int  # deliveries with more than one attempt


async def timings(runtime: Runtime, batch: Batch, spacing: float) -> Timings:
    query = (
        select(
            Post.scheduled_at, PostTarget.connection_id, PublishAttempt.started_at, PostTarget.published_at,
            PostTarget.attempts,
        )
        .join(PostTarget, PostTarget.post_id == Post.id)
        .join(PublishAttempt, and_(PublishAttempt.target_id == PostTarget.id, PublishAttempt.number == 1), isouter=True)
        .where(batch.of(Post.id))
    )  # fmt: skip
    async with runtime.db.session() as session:
        rows = (await session.execute(query)).tuples().all()
    starts = sorted((s - d).total_seconds() for d, _, s, _, _ in rows if s is not None)
    published = sorted((p - d).total_seconds() for d, _, _, p, _ in rows if p is not None)
    by_connection: dict[int, list[tuple[datetime, datetime]]] = {}
    for due, connection, start, _, _ in rows:
        if start is not None:
            by_connection.setdefault(connection, []).append((start, due))
    gap = timedelta(seconds=spacing)
    beyond: list[float] = []
    floor: list[float] = []
    for calls in by_connection.values():
        previous: datetime | None = None
        ideal: datetime | None = None
        for start, due in sorted(calls):
            allowed = due if previous is None else max(due, previous + gap)
            beyond.append((start - allowed).total_seconds())
            previous = start
        for due in sorted(due for _, due in calls):
            ideal = due if ideal is None else max(due, ideal + gap)
            floor.append((ideal - due).total_seconds())
    last = max((p for _, _, _, p, _ in rows if p is not None), default=None)
    return Timings(
        first_start=starts,
        published=published,
        beyond_spacing=sorted(beyond),
        spacing_floor=sorted(floor),
        first_due=min(d for d, *_ in rows),
        last_due=max(d for d, *_ in rows),
        last_published=last,
        retried=sum(1 for *_, attempts in rows if attempts > 1),
    )
