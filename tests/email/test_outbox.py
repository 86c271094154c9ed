"""The e-mail outbox end to end: queued once, sent to the Resend twin through the real client, retried with
backoff through an outage (nothing lost, nothing doubled), one e-mail when an answer is lost (the Idempotency-Key),
a refusal recorded with its reason, and nothing sent without an API key."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from core.clock import FrozenClock
from core.email import outbox
from core.email.render import email_bodies
from core.ops.jobs import run_job
from core.runtime import Runtime
from providers.email import idempotency_key
from storage.enums import ChatMessageStatus
from storage.models import Email
from storage.queries import emails as emails_q
from storage.uow import WAKE_KEY
from tests.email.conftest import runtime_with
from tests.sandbox_resend.conftest import ResendTwin

ADDRESS = "ops@cheers.test"


async def queue(runtime: Runtime, key: str, *, to: str = ADDRESS, subject: str = "Job failing") -> bool:
    text, html = email_bodies(subject, ["media-derivatives failed 3 times in a row"], ("Runbook", "http://x/#a"))
    async with runtime.uow() as uow:
        added = await outbox.enqueue(
            uow.session, runtime.clock, dedup_key=key, kind="ops_incident", to=to, subject=subject, text=text, html=html
        )
        await uow.commit()
    return added


async def rows(runtime: Runtime) -> Sequence[Email]:
    async with runtime.db.session() as session:
        return list(reversed(await emails_q.recent(session, limit=100)))


async def row(runtime: Runtime, key: str) -> Email:
    async with runtime.db.session() as session:
        found = await emails_q.get_by_key(session, key)
    assert found is not None, f"no e-mail row for {key}"
    return found


async def test_enqueue_is_insert_once_and_wakes_the_task_after_commit(mail_runtime: Runtime) -> None:
    async with mail_runtime.uow() as uow:
        first = await outbox.enqueue(
            uow.session, mail_runtime.clock, dedup_key="k1", kind="ops_incident", to=ADDRESS, subject="S",
            text="t", html="<p>t</p>",
        )  # fmt: skip
        again = await outbox.enqueue(
            uow.session, mail_runtime.clock, dedup_key="k1", kind="ops_incident", to=ADDRESS, subject="S",
            text="t", html="<p>t</p>",
        )  # fmt: skip
        wakes = set(uow.session.info.get(WAKE_KEY, set()))
        await uow.commit()
    assert (first, again) == (True, False), "a dedup_key is queued once"
    assert (outbox.TASK_NAME, ()) in wakes, "emails-deliver is woken when the transaction commits"
    assert await queue(mail_runtime, "k1") is False
    assert len(await rows(mail_runtime)) == 1


async def test_a_queued_email_reaches_the_twin_with_its_idempotency_key(
    mail_runtime: Runtime, resend: ResendTwin
) -> None:
    await queue(mail_runtime, "incident:1:opened:ops@cheers.test")
    assert await outbox.deliver_due(mail_runtime) == {"sent": 1}
    [mail] = await resend.control.emails()
    assert mail["to"] == [ADDRESS] and mail["subject"] == "Job failing", mail
    assert "media-derivatives failed 3 times in a row" in mail["text"] and "<h2" in mail["html"], mail
    assert mail["sender"] == mail_runtime.settings.cheers_email_from
    assert mail["idempotency_key"] == idempotency_key("incident:1:opened:ops@cheers.test"), "the dedup_key, hashed"
    sent = await row(mail_runtime, "incident:1:opened:ops@cheers.test")
    assert sent.status is ChatMessageStatus.sent and sent.provider_id == mail["id"], (sent.status, sent.provider_id)
    assert sent.attempts == 1 and sent.sent_at is not None and sent.last_error is None
    assert await outbox.deliver_due(mail_runtime) == {}, "a sent e-mail is never sent again"


async def test_an_outage_is_retried_with_backoff_and_nothing_is_lost_or_doubled(
    mail_runtime: Runtime, resend: ResendTwin, clock: FrozenClock
) -> None:
    keys = [f"notification:{n}:user:1" for n in range(3)]
    for key in keys:
        await queue(mail_runtime, key, subject=key)
    await resend.control.fail_next(6)  # two failed rounds of three
    assert await outbox.deliver_due(mail_runtime) == {"retrying": 3}
    waiting = await row(mail_runtime, keys[0])
    assert waiting.status is ChatMessageStatus.pending and waiting.attempts == 1, (waiting.status, waiting.attempts)
    assert waiting.next_attempt_at > clock.now(), "a failed e-mail waits (backoff) instead of being retried at once"
    assert "500" in (waiting.last_error or ""), waiting.last_error
    assert await outbox.deliver_due(mail_runtime) == {}, "nothing is due before the backoff has passed"
    clock.advance(minutes=31)  # past any backoff (capped at 30 min)
    assert await outbox.deliver_due(mail_runtime) == {"retrying": 3}
    clock.advance(minutes=31)
    assert await outbox.deliver_due(mail_runtime) == {"sent": 3}
    received = sorted(m["subject"] for m in await resend.control.emails())
    assert received == sorted(keys), f"each e-mail exactly once after the outage: {received}"
    assert {r.attempts for r in await rows(mail_runtime)} == {3}


async def test_a_lost_answer_leaves_one_email_at_the_twin_thanks_to_the_idempotency_key(
    mail_runtime: Runtime, resend: ResendTwin, clock: FrozenClock
) -> None:
    await queue(mail_runtime, "incident:7:opened:ops@cheers.test")
    await resend.control.lose_answer(seconds=10)  # held past the client's 0.5 s timeout
    assert await outbox.deliver_due(mail_runtime) == {"retrying": 1}, "no answer: retried later, not given up"
    [delivered] = await resend.control.emails()
    clock.advance(minutes=31)
    assert await outbox.deliver_due(mail_runtime) == {"sent": 1}
    assert len(await resend.control.emails()) == 1, "the retry did not send a second e-mail"
    requests = await resend.control.requests()
    assert [r["replayed"] for r in requests] == [False, True], requests
    assert requests[0]["idempotency_key"] == requests[1]["idempotency_key"], "both attempts carried the same key"
    sent = await row(mail_runtime, "incident:7:opened:ops@cheers.test")
    assert sent.provider_id == delivered["id"], "the row records the id of the one e-mail that went out"


async def test_a_refused_email_fails_with_the_reason(mail_runtime: Runtime, resend: ResendTwin) -> None:
    await resend.control.refuse("nobody@cheers.test")
    await queue(mail_runtime, "k-refused", to="nobody@cheers.test")
    assert await outbox.deliver_due(mail_runtime) == {"failed": 1}
    failed = await row(mail_runtime, "k-refused")
    assert failed.status is ChatMessageStatus.failed, failed.status
    assert "422" in (failed.last_error or "") and "validation_error" in (failed.last_error or ""), failed.last_error
    assert await resend.control.emails() == []


async def test_retries_stop_after_the_max_attempts(
    database_url: str, tmp_path: Path, clock: FrozenClock, resend: ResendTwin
) -> None:
    async with runtime_with(database_url, tmp_path, clock, **resend.settings(cheers_email_max_attempts=2)) as runtime:
        await queue(runtime, "k-max")
        await resend.control.fail_next(10)
        assert await outbox.deliver_due(runtime) == {"retrying": 1}
        clock.advance(minutes=31)
        assert await outbox.deliver_due(runtime) == {"failed": 1}
        gave_up = await row(runtime, "k-max")
        assert gave_up.status is ChatMessageStatus.failed and gave_up.attempts == 2, gave_up.attempts
        assert (gave_up.last_error or "").startswith("gave up after 2 attempts"), gave_up.last_error


async def test_a_rate_limit_waits_as_told_without_spending_an_attempt(
    mail_runtime: Runtime, resend: ResendTwin, clock: FrozenClock
) -> None:
    await queue(mail_runtime, "k-a")
    await queue(mail_runtime, "k-b")
    await resend.control.rate_limit(retry_after=40)
    assert await outbox.deliver_due(mail_runtime) == {"rate_limited": 2}, "the whole batch waits for Resend"
    for key in ("k-a", "k-b"):
        waiting = await row(mail_runtime, key)
        assert waiting.attempts == 0 and waiting.status is ChatMessageStatus.pending, (key, waiting.attempts)
        assert (waiting.next_attempt_at - clock.now()).total_seconds() == 40, waiting.next_attempt_at
    clock.advance(seconds=41)
    assert await outbox.deliver_due(mail_runtime) == {"sent": 2}


async def test_without_an_api_key_emails_wait_and_say_why(keyless_runtime: Runtime, resend: ResendTwin) -> None:
    assert keyless_runtime.email_sender is None
    await queue(keyless_runtime, "k-wait")
    assert await outbox.deliver_due(keyless_runtime) == {"waiting_no_key": 1}
    waiting = await row(keyless_runtime, "k-wait")
    assert waiting.status is ChatMessageStatus.pending and waiting.attempts == 0
    assert waiting.last_error == outbox.NO_KEY_NOTE, waiting.last_error
    assert await outbox.deliver_due(keyless_runtime) == {}, "the note is written once"
    assert await resend.control.requests() == [], "nothing reached Resend"


async def test_the_emails_job_sends_what_is_due(mail_runtime: Runtime, resend: ResendTwin) -> None:
    await queue(mail_runtime, "k-job")
    result = await run_job(mail_runtime, outbox.JOB_NAME, trigger="manual")
    assert result.get("sent") == 1, result
    assert len(await resend.control.emails()) == 1


async def test_a_send_that_hangs_past_the_timeout_is_retried_and_sent_once(
    mail_runtime: Runtime, resend: ResendTwin, clock: FrozenClock
) -> None:
    await queue(mail_runtime, "k-hang")
    await resend.control.hang(seconds=10)  # Resend never gets to it; the client gives up after 0.5 s
    assert await outbox.deliver_due(mail_runtime) == {"retrying": 1}
    assert await resend.control.emails() == []
    clock.advance(minutes=31)
    assert await outbox.deliver_due(mail_runtime) == {"sent": 1}
    assert len(await resend.control.emails()) == 1


async def test_two_deliverers_at_once_send_each_email_once(mail_runtime: Runtime, resend: ResendTwin) -> None:
    keys = [f"k-race-{n}" for n in range(6)]
    for key in keys:
        await queue(mail_runtime, key, subject=key)
    first, second = await asyncio.gather(outbox.run(mail_runtime), outbox.run(mail_runtime))
    assert first.get("sent", 0) + second.get("sent", 0) == len(keys), (first, second)
    received = sorted(m["subject"] for m in await resend.control.emails())
    assert received == sorted(keys), f"each e-mail once, whoever sent it: {received}"
    assert [r["replayed"] for r in await resend.control.requests()] == [False] * len(keys), "no e-mail sent twice"


async def test_an_email_whose_worker_died_is_taken_over_after_its_lease(
    mail_runtime: Runtime, resend: ResendTwin, clock: FrozenClock
) -> None:
    await queue(mail_runtime, "k-orphan")
    now = clock.now()
    async with mail_runtime.uow() as uow:  # a worker claims it, then dies before sending
        [(email_id, _token)] = await emails_q.claim_due(
            uow.session, now=now, lease_until=now + outbox.lease_for(mail_runtime), limit=5
        )
        await uow.commit()
    assert await outbox.deliver_due(mail_runtime) == {}, "a live lease is left alone"
    clock.advance(seconds=outbox.lease_for(mail_runtime).total_seconds() + 1)
    assert await outbox.deliver_due(mail_runtime) == {"sent": 1}
    taken = await row(mail_runtime, "k-orphan")
    assert taken.id == email_id and taken.status is ChatMessageStatus.sent and taken.attempts == 2, taken.attempts
    assert len(await resend.control.emails()) == 1


async def test_a_malformed_address_is_not_queued_and_the_callers_transaction_goes_on(mail_runtime: Runtime) -> None:
    assert await queue(mail_runtime, "k-bad", to="not-an-address") is False
    assert await rows(mail_runtime) == []
