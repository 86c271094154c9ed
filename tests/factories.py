"""Small factories that build data through the same core use-cases the product uses."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from api.app import create_app, serve_runtime
from api.planner.pages import planner_router
from core.access import accounts, auth
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import OFFSET_FILE_VAR, FrozenClock
from core.notifications import outbox as notifications
from core.notifications.actions import Offer
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from core.settings import Settings
from core.weekly import slots as weekly_slots
from storage.models import (
    AuditEntry,
    Channel,
    Connection,
    ConnectionStatus,
    Heartbeat,
    JobRun,
    Notification,
    Provider,
    Role,
    Severity,
)
from storage.queries import audit as audit_q
from storage.secrets import seal

_seq = itertools.count(1)
SYSTEM = Actor(user_id=None, channel=Channel.cli)


@dataclass
class Person:
    user_id: int
    token: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def venue(runtime: Runtime, *, name: str | None = None, timezone: str = "Europe/London") -> int:
    async with runtime.uow() as uow:
        account = await accounts.create_account(
            uow.session,
            runtime.clock,
            SYSTEM,
            name=name or f"Venue {next(_seq)}",
            timezone=timezone,
            owner_user_id=None,
        )
        await uow.commit()
        return account.id


async def person(
    runtime: Runtime,
    *,
    venue_id: int | None = None,
    role: Role = Role.editor,
    staff: bool = False,
    name: str | None = None,
    email: str | None = None,
) -> Person:
    """A person (optionally a member of `venue_id` with `role`) holding a fresh API token."""
    n = next(_seq)
    async with runtime.uow() as uow:
        user = await accounts.create_user(
            uow.session, runtime.clock, SYSTEM, name=name or f"Person {n}", email=email, is_staff=staff
        )
        if venue_id is not None:
            await accounts.add_member(
                uow.session, runtime.clock, VenueAccess(SYSTEM, venue_id, Role.owner), user_id=user.id, role=role
            )
        _, raw = await auth.create_api_token(uow.session, runtime.clock, SYSTEM, user_id=user.id, name="test")
        await uow.commit()
        return Person(user_id=user.id, token=raw, name=user.name)


async def join(runtime: Runtime, who: Person, venue_id: int, role: Role) -> None:
    async with runtime.uow() as uow:
        await accounts.add_member(
            uow.session, runtime.clock, VenueAccess(SYSTEM, venue_id, Role.owner), user_id=who.user_id, role=role
        )
        await uow.commit()


async def notification(runtime: Runtime, venue_id: int, *, title: str = "Something happened") -> int:
    """One notification in a venue's feed; its id."""
    recorded = await record_notification(runtime, venue_id, title=title)
    assert recorded is not None
    return recorded.id


async def login_link(runtime: Runtime, who: Person, *, venue_id: int | None = None) -> str:
    """Path (`/auth/login/...`) of a fresh one-time login link for `who`, issued by the system."""
    async with runtime.uow() as uow:
        link = await auth.issue_login_link(
            uow.session, runtime.clock, runtime.settings, SYSTEM, user_id=who.user_id, account_id=venue_id
        )
        await uow.commit()
    return urlsplit(link.url).path


@dataclass
class Browser:
    """A logged-in browser: the session cookie and the CSRF token the planner echoes on writes."""

    session: str
    csrf: str

    @property
    def cookie(self) -> dict[str, str]:
        """Headers for a cookie-authenticated request without the CSRF header (reads)."""
        return {"Cookie": f"cheers_session={self.session}; cheers_csrf={self.csrf}"}

    @property
    def headers(self) -> dict[str, str]:
        """Headers for a cookie-authenticated write: the cookie plus X-CSRF-Token."""
        return {**self.cookie, "X-CSRF-Token": self.csrf}


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Each cookie the response sets, by name, parsed with its attributes."""
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name in parsed:
            found[name] = parsed
    return found


async def login(
    client: httpx.AsyncClient, runtime: Runtime, who: Person, *, previous: Browser | None = None
) -> Browser:
    """Log `who` in through a login link, as a browser would (confirm page, then POST)."""
    path = await login_link(runtime, who)
    r = await client.post(path, headers=previous.cookie if previous else None)
    assert r.status_code == 303, f"login link POST failed: {r.status_code} {r.text}"
    cookies = set_cookies(r)
    client.cookies.clear()  # tests send cookies explicitly
    return Browser(
        session=cookies["cheers_session"]["cheers_session"].value, csrf=cookies["cheers_csrf"]["cheers_csrf"].value
    )


# Apps built in this process, by upload limit and extra planner pages, and those serving a test right now.
_APPS: dict[tuple[Any, ...], Any] = {}  # Any: Litestar's ASGI signature is stricter than asgi-lifespan's
_IN_USE: set[int] = set()


@asynccontextmanager
async def app_for(runtime: Runtime, *, pages: tuple[Any, ...] = ()) -> AsyncIterator[Any]:
    """The real app over `runtime`, its lifespan running. Building one costs ~0.15 s of CPU (300 handlers'
    signatures), so each process keeps one per upload limit and set of extra planner `pages` and hands it each
    test's runtime with fresh state (`api.app.serve_runtime`); a test that needs two at once gets a new one."""
    key = (runtime.settings.media_max_upload_bytes, pages)
    app: Any = _APPS.get(key)
    if app is None or id(app) in _IN_USE:
        app = create_app(runtime=runtime, configure_logs=False)
        if pages:
            app.register(planner_router(list(pages)))
        _APPS.setdefault(key, app)
    else:
        serve_runtime(app, runtime)
    _IN_USE.add(id(app))
    try:
        async with LifespanManager(app):
            yield app
    finally:
        _IN_USE.discard(id(app))


