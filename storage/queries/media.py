"""Queries for the media library: assets, derivatives, the job's claim and the sweep's picks, and the
reference counts of stored files (`stored_blobs`, see core/media/stored.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import MediaAsset, MediaDerivative, MediaStatus, StoredBlob


async def add(session: AsyncSession, asset: MediaAsset) -> MediaAsset:
    session.add(asset)
    await session.flush()
    return asset


async def add_unless_present(session: AsyncSession, values: dict[str, Any]) -> MediaAsset | None:
    """Insert an asset unless the venue already has these bytes; None when another upload won the race."""
    stmt = (
        _insert(session)(MediaAsset)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[MediaAsset.account_id, MediaAsset.sha256])
        .returning(MediaAsset.id)
    )
    asset_id = (await session.execute(stmt)).scalar_one_or_none()
    return None if asset_id is None else await session.get(MediaAsset, asset_id)


async def get(session: AsyncSession, account_id: int, asset_id: int) -> MediaAsset | None:
    result = await session.execute(
        select(MediaAsset).where(MediaAsset.id == asset_id, MediaAsset.account_id == account_id)
    )
    return result.scalar_one_or_none()


async def get_any(session: AsyncSession, asset_id: int) -> MediaAsset | None:
    """An asset by id across venues: for the derivatives job, never for a venue's request."""
    return await session.get(MediaAsset, asset_id)


async def by_sha256(session: AsyncSession, account_id: int, sha256: str) -> MediaAsset | None:
    result = await session.execute(
        select(MediaAsset).where(MediaAsset.account_id == account_id, MediaAsset.sha256 == sha256)
    )
    return result.scalar_one_or_none()


async def list_for_account(
    session: AsyncSession, account_id: int, *, before_id: int | None = None, limit: int = 50
) -> Sequence[MediaAsset]:
    """The venue's assets, newest first."""
    query = select(MediaAsset).where(MediaAsset.account_id == account_id)
    if before_id is not None:
        query = query.where(MediaAsset.id < before_id)
    result = await session.execute(query.order_by(MediaAsset.id.desc()).limit(limit))
    return result.scalars().all()


async def derivatives_for(
    session: AsyncSession, account_id: int, asset_ids: Sequence[int]
) -> Sequence[MediaDerivative]:
    """The derivatives of the venue's assets `asset_ids`, by asset then preset."""
    if not asset_ids:
        return []
    result = await session.execute(
        select(MediaDerivative)
        .join(MediaAsset, MediaAsset.id == MediaDerivative.asset_id)
        .where(MediaAsset.account_id == account_id, MediaDerivative.asset_id.in_(asset_ids))
        .order_by(MediaDerivative.asset_id, MediaDerivative.id)
    )
    return result.scalars().all()


async def replace_derivatives(session: AsyncSession, asset_id: int, rows: Sequence[MediaDerivative]) -> None:
    """Drop the asset's derivative rows and store `rows` instead (a re-run after a focal-point change)."""
    await session.execute(delete(MediaDerivative).where(MediaDerivative.asset_id == asset_id))
    session.add_all(rows)
    await session.flush()


async def delete_asset(session: AsyncSession, account_id: int, asset_id: int) -> None:
    await session.execute(delete(MediaDerivative).where(MediaDerivative.asset_id == asset_id))
    await session.execute(delete(MediaAsset).where(MediaAsset.id == asset_id, MediaAsset.account_id == account_id))


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def _upsert_blob_ref(session: AsyncSession, key: str, by: int, now: datetime) -> int:
    """Add `by` (0 just locks) to the key's count, creating the row at `by`; the count after it."""
    stmt = _insert(session)(StoredBlob).values(key=key, refs=by, created_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=[StoredBlob.key], set_={"refs": StoredBlob.refs + by})
    return int((await session.execute(stmt.returning(StoredBlob.refs))).scalar_one())


