"""Key rotation: re-encrypt every stored secret under the newest token key."""

from __future__ import annotations

from core.access import audit
from core.access.audit import Actor
from core.runtime import Runtime
from storage.secrets import ENCRYPTED_FIELDS, rotate_batch

BATCH = 200


async def rotate_keys(runtime: Runtime, actor: Actor) -> dict[str, int]:
    """Re-encrypt everything, a committed batch at a time (safe to stop and run again)."""
    # A job owns its transactions: committed batches keep an interrupted rotation's progress for the rerun.
    cipher = runtime.cipher()
    counts: dict[str, int] = {}
    for field in ENCRYPTED_FIELDS:
        label = f"{field.model.__tablename__}.{field.name}"  # type: ignore[attr-defined]
        counts[label] = 0
        after = 0
        while True:
            async with runtime.uow() as uow:
                ids = await rotate_batch(uow.session, field, cipher, after_id=after, limit=BATCH)
                await uow.commit()
            if not ids:
                break
            counts[label] += len(ids)
            after = ids[-1]
    async with runtime.uow() as uow:
        await audit.record(
            uow.session,
            runtime.clock,
            actor,
            "keys_rotated",
            key_count=len(runtime.settings.token_keys),
            reencrypted=counts,
        )
        await uow.commit()
    return counts