@asynccontextmanager
async def app_client(runtime: Runtime, *, pages: tuple[Any, ...] = ()) -> AsyncIterator[httpx.AsyncClient]:
    """An app client over `runtime` (for apps built with other settings than the `client` fixture's)."""
    async with (
        app_for(runtime, pages=pages) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local") as c,
    ):
        yield c


async def audit_entries(runtime: Runtime, action: str) -> Sequence[AuditEntry]:
    """Every audit entry with `action`, oldest first."""
    async with runtime.uow() as uow:
        return await audit_q.entries_by_action(uow.session, action)


async def record_notification(
    runtime: Runtime,
    venue_id: int,
    *,
    kind: NotificationKind = NotificationKind.publish_succeeded,
    severity: Severity = Severity.info,
    title: str | None = None,
    subject: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    actions: Sequence[Offer] = (),
    dedup_key: str | None = None,
    dedup_window: timedelta = notifications.DEFAULT_DEDUP_WINDOW,
) -> Notification | None:
    """One notification recorded through `core.notifications.outbox.notify` and committed (None when de-duplicated)."""
    async with runtime.uow() as uow:
        recorded = await notifications.notify(
            uow.session,
            runtime.clock,
            account_id=venue_id,
            kind=kind,
            severity=severity,
            title=title or f"Notification {next(_seq)}",
            subject=subject,
            payload=payload,
            actions=actions,
            dedup_key=dedup_key,
            dedup_window=dedup_window,
        )
        await uow.commit()
        return recorded


async def notifications_batch(
    runtime: Runtime,
    venue_id: int,
    count: int,
    *,
    kind: NotificationKind = NotificationKind.publish_succeeded,
    severity: Severity = Severity.info,
) -> list[int]:
    """`count` notifications (titled "<kind> #i", payload {"i": i}) in one transaction; ids oldest first."""
    ids: list[int] = []
    async with runtime.uow() as uow:
        for i in range(count):
            recorded = await notifications.notify(
                uow.session,
                runtime.clock,
                account_id=venue_id,
                kind=kind,
                severity=severity,
                title=f"{kind} #{i}",
                payload={"i": i},
            )
            assert recorded is not None
            ids.append(recorded.id)
        await uow.commit()
    return ids


async def connection(
    runtime: Runtime,
    venue_id: int,
    *,
    access_token: str | None,
    refresh_token: str | None = None,
    provider: Provider = Provider.facebook,
    status: ConnectionStatus = ConnectionStatus.active,
) -> int:
    """A connection whose tokens are sealed with the runtime's cipher (ciphertext + masked hint only)."""
    n = next(_seq)
    cipher = runtime.cipher()
    async with runtime.uow() as uow:
        row = Connection(
            account_id=venue_id, provider=provider, external_id=f"ext-{n}", display_name=f"Page {n}", status=status
        )
        seal(row, "access_token", access_token, cipher)
        seal(row, "refresh_token", refresh_token, cipher)
        uow.session.add(row)
        await uow.session.flush()
        await uow.commit()
        return row.id


