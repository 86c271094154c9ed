"""SQL for reading deliveries and their attempts: the engine's one-statement load, a post's deliveries, counts.

Claims and sweeps are in storage.queries.claims, pacing in storage.queries.pacing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Interval, Select, Table, bindparam, cast, exists, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

from storage.enums import Severity
from storage.models import (
    AttemptOutcome,
    ChatAlertFanout,
    ChatDestination,
    Connection,
    ConnectionPacing,
    ConnectionStatus,
    DeliveryStatus,
    Notification,
    Post,
    PostMedia,
    PostTarget,
    Provider,
    PublishAttempt,
)
from storage.models.posts import CLAIMABLE, SETTLED


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def database_now(session: AsyncSession) -> datetime:
    """The database's clock (PostgreSQL `now()`); SQLite has one process and no server, so the host clock."""
    if is_postgres(session):
        value = (await session.execute(text("SELECT now()"))).scalar_one()
        return value.astimezone(UTC) if isinstance(value, datetime) else datetime.now(UTC)
    return datetime.now(UTC)


async def get_target(session: AsyncSession, target_id: int, *, lock: bool = False) -> PostTarget | None:
    query = select(PostTarget).where(PostTarget.id == target_id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


@dataclass
class LoadedDelivery:
    """A delivery locked for publishing with everything `_begin`/`_finish` read, fetched in one statement."""

    target: PostTarget
    post: Post
    connection: Connection
    pacing: ConnectionPacing | None = None
    attempt: PublishAttempt | None = None
    in_flight: bool = False
    media_ids: list[int] = field(default_factory=list)
    db_now: datetime | None = None


@functools.cache
def _load_statement(postgres: bool, with_attempt: bool) -> Select[Any]:
    """Built once per shape: constructing this select (an alias, five joins) cost more CPU than running it."""
    other = aliased(PublishAttempt)  # the outer query may join the given attempt too
    in_flight = (
        select(other.id)
        .where(other.target_id == PostTarget.id, other.outcome == AttemptOutcome.in_flight)
        .correlate(PostTarget)
        .exists()
    )
    columns: list[Any] = [PostTarget, Post, Connection, ConnectionPacing, in_flight.label("in_flight")]
    columns.append(PostMedia.asset_id)
    if with_attempt:
        columns.append(PublishAttempt)
    if postgres:
        columns.append(func.now().label("db_now"))
    query = (
        select(*columns)
        .join(Post, Post.id == PostTarget.post_id)
        .join(Connection, Connection.id == PostTarget.connection_id)
        .outerjoin(ConnectionPacing, ConnectionPacing.connection_id == PostTarget.connection_id)
        .outerjoin(PostMedia, PostMedia.post_id == PostTarget.post_id)
        .where(PostTarget.id == bindparam("target_id"))
        .order_by(PostMedia.position)
    )
    if with_attempt:
        query = query.outerjoin(
            PublishAttempt,
            (PublishAttempt.id == bindparam("attempt_id")) & (PublishAttempt.target_id == PostTarget.id),
        )
    if postgres:
        query = query.with_for_update(of=PostTarget)
    return query


async def load_delivery(
    session: AsyncSession, target_id: int, *, attempt_id: int | None = None
) -> LoadedDelivery | None:
    """The delivery locked `FOR UPDATE` (PostgreSQL) with its post, connection, pacing row, media ids in order,
    whether an attempt is in flight, the given attempt, and the database clock: one round trip instead of seven.
    """
    postgres = is_postgres(session)
    query = _load_statement(postgres, attempt_id is not None)
    params: dict[str, Any] = {"target_id": target_id}
    if attempt_id is not None:
        params["attempt_id"] = attempt_id
    rows = (await session.execute(query, params)).all()
    if not rows:
        return None
    first = rows[0]
    db_now = first.db_now.astimezone(UTC) if postgres else None
    return LoadedDelivery(
        target=first[0],
        post=first[1],
        connection=first[2],
        pacing=first[3],
        attempt=first[6] if attempt_id is not None else None,
        in_flight=bool(first.in_flight),
        media_ids=[row.asset_id for row in rows if row.asset_id is not None],
        db_now=db_now,
    )


@dataclass(frozen=True)
class ConnectionRow:
    """A connection's columns the begin's common case reads (what `lifecycle.credentials` and `label_for` use)."""

    provider: Provider
    status: ConnectionStatus
    display_name: str
    external_id: str
    access_token_ciphertext: str | None
    refresh_token_ciphertext: str | None
    user_token_ciphertext: str | None
    scopes: list[str]
    page_id: str | None
    ig_business_id: str | None
    location_name: str | None


@dataclass(frozen=True)
class BeginRow:
    """What the engine's begin reads for the common case, as plain values (PostgreSQL, `load_for_begin`)."""

    status: DeliveryStatus
    lease_token: str | None
    lease_expires_at: datetime | None
    committed: bool
    cutoff_at: datetime
    attempts: int
    stage: dict[str, Any] | None
    provider: Provider
    connection_id: int
    post_id: int
    account_id: int
    text: str
    captions: dict[str, str]
    link: str | None
    options: dict[str, Any]
    connection: ConnectionRow
    next_allowed_at: datetime | None  # the connection's pacing row, if any
    in_flight: bool
    has_media: bool
    db_now: datetime


_TARGET_AND_POST = 15  # BeginRow's columns before the connection's
_CONNECTION = len(ConnectionRow.__dataclass_fields__)


@functools.cache
def _begin_statement() -> Select[Any]:
    """Built once: `load_delivery`'s joined read for PostgreSQL as plain columns (no ORM objects to build)."""
    other = aliased(PublishAttempt)
    in_flight = (
        select(other.id)
        .where(other.target_id == PostTarget.id, other.outcome == AttemptOutcome.in_flight)
        .correlate(PostTarget)
        .exists()
    )
    has_media = select(PostMedia.asset_id).where(PostMedia.post_id == PostTarget.post_id).correlate(PostTarget).exists()
    columns = [
        PostTarget.status, PostTarget.lease_token, PostTarget.lease_expires_at, PostTarget.committed,
        PostTarget.cutoff_at, PostTarget.attempts, PostTarget.stage, PostTarget.provider, PostTarget.connection_id,
        PostTarget.post_id, Post.account_id, Post.text, Post.captions, Post.link, Post.options, Connection.provider,
        Connection.status, Connection.display_name, Connection.external_id, Connection.access_token_ciphertext,
        Connection.refresh_token_ciphertext, Connection.user_token_ciphertext, Connection.scopes, Connection.page_id,
        Connection.ig_business_id, Connection.location_name, ConnectionPacing.next_allowed_at,
        in_flight.label("in_flight"), has_media.label("has_media"), func.now().label("db_now"),
    ]  # fmt: skip
    return (
        select(*columns)
        .join(Post, Post.id == PostTarget.post_id)
        .join(Connection, Connection.id == PostTarget.connection_id)
        .outerjoin(ConnectionPacing, ConnectionPacing.connection_id == PostTarget.connection_id)
        .where(PostTarget.id == bindparam("target_id"))
        .with_for_update(of=PostTarget)
    )


async def load_for_begin(session: AsyncSession, target_id: int) -> BeginRow | None:
    """PostgreSQL: the delivery locked `FOR UPDATE` with what the begin's common case reads (as `load_delivery`,
    media only as whether there is any), in plain values; None when it is gone."""
    row = (await session.execute(_begin_statement(), {"target_id": target_id})).first()
    if row is None:
        return None
    values = list(row)
    head, rest = values[:_TARGET_AND_POST], values[_TARGET_AND_POST:]
    connection = ConnectionRow(*rest[:_CONNECTION])
    next_allowed_at, in_flight, has_media, db_now = rest[_CONNECTION:]
    fields = dict(zip(list(BeginRow.__dataclass_fields__)[:_TARGET_AND_POST], head, strict=True))
    return BeginRow(
        **fields,
        connection=connection,
        next_allowed_at=next_allowed_at,
        in_flight=bool(in_flight),
        has_media=bool(has_media),
        db_now=db_now.astimezone(UTC),
    )


@dataclass(frozen=True)
class NewAttempt:
    """An attempt about to call the provider, and the pacing it leaves on its connection (None: spacing off)."""

    target_id: int
    connection_id: int
    number: int
    started_at: datetime
    lease_token: str
    lease_expires_at: datetime
    worker: str
    payload_hash: str
    pace_until: datetime | None


async def start_attempt(session: AsyncSession, new: NewAttempt) -> int:
    """Record the attempt `in_flight`, count it on the delivery and extend its lease, and pace the connection.

    Core statements, not the ORM's flush: on PostgreSQL one round trip (the delivery's UPDATE and the pacing
    upsert ride as CTEs of the attempt's INSERT); SQLite runs them one by one. The caller holds the delivery's
    row lock (`load_delivery`); the delivery's ORM object is left as loaded. Returns the attempt's id.
    """
    from storage.queries.pacing import pace_params

    postgres = is_postgres(session)
    params: dict[str, Any] = {
        "s_target_id": new.target_id,
        "s_number": new.number,
        "s_now": new.started_at,
        "s_lease_token": new.lease_token,
        "s_lease_expires_at": new.lease_expires_at,
        "s_worker": new.worker[:128],
        "s_payload_hash": new.payload_hash,
    }
    paced = new.pace_until is not None
    if paced:
        assert new.pace_until is not None
        params |= pace_params(new.connection_id, not_before=new.pace_until, now=new.started_at, reason="spacing")
    if postgres:
        return int((await session.execute(_start_statements(True, paced)[0], params)).scalar_one())
    touch, record, pace = _start_statements(False, paced)
    await session.execute(touch, params)
    attempt_id = int((await session.execute(record, params)).scalar_one())
    if pace is not None:
        await session.execute(pace, params)
    return attempt_id


def cast_table(model: type[Any]) -> Table:
    """The model's Core table: a statement on it runs as Core in a session (the ORM's bulk INSERT path drops the
    RETURNING rows of an INSERT carrying CTEs)."""
    table: Table = model.__table__
    return table


@functools.cache
def _start_statements(postgres: bool, paced: bool) -> tuple[Any, Any, Any]:
    """(the statement to run first, then the others on SQLite); built once per shape."""
    from storage.queries.pacing import pace_statement

    touch = (
        update(PostTarget)
        .where(PostTarget.id == bindparam("s_target_id"))
        .values(
            attempts=bindparam("s_number"),
            # typed: a bare bind in coalesce() would reach SQLite untranslated by UTCDateTime
            first_started_at=func.coalesce(
                PostTarget.first_started_at, bindparam("s_now", type_=PostTarget.first_started_at.type)
            ),
            lease_expires_at=bindparam("s_lease_expires_at"),
            updated_at=bindparam("s_now"),
        )
    )
    record = (
        insert(cast_table(PublishAttempt))
        .values(
            target_id=bindparam("s_target_id"),
            number=bindparam("s_number"),
            started_at=bindparam("s_now"),
            outcome=AttemptOutcome.in_flight,
            lease_token=bindparam("s_lease_token"),
            worker=bindparam("s_worker"),
            payload_hash=bindparam("s_payload_hash"),
            exchanges=[],
        )
        .returning(PublishAttempt.id)
    )
    pace = pace_statement(postgres) if paced else None
    if not postgres:
        return touch, record, pace
    record = record.add_cte(touch.cte("touched"))
    if pace is not None:
        record = record.add_cte(pace.cte("paced"))
    return record, None, None


@dataclass(frozen=True)
class PublishedAnswer:
    """The provider's "published" for a claimed delivery's attempt, and the success notification it records."""

    target_id: int
    lease_token: str
    attempt_id: int
    exchanges: list[dict[str, Any]]
    note: str
    permalink: str | None
    external_id: str | None
    account_id: int
    kind: str
    severity: Severity
    title: str
    subject: dict[str, Any]
    created_at: datetime
    fixed_now: datetime | None  # a test's clock; None: the database's now() moved by `offset`
    offset: timedelta = timedelta()


@dataclass(frozen=True)
class PublishedRecorded:
    """What `publish_claimed` wrote: the success notification, and whether a chat of the venue may want it."""

    notification_id: int
    # False: no chat of the venue takes alerts, so the notification was recorded as fanned out already (to no one,
    # as core.notifications.fanout would have; `publish_succeeded` is never mailed) and nothing needs waking.
    wake_chats: bool


async def publish_claimed(engine: AsyncEngine, answer: PublishedAnswer) -> PublishedRecorded | None:
    """PostgreSQL only: a delivery still claimed under `answer.lease_token` becomes published (lease given back,
    error cleared, link kept when the answer has none), its attempt finished with the snapshots, and the success
    notification recorded (payload: the link and id as written): one autocommitted statement, one round trip
    instead of six (BEGIN, the locked read, three writes, COMMIT). None, with nothing written, when the delivery
    is not claimed under that lease any more: the caller then takes the long way, which judges every other case.

    The same statement looks for a chat of the venue that takes alerts (on, not stopped); when there is none, it
    records the notification as fanned out, so no `chat-alerts-deliver` pass is needed for it (the fan-out would
    have found no chat and marked it so; a receipt of a live post is never e-mailed).
    """
    params = {
        "f_target_id": answer.target_id,
        "f_lease_token": answer.lease_token,
        "f_attempt_id": answer.attempt_id,
        "f_exchanges": answer.exchanges,
        "f_note": answer.note,
        "f_permalink": answer.permalink,
        "f_external_id": answer.external_id,
        "f_fixed_now": answer.fixed_now,
        "f_offset": answer.offset,
        "f_account_id": answer.account_id,
        "f_kind": answer.kind,
        "f_severity": answer.severity,
        "f_title": answer.title,
        "f_subject": answer.subject,
        "f_created_at": answer.created_at,
    }
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        row = (await conn.execute(_publish_claimed_statement(), params)).first()
    return None if row is None else PublishedRecorded(int(row[0]), bool(row[1]))


@functools.cache
def _publish_claimed_statement() -> Any:
    """Built once: the delivery's UPDATE (only while claimed under the lease), the attempt's UPDATE and the
    notification's INSERT both conditioned on it, and the notification's fan-out marked done when no chat of
    the venue takes alerts, in CTEs of one statement."""
    now = func.coalesce(
        bindparam("f_fixed_now", type_=PostTarget.updated_at.type),
        func.now() + cast(bindparam("f_offset", type_=Interval()), Interval()),
    )
    target = (
        update(PostTarget)
        .where(
            PostTarget.id == bindparam("f_target_id"),
            PostTarget.status == DeliveryStatus.claimed,
            PostTarget.lease_token == bindparam("f_lease_token"),
        )
        .values(
            status=DeliveryStatus.published,
            external_id=func.coalesce(
                bindparam("f_external_id", type_=PostTarget.external_id.type), PostTarget.external_id
            ),
            permalink=func.coalesce(
                func.nullif(bindparam("f_permalink", type_=PostTarget.permalink.type), ""), PostTarget.permalink
            ),
            published_at=func.coalesce(PostTarget.published_at, now),
            committed=True,
            lease_token=None,
            lease_expires_at=None,
            note=bindparam("f_note"),
            last_error=None,
            error_code=None,
            remedy=None,
            updated_at=now,
        )
        .returning(PostTarget.id, PostTarget.permalink, PostTarget.external_id)
        .cte("published")
    )
    attempt = (
        update(PublishAttempt)
        .where(PublishAttempt.id == bindparam("f_attempt_id"), PublishAttempt.target_id.in_(select(target.c.id)))
        .values(outcome=AttemptOutcome.published, finished_at=now, exchanges=bindparam("f_exchanges"))
        .cte("finished")
    )
    payload = func.jsonb_build_object("permalink", target.c.permalink, "external_id", target.c.external_id)
    columns = ["account_id", "kind", "severity", "title", "subject", "payload", "created_at"]
    values = select(
        bindparam("f_account_id", type_=Notification.account_id.type),
        bindparam("f_kind", type_=Notification.kind.type),
        bindparam("f_severity", type_=Notification.severity.type),
        bindparam("f_title", type_=Notification.title.type),
        bindparam("f_subject", type_=Notification.subject.type),
        payload,
        bindparam("f_created_at", type_=Notification.created_at.type),
    ).select_from(target)
    noted = insert(Notification).from_select(columns, values).returning(Notification.id).cte("noted")
    # The fan-out's own test for "a chat that may take it" (storage.queries.chat_alerts.alert_destinations).
    chats = exists(
        select(ChatDestination.id).where(
            ChatDestination.account_id == bindparam("f_account_id", type_=ChatDestination.account_id.type),
            ChatDestination.alerts.is_(True),
            ChatDestination.disabled_at.is_(None),
        )
    )
    wants = select(noted.c.id, chats.label("chats")).cte("wants")
    fanned = (
        insert(cast_table(ChatAlertFanout))
        .from_select(["notification_id", "done_at"], select(wants.c.id, now).where(~wants.c.chats))
        .cte("fanned")
    )
    return select(wants.c.id, wants.c.chats).add_cte(attempt).add_cte(fanned)


async def targets_of_post(session: AsyncSession, post_id: int, *, lock: bool = False) -> Sequence[PostTarget]:
    query = select(PostTarget).where(PostTarget.post_id == post_id).order_by(PostTarget.id)
    if lock and is_postgres(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalars().all()


async def in_flight_attempt(session: AsyncSession, target_id: int) -> PublishAttempt | None:
    result = await session.execute(
        select(PublishAttempt)
        .where(PublishAttempt.target_id == target_id, PublishAttempt.outcome == AttemptOutcome.in_flight)
        .order_by(PublishAttempt.number.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def attempts_of(session: AsyncSession, account_id: int, target_ids: Sequence[int]) -> Sequence[PublishAttempt]:
    """Every attempt at the venue's deliveries `target_ids`, by delivery then attempt number."""
    if not target_ids:
        return []
    result = await session.execute(
        select(PublishAttempt)
        .join(PostTarget, PostTarget.id == PublishAttempt.target_id)
        .where(PostTarget.account_id == account_id, PublishAttempt.target_id.in_(target_ids))
        .order_by(PublishAttempt.target_id, PublishAttempt.number)
    )
    return result.scalars().all()


async def waiting_on_connection(session: AsyncSession, connection_id: int) -> Sequence[PostTarget]:
    result = await session.execute(
        select(PostTarget).where(
            PostTarget.connection_id == connection_id, PostTarget.status == DeliveryStatus.needs_reconnect
        )
    )
    return result.scalars().all()


async def unsettled_on_connection(session: AsyncSession, account_id: int, connection_id: int) -> int:
    """How many of the venue's deliveries through this connection are not settled yet (still to go out)."""
    result = await session.execute(
        select(func.count())
        .select_from(PostTarget)
        .where(
            PostTarget.account_id == account_id,
            PostTarget.connection_id == connection_id,
            PostTarget.status.not_in(SETTLED),
        )
    )
    return int(result.scalar_one())


async def due_unclaimed(session: AsyncSession, *, due_before: datetime) -> list[dict[str, Any]]:
    """Per venue: how many deliveries were due before `due_before` and still wait, and the oldest due time."""
    result = await session.execute(
        select(PostTarget.account_id, func.count(), func.min(PostTarget.due_at))
        .where(PostTarget.status.in_(CLAIMABLE), PostTarget.due_at < due_before)
        .group_by(PostTarget.account_id)
    )
    return [{"account_id": a, "count": int(n), "oldest_due": d} for a, n, d in result.all()]


async def assets_in_scheduled_posts(session: AsyncSession, account_id: int, asset_id: int) -> list[tuple[int, str]]:
    """(post id, text) of the venue's posts using the asset with a delivery not yet out."""
    from storage.models import Post, PostMedia

    not_out = (
        DeliveryStatus.scheduled,
        DeliveryStatus.claimed,
        DeliveryStatus.processing,
        DeliveryStatus.retrying,
        DeliveryStatus.needs_reconnect,
    )
    result = await session.execute(
        select(Post.id, Post.text, Post.scheduled_at)
        .join(PostMedia, PostMedia.post_id == Post.id)
        .where(
            Post.account_id == account_id,
            PostMedia.asset_id == asset_id,
            Post.id.in_(select(PostTarget.post_id).where(PostTarget.status.in_(not_out))),
        )
        .distinct()
        .order_by(Post.scheduled_at)
    )
    return [(pid, body) for pid, body, _ in result.all()]


async def last_publish_attempt(session: AsyncSession, target_id: int, *, except_worker: str) -> PublishAttempt | None:
    """The latest attempt that called the provider to publish (not a reconciliation check, whose worker
    starts with `except_worker`)."""
    result = await session.execute(
        select(PublishAttempt)
        .where(PublishAttempt.target_id == target_id, PublishAttempt.worker.not_like(f"{except_worker}%"))
        .order_by(PublishAttempt.number.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()
