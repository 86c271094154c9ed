"""Staff chat commands about the service (through bot.dispatch, as both front doors call it): `alerts ops here|off`,
`ops status`, `ops incidents`, `retry failed since 1h` (count, confirm, retry), the incident buttons, and
`alerts by email|chat|both` for anyone; non-staff are refused with a remedy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.slack.blocks import button_offer, button_value
from bot.telegram.callbacks import offer_data, parse_data
from core.notifications.actions import Action, offer
from core.ops import alerts
from core.ops.digest import make_digest
from core.ops.incidents import Finding, reconcile
from core.runtime import Runtime
from storage.enums import Severity
from storage.models import DeliveryStatus, Email, Incident, OpsDestination, OpsMessage, Role, User
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - a venue whose Facebook publisher is scripted
from tests.bot.support import click, link, say, shown, turn
from tests.bot.test_buttons import _failed  # a delivery Facebook refused for good
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.publishing.support import delivery

OPS = "C-ops"


async def _staff(runtime: Runtime, user: str = "U-staff") -> factories.Person:
    person = await factories.person(runtime, staff=True, name="Stella Staff", email="stella@cheers.test")
    await link(runtime, person, turn(user))
    return person


async def _open(runtime: Runtime, *, job: str = "housekeeping", rule: str = "job_failing") -> Incident:
    finding = Finding(rule=rule, key=f"{rule}:{job}", severity=Severity.error, title=f"Job {job} is failing",
                      detail="3 runs in a row failed", subject={"job": job}, facts={"failures": 3})  # fmt: skip
    async with runtime.uow() as uow:
        changes = await reconcile(uow.session, runtime.clock, [finding], {rule})
        await uow.commit()
    [incident_id] = changes.opened
    async with runtime.db.session() as session:
        found = await session.get(Incident, incident_id)
        assert found is not None
        return found


async def _publish(runtime: Runtime, drain: Drain) -> None:  # noqa: F811
    """A dispatcher tick once the connection's pacing after the failed attempt has passed."""
    runtime.clock.advance(seconds=120)  # type: ignore[attr-defined]
    await drain()


async def test_alerts_ops_here_and_off_are_staff_only_and_audited(runtime: Runtime, pub: Pub) -> None:  # noqa: F811
    await _staff(runtime)
    owner = await factories.person(runtime, venue_id=pub.id, role=Role.owner, name="Olly Owner")
    await link(runtime, owner, turn("U-owner"))

    refused = await say(runtime, turn("U-owner", chat=OPS), "alerts ops here")
    assert refused.title == "You can't do that" and "staff" in shown(refused), shown(refused)
    here = await say(runtime, turn("U-staff", chat=OPS), "alerts ops here")
    assert "incidents go to this channel" in here.title, shown(here)
    again = await say(runtime, turn("U-staff", chat=OPS), "alerts ops here")
    assert "go to this channel" in again.title, shown(again)
    async with runtime.db.session() as session:
        rows = (await session.execute(select(OpsDestination))).scalars().all()
    assert [(r.chat_id, r.disabled_at) for r in rows] == [(OPS, None)], "one ops chat, subscribed once"
    off = await say(runtime, turn("U-staff", chat=OPS), "alerts ops off")
    assert "no longer" in off.title, shown(off)
    assert [e.action for e in await factories.audit_entries(runtime, "ops_alerts_subscribed")] == [
        "ops_alerts_subscribed"
    ]
    assert len(await factories.audit_entries(runtime, "ops_alerts_unsubscribed")) == 1


async def test_ops_status_and_incidents_list_the_open_incidents_with_their_buttons(runtime: Runtime) -> None:
    await _staff(runtime)
    incident = await _open(runtime)

    status = await say(runtime, turn("U-staff"), "ops status")
    assert "needs attention" in status.title, shown(status)
    assert ("Open incidents", "1") in status.fields and "Job housekeeping is failing" in shown(status)
    listing = await say(runtime, turn("U-staff"), "ops incidents")
    assert listing.title == "1 open incident", shown(listing)
    [item] = listing.items
    actions = [o.action for o in item.offers]
    assert actions == [Action.ops_run_job, Action.ops_silence, Action.ops_runbook], actions
    assert all(o.incident_id == incident.id for o in item.offers if o.action is not Action.ops_runbook)
    runbook = item.offers[-1]
    assert runbook.url is not None and runbook.url.endswith("#incident-job-failing"), runbook


async def test_non_staff_are_refused_ops_commands_with_a_remedy(runtime: Runtime, pub: Pub) -> None:  # noqa: F811
    owner = await factories.person(runtime, venue_id=pub.id, role=Role.owner)
    await link(runtime, owner, turn("U-owner"))
    incident = await _open(runtime)
    for text in ("ops status", "ops incidents", "retry failed since 1h"):
        said = await say(runtime, turn("U-owner"), text)
        assert said.title == "You can't do that" and "CheersAI operator" in shown(said), (text, shown(said))
    for action in (Action.ops_run_job, Action.ops_silence, Action.ops_retry_failed):
        said = await click(runtime, turn("U-owner"), offer(action, incident_id=incident.id))
        assert said.title == "You can't do that", (action, shown(said))
    async with runtime.db.session() as session:
        again = await session.get(Incident, incident.id)
        assert again is not None and again.silenced_until is None, "a refused Silence silenced it"


