"""Stored files shared by reference count (`stored_blobs`): every row that names a file (an asset's
original, each derivative) holds one reference, taken and given back in that row's own transaction.

A file is deleted only when its count reaches zero, while the transaction that brought it there still
holds the count's row lock; an upload takes its reference under the same lock before it moves its staged
copy into place. So a delete in one venue never removes a file another venue is uploading: see
docs/operations.md ("Shared files") for both orders of that race.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.runtime import Runtime
from storage.blobs import BlobStoreUnavailable
from storage.models import MediaDerivative
from storage.queries import media as media_q

log = structlog.get_logger(__name__)


async def adopt(runtime: Runtime, session: AsyncSession, *, staging: str, key: str) -> None:
    """Take a reference to `key` for a new row, then move the staged upload there unless the file exists.

    The reference (its row lock) comes first: a delete that was about to remove `key` has either finished
    (the file is gone and the staged copy replaces it) or waits until this transaction ends.
    """
    await media_q.take_blob_refs(session, [key], now=runtime.clock.now())
    moved = await runtime.blobs.promote(staging, key)
    log.info("blob_adopted", key=key, moved=moved)


async def drop_staging(runtime: Runtime, staging: str) -> None:
    """Remove a staged upload that was not moved into place; a failure only leaves a `staging/` file."""
    try:
        await runtime.blobs.delete(staging)
    except BlobStoreUnavailable as exc:
        log.warning("blob_staging_cleanup_failed", key=staging, error=exc.message)


async def take(runtime: Runtime, session: AsyncSession, keys: Sequence[str]) -> None:
    """One reference per key, for rows about to name those files (derivatives the job just stored)."""
    await media_q.take_blob_refs(session, keys, now=runtime.clock.now())


async def release(runtime: Runtime, session: AsyncSession, keys: Sequence[str]) -> None:
    """Give back one reference per key (rows being deleted); delete each file nobody uses any more.

    Call it last in the transaction: the files go now, under the row locks, not after commit (an upload
    waiting on the lock would otherwise find the file still there, keep it, and then lose it).
    """
    left = await media_q.release_blob_refs(session, keys)
    for key, refs in left.items():
        if refs is None:
            # Counted since migration 0005 for every row; an uncounted key is kept rather than guessed at.
            log.warning("blob_refs_missing", key=key)
        elif refs == 0:
            await _delete_file(runtime, key)


async def replace_derivatives(
    runtime: Runtime, session: AsyncSession, account_id: int, asset_id: int, rows: Sequence[MediaDerivative]
) -> None:
    """Swap an asset's derivative rows for `rows`, moving their references (new ones first, so a file
    made again under the same key is never counted down to zero in between)."""
    old = await media_q.derivatives_for(session, account_id, [asset_id])
    old_keys = [d.blob_key for d in old]
    await take(runtime, session, [r.blob_key for r in rows])
    await media_q.replace_derivatives(session, asset_id, rows)
    await release(runtime, session, old_keys)


async def discard_unreferenced(runtime: Runtime, session: AsyncSession, keys: Sequence[str]) -> None:
    """Delete files that were stored but never recorded (the job's output for an asset deleted meanwhile),
    unless a row has come to use one; each key's row is locked while it is checked."""
    now = runtime.clock.now()
    for key in sorted(set(keys)):
        if await media_q.lock_blob_ref(session, key, now=now) == 0:
            await _delete_file(runtime, key)
            await media_q.drop_blob_ref_if_unused(session, key)


async def _delete_file(runtime: Runtime, key: str) -> None:
    try:
        await runtime.blobs.delete(key)
    except BlobStoreUnavailable as exc:
        # The count is already zero: the file is an orphan, never a loss. A later upload of the same bytes
        # takes a new reference and finds it in place.
        log.warning("blob_delete_failed", key=key, error=exc.message)
        return
    log.info("blob_deleted", key=key)