async def take_blob_refs(session: AsyncSession, keys: Sequence[str], *, now: datetime) -> None:
    """One reference per key named (a key twice takes two), in this transaction.

    The upsert locks the key's row until commit; while a delete holds that row (its count going to zero,
    its file being removed), the upsert waits for it and then starts a new count.
    """
    for key, n in sorted(Counter(keys).items()):  # one lock order, so two writers never deadlock
        await _upsert_blob_ref(session, key, n, now)


async def release_blob_refs(session: AsyncSession, keys: Sequence[str]) -> dict[str, int | None]:
    """Give back one reference per key named; the count left per key (None: the key was never counted).

    A key left at 0 loses its row; its row lock (the UPDATE's, the same as SELECT ... FOR UPDATE) is held
    until commit, so the caller deletes the file before committing and no upload can take it meanwhile.
    """
    left: dict[str, int | None] = {}
    for key, n in sorted(Counter(keys).items()):
        stmt = (
            update(StoredBlob)
            .where(StoredBlob.key == key)
            .values(refs=StoredBlob.refs - n)
            .returning(StoredBlob.refs)
            .execution_options(synchronize_session=False)
        )
        refs = (await session.execute(stmt)).scalar_one_or_none()
        if refs is not None and refs <= 0:
            await session.execute(delete(StoredBlob).where(StoredBlob.key == key))
            refs = 0
        left[key] = refs
    return left


async def lock_blob_ref(session: AsyncSession, key: str, *, now: datetime) -> int:
    """Lock the key's row until commit (creating it at 0 when absent) and return its count."""
    return await _upsert_blob_ref(session, key, 0, now)


async def drop_blob_ref_if_unused(session: AsyncSession, key: str) -> None:
    """Remove the key's row when its count is 0 (after `lock_blob_ref` found nothing using it)."""
    await session.execute(delete(StoredBlob).where(StoredBlob.key == key, StoredBlob.refs <= 0))


async def blob_refs(session: AsyncSession, key: str) -> int:
    """How many rows use the file under `key` (0 when it is not counted)."""
    result = await session.execute(select(StoredBlob.refs).where(StoredBlob.key == key))
    return int(result.scalar_one_or_none() or 0)


async def assets_in_use(session: AsyncSession, account_id: int, asset_id: int) -> list[str]:
    """Descriptions of the venue's posts not yet out that use the asset ("post 12: Friday quiz night…")."""
    from storage.queries.deliveries import assets_in_scheduled_posts  # deliveries imports models only

    rows = await assets_in_scheduled_posts(session, account_id, asset_id)
    return [f"post {post_id}: {' '.join(text.split())[:60] or '(no text)'}" for post_id, text in rows]


async def claim(session: AsyncSession, asset_id: int, *, now: datetime) -> bool:
    """Atomically move a pending asset to processing (attempts + 1); False when another run has it or
    it is no longer pending (a duplicate delivery then does nothing)."""
    result = await session.execute(
        update(MediaAsset)
        .where(MediaAsset.id == asset_id, MediaAsset.status == MediaStatus.pending)
        .values(
            status=MediaStatus.processing,
            attempts=MediaAsset.attempts + 1,
            processing_started_at=now,
            next_attempt_at=None,
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def due_pending(session: AsyncSession, *, now: datetime, limit: int) -> list[int]:
    """Pending assets whose (next) attempt is due, oldest due first, across venues."""
    result = await session.execute(
        select(MediaAsset.id)
        .where(
            MediaAsset.status == MediaStatus.pending,
            or_(MediaAsset.next_attempt_at.is_(None), MediaAsset.next_attempt_at <= now),
        )
        .order_by(MediaAsset.next_attempt_at, MediaAsset.id)
        .limit(limit)
    )
    return list(result.scalars().all())


async def stuck_processing(session: AsyncSession, *, started_before: datetime, limit: int) -> Sequence[MediaAsset]:
    """Assets a worker claimed before `started_before` and never finished (it died or was killed)."""
    result = await session.execute(
        select(MediaAsset)
        .where(MediaAsset.status == MediaStatus.processing, MediaAsset.processing_started_at < started_before)
        .order_by(MediaAsset.id)
        .limit(limit)
    )
    return result.scalars().all()