async def test_retry_failed_since_1h_counts_then_the_confirmation_retries_them(
    runtime: Runtime,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    target_id = await _failed(runtime, pub, drain)
    await _staff(runtime)

    asked = await say(runtime, turn("U-staff"), "retry failed since 1h")
    assert asked.title == "1 delivery failed in the last 1 h", shown(asked)
    [confirm] = asked.offers
    assert confirm.label == "Retry 1 failed delivery" and confirm.since is not None, confirm
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.failed, "counting retried something"

    done = await click(runtime, turn("U-staff"), confirm)

    assert done.title == "Retried 1 failed delivery", shown(done)
    await _publish(runtime, drain)
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.published
    [entry] = await factories.audit_entries(runtime, "ops_retry_failed")
    assert entry.details["retried"] == 1, entry.details


async def test_retry_failed_on_an_incident_retries_the_deliveries_behind_it(
    runtime: Runtime,
    pub: Pub,  # noqa: F811
    drain: Drain,  # noqa: F811
) -> None:
    incident = await _open(runtime, job="publish-watchdog", rule="queue_stalled")
    runtime.clock.advance(seconds=60)  # type: ignore[attr-defined]
    target_id = await _failed(runtime, pub, drain)
    await _staff(runtime)
    message = alerts.render_incident(incident, runtime.settings, runtime.clock.now())
    retry = next(o for o in message.offers if o.action is Action.ops_retry_failed)

    done = await click(runtime, turn("U-staff", chat=OPS), retry)

    assert done.title == "Retried 1 failed delivery", shown(done)
    await _publish(runtime, drain)
    assert (await delivery(runtime, target_id)).status is DeliveryStatus.published


async def test_silence_from_a_button_silences_the_incident(runtime: Runtime) -> None:
    await _staff(runtime)
    incident = await _open(runtime)
    said = await click(runtime, turn("U-staff", chat=OPS), offer(Action.ops_silence, incident_id=incident.id))
    assert said.title.startswith(f"Incident #{incident.id} is silenced until"), shown(said)
    async with runtime.db.session() as session:
        again = await session.get(Incident, incident.id)
        assert again is not None and again.silenced_until is not None
        assert again.silenced_until - runtime.clock.now() == timedelta(minutes=60)


async def test_alerts_by_email_is_for_anyone_with_an_address(runtime: Runtime, pub: Pub) -> None:  # noqa: F811
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor, email="ed@pub.test")
    await link(runtime, editor, turn("U-ed"))
    said = await say(runtime, turn("U-ed"), "alerts by email")
    assert said.title == "Your alerts now come by e-mail", shown(said)
    async with runtime.db.session() as session:
        user: Any = await session.get(User, editor.user_id)
        assert user.alert_via == "email"
    unclear = await say(runtime, turn("U-ed"), "alerts by pigeon")
    assert "alerts by email" in shown(unclear), shown(unclear)


async def _fan_out(runtime: Runtime, settings: Any) -> int:
    async with runtime.uow() as uow:
        added = await alerts.fan_out(uow.session, runtime.clock, settings)
        await uow.commit()
    return added


async def _rows(runtime: Runtime, model: Any) -> list[Any]:
    async with runtime.db.session() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars().all())


async def test_incidents_and_the_digest_are_e_mailed_to_ops_addresses_once(runtime: Runtime) -> None:
    await _staff(runtime)
    await say(runtime, turn("U-staff", chat=OPS), "alerts ops here")
    settings = runtime.settings.model_copy(update={"cheers_ops_emails": "ops@cheers.test, oncall@cheers.test"})
    incident = await _open(runtime)

    assert await _fan_out(runtime, settings) == 3, "one ops message and two e-mails"
    assert await _fan_out(runtime, settings) == 0, "told twice"
    runtime.clock.advance(minutes=72)  # type: ignore[attr-defined]
    async with runtime.uow() as uow:
        await reconcile(uow.session, runtime.clock, [], {"job_failing"})
        await uow.commit()
    assert await _fan_out(runtime, settings) == 2, "a resolved e-mail to each address, no new message"
    emails = await _rows(runtime, Email)
    assert [e.dedup_key for e in emails] == [
        f"incident:{incident.id}:opened:ops@cheers.test",
        f"incident:{incident.id}:opened:oncall@cheers.test",
        f"incident:{incident.id}:resolved:ops@cheers.test",
        f"incident:{incident.id}:resolved:oncall@cheers.test",
    ], [e.dedup_key for e in emails]
    assert "Runbook" in emails[0].text_body and "#incident-job-failing" in emails[0].html_body
    assert "Resolved after 1 h 12 min." in emails[2].text_body, emails[2].text_body
    [message] = await _rows(runtime, OpsMessage)
    assert message.subject_key == f"incident:{incident.id}" and message.needs_update, "the message is edited"

    digest = await make_digest(runtime, runtime.clock.now().date())
    assert digest is not None
    assert await _fan_out(runtime, settings) == 3, "the digest: one ops message and two e-mails"
    body = alerts.render_digest(digest)
    assert body.title.startswith("CheersAI daily digest for") and body.lines, body
    assert [m.subject_key for m in await _rows(runtime, OpsMessage)][1] == f"digest:{digest.day.isoformat()}"


def test_the_confirmation_and_incident_buttons_read_back_on_both_platforms() -> None:
    for sent in (offer(Action.ops_retry_failed, since=1795608000), offer(Action.ops_retry_failed, incident_id=12),
                 offer(Action.ops_run_job, incident_id=12), offer(Action.ops_silence, incident_id=12)):  # fmt: skip
        data = offer_data(sent)
        assert len(data.encode()) <= 64 and parse_data(data) == sent, data
        assert button_offer(button_value(sent)) == sent, button_value(sent)
    assert offer_data(offer(Action.ops_retry_failed, since=1795608000)) == "o1:f::1795608000"
