"""The notifications outbox: transactional recording, windowed de-duplication and the retention purge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import FrozenClock
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind
from core.ops import jobs
from core.runtime import Runtime, build_runtime
from storage.models import Channel, JobRun, Notification, NotificationRead, Role, Severity
from tests import factories
from tests.conftest import make_settings


async def stored(runtime: Runtime, venue_id: int | None = None) -> list[Notification]:
    """What the database holds (optionally for one venue), oldest first."""
    async with runtime.uow() as uow:
        query = select(Notification).order_by(Notification.id)
        if venue_id is not None:
            query = query.where(Notification.account_id == venue_id)
        return list((await uow.session.execute(query)).scalars().all())


async def notify_in_own_uow(runtime: Runtime, venue_id: int, *, commit: bool, dedup_key: str | None) -> None:
    async with runtime.uow() as uow:
        recorded = await notifications.notify(
            uow.session,
            runtime.clock,
            account_id=venue_id,
            kind=NotificationKind.publish_failed,
            severity=Severity.error,
            title="A post failed",
            dedup_key=dedup_key,
        )
        assert recorded is not None, "notify() inside a fresh transaction should record"
        if commit:
            await uow.commit()


# --- recording in the caller's transaction -------------------------------------------------------------------------


async def test_notify_records_in_callers_transaction(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    async with runtime.uow() as uow:
        recorded = await notifications.notify(
            uow.session,
            runtime.clock,
            account_id=venue,
            kind=NotificationKind.publish_failed,
            severity=Severity.error,
            title="Your Friday post failed",
            subject={"post_id": 7},
            payload={"reason": "token expired"},
        )
        assert recorded is not None and recorded.id is not None, "notify() should flush a row inside the transaction"
        await uow.commit()

    rows = await stored(runtime, venue)
    assert len(rows) == 1, f"expected exactly one committed notification, found {len(rows)}"
    row = rows[0]
    assert (row.kind, row.severity, row.title) == ("publish_failed", Severity.error, "Your Friday post failed")
    assert row.subject == {"post_id": 7} and row.payload == {"reason": "token expired"}
    assert row.created_at == clock.now(), "created_at should come from the injected clock"
    assert row.dedup_key is None


async def test_notify_without_subject_or_payload_stores_empty_documents(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    recorded = await factories.record_notification(runtime, venue)
    assert recorded is not None
    (row,) = await stored(runtime, venue)
    assert row.subject == {} and row.payload == {}, "missing subject/payload should be stored as empty objects"


async def test_notification_is_not_recorded_when_the_uow_is_not_committed(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    await notify_in_own_uow(runtime, venue, commit=False, dedup_key=None)
    assert await stored(runtime) == [], "a notification from an uncommitted transaction must not be recorded"


async def test_notification_is_rolled_back_with_the_callers_failed_transaction(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    with pytest.raises(RuntimeError, match="use-case failed"):
        async with runtime.uow() as uow:
            await notifications.notify(
                uow.session,
                runtime.clock,
                account_id=venue,
                kind=NotificationKind.publish_succeeded,
                severity=Severity.info,
                title="x",
            )
            raise RuntimeError("use-case failed after notifying")
    assert await stored(runtime) == [], "a notification must vanish with the transaction that failed"


async def test_explicit_rollback_discards_the_notification(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    async with runtime.uow() as uow:
        await notifications.notify(
            uow.session,
            runtime.clock,
            account_id=venue,
            kind=NotificationKind.publish_succeeded,
            severity=Severity.info,
            title="x",
        )
        await uow.rollback()
    assert await stored(runtime) == [], "rolling back the unit of work must discard the notification"


async def test_rolled_back_notification_does_not_hold_its_dedup_window(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    await notify_in_own_uow(runtime, venue, commit=False, dedup_key="token-expiring:1")
    again = await factories.record_notification(runtime, venue, dedup_key="token-expiring:1")
    assert again is not None, "a de-duplication window opened by a rolled-back transaction must not suppress later ones"
    assert len(await stored(runtime, venue)) == 1


# --- de-duplication -------------------------------------------------------------------------------------------------


async def test_same_dedup_key_inside_window_records_once(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    first = await factories.record_notification(runtime, venue, dedup_key="token-expiring:42")
    second = await factories.record_notification(runtime, venue, dedup_key="token-expiring:42")
    assert first is not None, "the first notification with a key should be recorded"
    assert second is None, "a second notification with the same key inside its window should return None"
    rows = await stored(runtime, venue)
    assert [r.id for r in rows] == [first.id], "only the first notification with the key should be stored"
    assert rows[0].dedup_key == "token-expiring:42"


async def test_same_dedup_key_twice_in_one_transaction_records_once(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    async with runtime.uow() as uow:
        results = [
            await notifications.notify(
                uow.session,
                runtime.clock,
                account_id=venue,
                kind=NotificationKind.publish_succeeded,
                severity=Severity.info,
                title="x",
                dedup_key="k",
            )
            for _ in range(2)
        ]
        await uow.commit()
    assert results[0] is not None and results[1] is None, f"expected [recorded, None], got {results}"
    assert len(await stored(runtime, venue)) == 1


async def test_concurrent_notifies_with_the_same_key_record_once(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    first_claimed = asyncio.Event()

    async def notify_and_commit(hold: bool) -> Notification | None:
        async with runtime.uow() as uow:
            if not hold:
                await first_claimed.wait()
            recorded = await notifications.notify(
                uow.session,
                runtime.clock,
                account_id=venue,
                kind=NotificationKind.publish_succeeded,
                severity=Severity.info,
                title="x",
                dedup_key="k",
            )
            if hold:
                first_claimed.set()
                await asyncio.sleep(0.3)  # the other transaction now races for the same key
            await uow.commit()
            return recorded

    results = await asyncio.wait_for(asyncio.gather(notify_and_commit(True), notify_and_commit(False)), timeout=30)

    assert results[0] is not None and results[1] is None, f"two racing transactions both recorded: {results}"
    assert len(await stored(runtime, venue)) == 1


async def test_same_dedup_key_just_before_window_ends_is_still_suppressed(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    assert await factories.record_notification(runtime, venue, dedup_key="k") is not None
    clock.advance(hours=23, minutes=59)
    assert await factories.record_notification(runtime, venue, dedup_key="k") is None, (
        "a repeat 23h59m later is still inside the default 24h window and should be suppressed"
    )
    assert len(await stored(runtime, venue)) == 1


async def test_same_dedup_key_records_again_after_the_window_passes(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    first = await factories.record_notification(runtime, venue, dedup_key="k")
    clock.advance(hours=24, seconds=1)
    second = await factories.record_notification(runtime, venue, dedup_key="k")
    assert first is not None and second is not None, "after the 24h window passes the key should record again"
    assert second.id != first.id
    third = await factories.record_notification(runtime, venue, dedup_key="k")
    assert third is None, "re-recording should open a fresh window that suppresses the next repeat"
    assert len(await stored(runtime, venue)) == 2


async def test_custom_dedup_window_is_honoured(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    window = timedelta(minutes=10)
    assert await factories.record_notification(runtime, venue, dedup_key="k", dedup_window=window) is not None
    clock.advance(minutes=9)
    assert await factories.record_notification(runtime, venue, dedup_key="k", dedup_window=window) is None, (
        "inside a 10-minute window the repeat should be suppressed"
    )
    clock.advance(minutes=2)
    assert await factories.record_notification(runtime, venue, dedup_key="k", dedup_window=window) is not None, (
        "after a 10-minute window the key should record again"
    )


async def test_suppressed_repeat_does_not_extend_the_window(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    assert await factories.record_notification(runtime, venue, dedup_key="k") is not None
    clock.advance(hours=20)
    assert await factories.record_notification(runtime, venue, dedup_key="k") is None
    clock.advance(hours=5)  # 25h after the first, 5h after the suppressed repeat
    assert await factories.record_notification(runtime, venue, dedup_key="k") is not None, (
        "a suppressed repeat must not push the window out; it runs from the last recorded notification"
    )


async def test_same_dedup_key_in_a_different_venue_records(runtime: Runtime) -> None:
    red_lion = await factories.venue(runtime)
    crown = await factories.venue(runtime)
    assert await factories.record_notification(runtime, red_lion, dedup_key="weekly-digest") is not None
    assert await factories.record_notification(runtime, crown, dedup_key="weekly-digest") is not None, (
        "de-duplication is per venue: another venue's window must not suppress this one"
    )
    assert await factories.record_notification(runtime, crown, dedup_key="weekly-digest") is None
    assert len(await stored(runtime, red_lion)) == 1 and len(await stored(runtime, crown)) == 1


async def test_different_dedup_keys_in_the_same_venue_both_record(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    assert await factories.record_notification(runtime, venue, dedup_key="token-expiring:1") is not None
    assert await factories.record_notification(runtime, venue, dedup_key="token-expiring:2") is not None
    assert len(await stored(runtime, venue)) == 2


async def test_without_a_dedup_key_every_call_records(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    results = [await factories.record_notification(runtime, venue, title="Same title") for _ in range(3)]
    assert all(r is not None for r in results), "notifications without a key are never de-duplicated"
    assert len(await stored(runtime, venue)) == 3


# --- retention purge ------------------------------------------------------------------------------------------------


async def job_runs(runtime: Runtime, name: str) -> list[JobRun]:
    async with runtime.uow() as uow:
        result = await uow.session.execute(select(JobRun).where(JobRun.name == name).order_by(JobRun.id))
        return list(result.scalars().all())


async def test_purge_deletes_only_notifications_older_than_retention(runtime: Runtime, clock: FrozenClock) -> None:
    retention = runtime.settings.notification_retention_days
    venue = await factories.venue(runtime)
    other_venue = await factories.venue(runtime)
    ancient = await factories.record_notification(runtime, venue, title="ancient")
    other_ancient = await factories.record_notification(runtime, other_venue, title="other venue, ancient")
    clock.advance(days=2)
    at_cutoff = await factories.record_notification(runtime, venue, title="exactly at the cutoff")
    clock.advance(days=retention - 1)
    recent = await factories.record_notification(runtime, venue, title="recent")
    clock.advance(days=1)  # now: at_cutoff is exactly `retention` days old, ancient `retention + 2`, recent 1
    assert ancient and other_ancient and at_cutoff and recent

    result = await jobs.run_job(runtime, "notifications-purge", trigger="manual")

    kept = {n.title for n in await stored(runtime)}
    assert kept == {"exactly at the cutoff", "recent"}, (
        f"purge should delete only notifications older than {retention} days (in every venue); kept {sorted(kept)}"
    )
    assert result == {"removed": 2, "retention_days": retention}, f"unexpected job result {result}"


async def test_purge_records_a_job_run(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    await factories.record_notification(runtime, venue)
    clock.advance(days=runtime.settings.notification_retention_days + 1)

    await jobs.run_job(runtime, "notifications-purge", trigger="manual")

    runs = await job_runs(runtime, "notifications-purge")
    assert len(runs) == 1, f"expected one job_runs row for the purge, found {len(runs)}"
    run = runs[0]
    assert run.trigger == "manual" and run.status == "succeeded", f"run recorded as {run.trigger}/{run.status}"
    assert run.started_at == clock.now() and run.finished_at == clock.now()
    assert run.result == {"removed": 1, "retention_days": runtime.settings.notification_retention_days}
    assert run.error is None


async def test_purge_with_nothing_to_delete_succeeds(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    await factories.record_notification(runtime, venue)
    result = await jobs.run_job(runtime, "notifications-purge", trigger="manual")
    assert result["removed"] == 0
    assert len(await stored(runtime)) == 1, "a fresh notification must survive the purge"
    (run,) = await job_runs(runtime, "notifications-purge")
    assert run.status == "succeeded"


@pytest.fixture
async def week_retention_runtime(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Runtime]:
    rt = build_runtime(make_settings(database_url, tmp_path, notification_retention_days=7), clock=clock)
    yield rt
    await rt.db.dispose()


async def test_purge_follows_the_configured_retention(week_retention_runtime: Runtime, clock: FrozenClock) -> None:
    runtime = week_retention_runtime
    assert runtime.settings.notification_retention_days == 7
    venue = await factories.venue(runtime)
    await factories.record_notification(runtime, venue, title="eight days old")
    clock.advance(days=2)
    await factories.record_notification(runtime, venue, title="six days old")
    clock.advance(days=6)

    result = await jobs.run_job(runtime, "notifications-purge", trigger="manual")

    assert [n.title for n in await stored(runtime)] == ["six days old"], (
        "a 7-day retention should keep only the last week"
    )
    assert result == {"removed": 1, "retention_days": 7}


async def test_purge_removes_read_marks_of_purged_notifications(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    reader = await factories.person(runtime, venue_id=venue)
    old = await factories.record_notification(runtime, venue)
    assert old is not None
    async with runtime.uow() as uow:
        access = VenueAccess(Actor(reader.user_id, Channel.api), venue, Role.editor)
        assert await notifications.mark_read(uow.session, runtime.clock, access, ids=[old.id]) == 1
        await uow.commit()
    clock.advance(days=runtime.settings.notification_retention_days + 1)

    await jobs.run_job(runtime, "notifications-purge", trigger="manual")

    async with runtime.uow() as uow:
        marks = (await uow.session.execute(select(NotificationRead))).scalars().all()
    assert await stored(runtime) == [] and list(marks) == [], "purging a read notification should drop its read marks"


async def test_purge_keeps_open_dedup_windows(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    assert await factories.record_notification(runtime, venue, dedup_key="k") is not None
    clock.advance(hours=1)
    await jobs.run_job(runtime, "notifications-purge", trigger="manual")
    assert await factories.record_notification(runtime, venue, dedup_key="k") is None, (
        "the purge must not forget de-duplication windows that are still open"
    )


async def test_expired_dedup_window_records_again_after_purge(runtime: Runtime, clock: FrozenClock) -> None:
    venue = await factories.venue(runtime)
    assert await factories.record_notification(runtime, venue, dedup_key="k") is not None
    clock.advance(days=2)
    await jobs.run_job(runtime, "notifications-purge", trigger="manual")
    assert await factories.record_notification(runtime, venue, dedup_key="k") is not None, (
        "after its window expired (and the purge tidied it) the key should record again"
    )