# --- processes, polling and ops rows (status, jobs, broker and CLI tests) ---

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[1]


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, what: str, within: float = 30.0, interval: float = 0.05
) -> T:
    """Poll `check` until it returns something other than None; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(interval)


CLOCK_OFFSET_FILE = "clock-offset"


class SharedFrozenClock(FrozenClock):
    """A FrozenClock that the test's subprocesses follow: it keeps its distance from real time in an offset file.

    `process_env` hands the file to every `cheers`/`taskiq` subprocess (CHEERS_CLOCK_OFFSET_FILE, read by
    core.clock.OffsetClock under CHEERS_ENV=test), so a CLI run sees the test's moment plus the seconds since the
    clock last moved, never today's date.
    """

    def __init__(self, at: datetime, var_dir: Path) -> None:
        super().__init__(at)
        self.offset_file = var_dir / CLOCK_OFFSET_FILE
        self._publish()

    def advance(self, **delta: float) -> None:
        super().advance(**delta)
        self._publish()

    def _publish(self) -> None:
        self.offset_file.parent.mkdir(parents=True, exist_ok=True)
        staged = self.offset_file.with_suffix(".tmp")
        staged.write_text(f"{(self.now() - datetime.now(UTC)).total_seconds():.6f}\n")
        staged.replace(self.offset_file)  # atomic: a subprocess never reads half a number


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `cheers` or `taskiq` subprocess using `settings` (no CHEERS_* leaks in from outside).

    When the test's clock publishes an offset file in the settings' var dir, the subprocess runs on that clock.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CHEERS_") and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
        CHEERS_ENV=settings.cheers_env.value,
        DATABASE_URL=settings.database,
        CHEERS_SECRET_KEY=settings.cheers_secret_key,
        CHEERS_TOKEN_KEYS=settings.cheers_token_keys,
        CHEERS_PUBLIC_URL=settings.cheers_public_url,
        CHEERS_VAR_DIR=str(settings.cheers_var_dir),
        CHEERS_LOG_FORMAT=settings.cheers_log_format,
        CHEERS_TASK_QUEUE=settings.cheers_task_queue,
        CHEERS_TASK_REDELIVER_SECONDS=str(settings.cheers_task_redeliver_seconds),
        CHEERS_HEARTBEAT_INTERVAL_SECONDS=str(settings.heartbeat_interval_seconds),
    )
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    offset_file = settings.cheers_var_dir / CLOCK_OFFSET_FILE
    if offset_file.exists():
        env[OFFSET_FILE_VAR] = str(offset_file)
    env.update(extra)
    return env


async def job_runs(runtime: Runtime, name: str | None = None) -> Sequence[JobRun]:
    """Recorded job runs (of job `name`, or all), oldest first."""
    async with runtime.db.session() as session:
        query = select(JobRun).order_by(JobRun.id)
        if name is not None:
            query = query.where(JobRun.name == name)
        return (await session.execute(query)).scalars().all()


async def heartbeats(runtime: Runtime, component: str) -> Sequence[Heartbeat]:
    """Every instance's heartbeat row for `component` (worker, scheduler, queue)."""
    async with runtime.db.session() as session:
        query = select(Heartbeat).where(Heartbeat.component == component).order_by(Heartbeat.instance)
        return (await session.execute(query)).scalars().all()


LAPSE_FIELDS = frozenset({"user_token_expires_at", "data_access_expires_at", "token_expires_at"})


async def connection_lapses(runtime: Runtime, connection_id: int, **moments: datetime | None) -> None:
    """Set when a connection's access lapses, as Meta's debug_token would have reported it.

    For moments the twins cannot produce on their own (data access ending before the user token).
    """
    unknown = set(moments) - LAPSE_FIELDS
    assert not unknown, f"not an expiry field: {sorted(unknown)}"
    async with runtime.uow() as uow:
        row = await uow.session.get(Connection, connection_id)
        assert row is not None, f"connection {connection_id} should exist"
        for name, value in moments.items():
            setattr(row, name, value)
        await uow.commit()


async def weekly_slot(
    runtime: Runtime,
    venue_id: int,
    connection_ids: Sequence[int],
    *,
    name: str | None = None,
    weekday: int | str = 1,
    local_time: str = "20:00",
    text_template: str = "Quiz night tonight, {date:%A %d %B}, from 8pm",
    **more: Any,
) -> int:
    """A weekly slot made through core.weekly.slots (as the venue's owner); its id. `more`: other SlotDraft fields."""
    draft = weekly_slots.SlotDraft(
        name=name or f"Slot {next(_seq)}",
        weekday=weekday,
        local_time=local_time,
        text_template=text_template,
        connection_ids=list(connection_ids),
        **more,
    )
    async with runtime.uow() as uow:
        change = await weekly_slots.create_slot(runtime, uow.session, VenueAccess(SYSTEM, venue_id, Role.owner), draft)
        await uow.commit()
        return change.view.id
