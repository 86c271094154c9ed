"""Approvals in core: an editor's post waits and is never claimed, one decision per post under a race, the author
told, the cutoff passes unapproved → missed (approval, not the provider), an edit sends an approved post back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import FrozenClock
from core.errors import Conflict, PermissionDenied
from core.posts import approval
from core.posts.service import PostDraft, create_post, update_post
from core.publishing.actions import retry_target
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.models import DeliveryStatus, Post, Role
from tests import factories
from tests.approvals.conftest import Team, access, set_approvals
from tests.publishing.conftest import Drain
from tests.publishing.support import deliveries, notifications_of

S = DeliveryStatus


async def editor_post(
    runtime: Runtime, team: Team, *, when: str = "2026-11-25T14:00", text: str = "Quiz night!"
) -> int:
    async with runtime.uow() as uow:
        saved = await create_post(
            runtime,
            uow.session,
            access(team.editor, team.venue.id, Role.editor),
            PostDraft(text=text, when=when, connection_ids=[team.venue.connection_id]),
        )
        await uow.commit()
    assert "waits for approval" in saved.message, saved.message
    return saved.post.id


async def post_row(runtime: Runtime, post_id: int) -> Post:
    async with runtime.uow() as uow:
        row = await uow.session.get(Post, post_id)
        assert row is not None
        return row


async def decide(runtime: Runtime, who: factories.Person, team: Team, post_id: int, reason: str | None = None) -> str:
    async with runtime.uow() as uow:
        a = access(who, team.venue.id, Role.admin)
        if reason is None:
            decision = await approval.approve(runtime, uow.session, a, post_id)
        else:
            decision = await approval.reject(runtime, uow.session, a, post_id, reason)
        await uow.commit()
        return decision.message


async def test_an_editors_post_waits_is_never_claimed_and_goes_out_once_approved(
    runtime: Runtime, clock: FrozenClock, team: Team, drain: Drain
) -> None:
    post_id = await editor_post(runtime, team, when="now")
    assert (await post_row(runtime, post_id)).approval == "pending"
    assert [t.status for t in await deliveries(runtime, post_id)] == [S.pending_approval]
    asked = await notifications_of(runtime, team.venue.id, "approval_requested")
    assert len(asked) == 1 and asked[0].subject["post_id"] == post_id, asked

    clock.advance(minutes=5)
    result = await drain()
    assert result.claimed == [] and team.venue.publisher.calls == [], "a post waiting for approval was claimed"

    message = await decide(runtime, team.alice, team, post_id)
    assert message.startswith("Approved by Alice Admin."), message
    await drain()
    [target] = await deliveries(runtime, post_id)
    assert target.status is S.published and len(team.venue.publisher.calls) == 1, target.note
    row = await post_row(runtime, post_id)
    assert (row.approval, row.approval_decided_by_user_id) == ("approved", team.alice.user_id)
    told = await notifications_of(runtime, team.venue.id, "approval_decided")
    assert [n.subject["author_user_id"] for n in told] == [team.editor.user_id], told
    assert [e.subject_id for e in await factories.audit_entries(runtime, "post_approved")] == [str(post_id)]


async def test_an_admins_post_or_a_venue_without_the_setting_does_not_wait(runtime: Runtime, team: Team) -> None:
    async with runtime.uow() as uow:
        saved = await create_post(
            runtime, uow.session, access(team.alice, team.venue.id, Role.admin),
            PostDraft(text="From the boss", when="2026-11-25T13:00", connection_ids=[team.venue.connection_id]),
        )  # fmt: skip
        await uow.commit()
    assert saved.post.approval is None and [t.status for t in saved.targets] == [S.scheduled]
    await set_approvals(runtime, team.venue.id, editor=False)
    async with runtime.uow() as uow:
        saved = await create_post(
            runtime, uow.session, access(team.editor, team.venue.id, Role.editor),
            PostDraft(text="Free to go", when="2026-11-25T13:00", connection_ids=[team.venue.connection_id]),
        )  # fmt: skip
        await uow.commit()
    assert saved.post.approval is None and "approval" not in saved.message


async def test_two_approvers_at_once_make_one_decision_and_the_other_is_told_who(runtime: Runtime, team: Team) -> None:
    post_id = await editor_post(runtime, team)
    outcomes = await asyncio.gather(
        decide(runtime, team.alice, team, post_id),
        decide(runtime, team.bob, team, post_id, reason="Wrong date"),
        return_exceptions=True,
    )
    wins = [o for o in outcomes if isinstance(o, str)]
    losses = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, outcomes
    row = await post_row(runtime, post_id)
    winner = "Alice Admin" if row.approval == "approved" else "Bob Owner"
    assert f"already {row.approval} by {winner} at " in losses[0].message, losses[0].message
    assert losses[0].extra["decided_by"] == winner
    [target] = await deliveries(runtime, post_id)
    assert target.status is (S.scheduled if row.approval == "approved" else S.cancelled), target.status
    decided = await factories.audit_entries(runtime, f"post_{row.approval}")
    assert len(decided) == 1, "one decision, audited once"
    assert len(await notifications_of(runtime, team.venue.id, "approval_decided")) == 1


async def test_a_rejection_cancels_with_the_reason_and_tells_the_author(runtime: Runtime, team: Team) -> None:
    post_id = await editor_post(runtime, team)
    message = await decide(runtime, team.bob, team, post_id, reason="The quiz moved to Wednesday")
    assert message == "Rejected by Bob Owner: The quiz moved to Wednesday. It will not be sent.", message
    [target] = await deliveries(runtime, post_id)
    assert target.status is S.cancelled and "The quiz moved to Wednesday" in (target.note or ""), target.note
    row = await post_row(runtime, post_id)
    assert (row.approval, row.approval_note) == ("rejected", "The quiz moved to Wednesday")
    [told] = await notifications_of(runtime, team.venue.id, "approval_decided")
    assert told.payload["reason"] == "The quiz moved to Wednesday" and told.title.startswith("Rejected by Bob Owner")
    [entry] = await factories.audit_entries(runtime, "post_rejected")
    assert entry.details["reason"] == "The quiz moved to Wednesday", entry.details
    with pytest.raises(Conflict, match="already rejected by Bob Owner"):
        await decide(runtime, team.alice, team, post_id)


async def test_only_an_admin_or_owner_decides(runtime: Runtime, team: Team) -> None:
    post_id = await editor_post(runtime, team)
    async with runtime.uow() as uow:
        with pytest.raises(PermissionDenied, match="needs the admin role"):
            await approval.approve(runtime, uow.session, access(team.editor, team.venue.id, Role.editor), post_id)
    assert (await post_row(runtime, post_id)).approval == "pending"


async def test_unapproved_at_its_cutoff_it_is_missed_for_approval_with_an_alert_and_never_sent(
    runtime: Runtime, clock: FrozenClock, team: Team, drain: Drain
) -> None:
    post_id = await editor_post(runtime, team, when="now")
    [target] = await deliveries(runtime, post_id)
    clock.advance(seconds=(target.cutoff_at - clock.now()).total_seconds() + 60)
    result = await drain()
    assert result.missed == 1 and team.venue.publisher.calls == [], result
    [target] = await deliveries(runtime, post_id)
    assert target.status is S.missed and target.error_code == "not_approved", target
    assert "not approved before its time" in (target.note or ""), target.note
    [alert] = await notifications_of(runtime, team.venue.id, "publish_missed")
    assert "not approved before its time" in alert.payload["reason"], alert.payload
    async with runtime.uow() as uow:  # a retry cannot send it unapproved
        with pytest.raises(Conflict, match="waiting for approval"):
            await retry_target(runtime, uow.session, access(team.alice, team.venue.id, Role.admin), target.id)
    assert team.venue.publisher.calls == []


async def test_approved_after_its_cutoff_it_is_missed_not_sent(
    runtime: Runtime, clock: FrozenClock, team: Team
) -> None:
    post_id = await editor_post(runtime, team, when="now")
    [target] = await deliveries(runtime, post_id)
    clock.advance(seconds=(target.cutoff_at - clock.now()).total_seconds() + 1)
    message = await decide(runtime, team.alice, team, post_id)
    assert "missed there" in message, message
    [target] = await deliveries(runtime, post_id)
    assert target.status is S.missed and target.error_code == "not_approved"


async def test_an_edit_of_an_approved_post_by_an_editor_sends_it_back_for_approval(
    runtime: Runtime, team: Team
) -> None:
    post_id = await editor_post(runtime, team)
    await decide(runtime, team.alice, team, post_id)
    async with runtime.uow() as uow:
        saved = await update_post(
            runtime, uow.session, access(team.editor, team.venue.id, Role.editor), post_id,
            PostDraft(text="Quiz night, now with prizes!"),
        )  # fmt: skip
        await uow.commit()
    assert "waits for approval" in saved.message, saved.message
    row = await post_row(runtime, post_id)
    assert row.approval == "pending" and row.approval_decided_by_user_id is None
    assert [t.status for t in await deliveries(runtime, post_id)] == [S.pending_approval]
    assert len(await notifications_of(runtime, team.venue.id, "approval_requested")) == 2, "asked again"

    async with runtime.uow() as uow:  # an admin's own edit of an approved post is its own approval
        await approval.approve(runtime, uow.session, access(team.bob, team.venue.id, Role.owner), post_id)
        await uow.commit()
    async with runtime.uow() as uow:
        await update_post(
            runtime, uow.session, access(team.alice, team.venue.id, Role.admin), post_id,
            PostDraft(when="2026-11-25T15:00"),
        )  # fmt: skip
        await uow.commit()
    assert (await post_row(runtime, post_id)).approval == "approved"
    assert [t.status for t in await deliveries(runtime, post_id)] == [S.scheduled]


async def test_an_edit_while_waiting_keeps_it_waiting(runtime: Runtime, team: Team) -> None:
    post_id = await editor_post(runtime, team)
    async with runtime.uow() as uow:
        await update_post(
            runtime, uow.session, access(team.editor, team.venue.id, Role.editor), post_id,
            PostDraft(when="2026-11-25T16:00"),
        )  # fmt: skip
        await uow.commit()
    [target] = await deliveries(runtime, post_id)
    assert target.status is S.pending_approval and target.due_at > target.created_at + timedelta(hours=3)


async def test_two_processes_deciding_at_once_make_one_decision(
    runtime: Runtime, settings: Settings, clock: FrozenClock, team: Team
) -> None:
    # A second runtime is a second process's pool: its transactions race the first's on the same database.
    other = build_runtime(settings, clock=clock)
    try:
        post_ids = [await editor_post(runtime, team) for _ in range(3)]
        for post_id in post_ids:
            outcomes = await asyncio.gather(
                decide(runtime, team.alice, team, post_id),
                decide(other, team.bob, team, post_id),
                return_exceptions=True,
            )
            assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "str"], outcomes
        assert len(await factories.audit_entries(runtime, "post_approved")) == len(post_ids), "one decision each"
    finally:
        await other.close()
