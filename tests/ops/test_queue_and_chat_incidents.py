"""queue_stalled (the oldest due delivery waits too long) and chat_failing (a venue chat's alerts fail or it was
stopped) open and resolve; a rule that raises leaves its incidents as they are."""

from __future__ import annotations

from sqlalchemy import update

from core.clock import FrozenClock
from core.email import outbox
from core.ops import rules
from core.ops.incidents import Finding
from core.ops.rules import Facts
from core.ops.watch import evaluate
from core.runtime import Runtime
from storage.enums import ChatMessageStatus, DeliveryStatus, Severity
from storage.models import ChatAlertMessage, ChatDestination, Email, PostTarget
from tests import factories
from tests.chat_alerts.conftest import destination
from tests.ops.support import all_incidents, beat, explain, watch
from tests.publishing.support import schedule


async def test_queue_stalled_opens_when_the_oldest_due_delivery_waits_too_long_and_resolves_once_taken(
    runtime: Runtime, clock: FrozenClock
) -> None:
    venue_id = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    saved = await schedule(runtime, venue_id, [connection_id])
    age = runtime.settings.cheers_ops_queue_age_minutes
    clock.advance(minutes=age - 1)
    await beat(runtime, "worker", "w:1")
    await watch(runtime)
    assert await all_incidents(runtime, "queue_stalled") == [], "opened before CHEERS_OPS_QUEUE_AGE_MINUTES"

    clock.advance(minutes=2)
    await beat(runtime, "worker", "w:1")
    await watch(runtime)
    [stalled] = await all_incidents(runtime, "queue_stalled")
    assert (stalled.status, stalled.severity) == ("open", Severity.error), explain([stalled])
    assert stalled.detail == (
        "Deliveries due since 2026-11-25 12:00 UTC wait in 1 venue(s): workers are running but nothing claims them."
    ), stalled.detail
    assert stalled.facts["count"] == 1 and stalled.facts["oldest_due_at"] == "2026-11-25T12:00:00+00:00"

    async with runtime.uow() as uow:  # a worker takes it
        await uow.session.execute(
            update(PostTarget).where(PostTarget.post_id == saved.post.id).values(status=DeliveryStatus.claimed)
        )
        await uow.commit()
    await watch(runtime)
    [stalled] = await all_incidents(runtime, "queue_stalled")
    assert stalled.status == "resolved", explain([stalled])


async def failing_messages(runtime: Runtime, destination_id: int, venue_id: int, count: int) -> None:
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        for n in range(count):
            uow.session.add(
                ChatAlertMessage(
                    destination_id=destination_id, account_id=venue_id, group_key=f"test:{n}", group_until=now,
                    severity=Severity.error, status=ChatMessageStatus.pending, attempts=2, next_attempt_at=now,
                    last_error=f"slack said ratelimited ({n})", created_at=now, updated_at=now,
                )
            )  # fmt: skip
        await uow.commit()


async def test_chat_failing_opens_for_a_chat_with_enough_failing_messages_or_stopped(
    runtime: Runtime, clock: FrozenClock
) -> None:
    venue_id = await factories.venue(runtime, name="The Anchor")
    quiet = await destination(runtime, venue_id, "C1")
    noisy = await destination(runtime, venue_id, "C2")
    stopped = await destination(runtime, venue_id, "C3")
    threshold = runtime.settings.cheers_ops_chat_failures
    await failing_messages(runtime, quiet, venue_id, threshold - 1)
    await failing_messages(runtime, noisy, venue_id, threshold)
    async with runtime.uow() as uow:
        await uow.session.execute(
            update(ChatDestination)
            .where(ChatDestination.id == stopped)
            .values(disabled_at=clock.now(), disabled_reason="the bot was removed from the channel")
        )
        await uow.commit()

    await watch(runtime)
    rows = await all_incidents(runtime, "chat_failing")
    assert [i.key for i in rows] == [f"chat_failing:{noisy}", f"chat_failing:{stopped}"], explain(rows)
    assert rows[0].subject == {"destination_id": noisy, "platform": "slack", "account_id": venue_id}
    assert rows[0].title == f"Alerts to Slack chat #c2 (venue {venue_id}) are failing", rows[0].title
    assert rows[0].detail.startswith(f"{threshold} alert messages failed or are retrying; last error: slack said")
    assert rows[1].detail == "Alerts to it stopped at 2026-11-25 12:00 UTC: the bot was removed from the channel."

    async with runtime.uow() as uow:  # the retries went out
        await uow.session.execute(update(ChatAlertMessage).values(status=ChatMessageStatus.sent, attempts=3))
        await uow.commit()
    clock.advance(minutes=61)  # and the stop is more than an hour old
    await watch(runtime)
    rows = await all_incidents(runtime, "chat_failing")
    assert [i.status for i in rows] == ["resolved", "resolved"], explain(rows)


async def test_a_rule_that_raises_is_left_out_and_its_incidents_stay(runtime: Runtime, clock: FrozenClock) -> None:
    async def finds(facts: Facts) -> list[Finding]:
        return [Finding("job_overdue", "job_overdue:x", Severity.warning, "Job x is overdue", "late", {"job": "x"})]

    async def broken(facts: Facts) -> list[Finding]:
        raise RuntimeError("the rule's query broke")

    await evaluate(runtime, {**rules.RULES, "job_overdue": finds})
    clock.advance(minutes=5)
    result = await evaluate(runtime, {**rules.RULES, "job_overdue": broken})
    assert result["failed_rules"] == ["job_overdue"] and not result["resolved"], result
    [incident] = await all_incidents(runtime, "job_overdue")
    assert incident.status == "open", "a rule that raised resolved its own incident"


async def queue_email(runtime: Runtime, n: int) -> None:
    async with runtime.uow() as uow:
        await outbox.enqueue(
            uow.session, runtime.clock, dedup_key=f"test:{n}", kind="ops_incident", to="ops@cheers.test",
            subject=f"Test {n}", text="text", html="<p>html</p>",
        )  # fmt: skip
        await uow.commit()


async def test_email_failing_opens_for_e_mails_retrying_after_three_attempts_and_resolves(
    runtime: Runtime, clock: FrozenClock
) -> None:
    for n in range(2):
        await queue_email(runtime, n)
    async with runtime.uow() as uow:  # as three refused sends leave them: still pending, Resend's answer kept
        await uow.session.execute(
            update(Email).where(Email.dedup_key == "test:0").values(attempts=3, last_error="Resend 500: unavailable")
        )
        await uow.session.execute(update(Email).where(Email.dedup_key == "test:1").values(attempts=2))
        await uow.commit()
    await watch(runtime)
    [failing] = await all_incidents(runtime, "email_failing")
    assert (failing.status, failing.severity) == ("open", Severity.warning), explain([failing])
    assert failing.detail == (
        "1 e-mail(s) failing, 0 given up in the last hour; last error: Resend 500: unavailable."
    ), failing.detail

    async with runtime.uow() as uow:  # Resend is back: both went out
        await uow.session.execute(update(Email).values(status=ChatMessageStatus.sent, sent_at=clock.now()))
        await uow.commit()
    await watch(runtime)
    [failing] = await all_incidents(runtime, "email_failing")
    assert failing.status == "resolved", explain([failing])
