"""The planner's Weekly plan: slots added, edited, paused and removed through the API's own use-cases, the venue's
approval settings (admins only), and the approvals queue with Approve and Reject (with a reason)."""

from __future__ import annotations

from datetime import timedelta

from core.access.accounts import update_account
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.posts.service import PostDraft, create_post
from core.runtime import Runtime
from core.weekly import slots as slots_core
from storage.models import Account, Channel, Post, Role
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies, sign_in

HTMX = {"HX-Request": "true"}
PAGE = "/planner/weekly"


def owner(venue_id: int) -> VenueAccess:
    return VenueAccess(factories.SYSTEM, venue_id, Role.owner)


async def slots(runtime: Runtime, venue_id: int) -> list[slots_core.SlotView]:
    async with runtime.uow() as uow:
        return await slots_core.list_slots(runtime, uow.session, owner(venue_id))


def slot_form(connection_id: int, **fields: str) -> dict[str, str]:
    """The add/edit form as a browser sends it (unchecked boxes and empty fields as a browser leaves them)."""
    return {
        "name": "Quiz night",
        "weekday": "1",
        "local_time": "20:00",
        "text_template": "Quiz night tonight, {date:%A %d %B}, from 8pm",
        "connection_ids": str(connection_id),
        "active_from": "",
        "active_until": "",
        **fields,
    }


async def waiting_post(runtime: Runtime, venue_id: int, connection_id: int, *, text: str) -> int:
    """A post by an editor two days ahead, in a venue that asks for editors' posts to be approved: it waits."""
    editor = await factories.person(runtime, venue_id=venue_id, role=Role.editor, name="Eddie Editor")
    async with runtime.uow() as uow:
        await update_account(
            uow.session, runtime.clock, owner(venue_id), name=None, timezone=None, approve_editor_posts=True
        )
        access = VenueAccess(Actor(user_id=editor.user_id, channel=Channel.api), venue_id, Role.editor)
        when = (runtime.clock.now() + timedelta(days=2)).isoformat()
        saved = await create_post(
            runtime, uow.session, access, PostDraft(text=text, when=when, connection_ids=[connection_id])
        )
        await uow.commit()
        assert saved.post.approval == "pending", "the editor's post should wait for approval"
        return saved.post.id


async def post_row(runtime: Runtime, post_id: int) -> Post:
    async with runtime.uow() as uow:
        row = await uow.session.get(Post, post_id)
        assert row is not None
        return row


async def as_role(signed_in: SignedIn, role: Role) -> str:
    """The browser signs in again as a new person of the venue with `role`; their CSRF token."""
    who = await factories.person(signed_in.runtime, venue_id=signed_in.venue_id, role=role, name=f"{role.value} one")
    return (await sign_in(signed_in.client, signed_in.runtime, who)).csrf


async def test_the_plan_shows_each_slot_with_when_where_and_its_next_posts_text(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    await factories.weekly_slot(runtime, signed_in.venue_id, [page_id], name="Quiz night", weekday=1)
    r = await signed_in.get(PAGE)
    assert r.status_code == 200, r.text
    assert 'href="/planner/weekly" aria-current="page"' in r.text, "the nav should mark the Weekly plan page"
    assert "Every Tuesday at 20:00" in r.text and "Facebook Page Page" in r.text, "when and where are missing"
    assert "Quiz night tonight, Tuesday" in r.text, "the next post's text should have its date filled in"
    assert "Edit Quiz night" in r.text and "Add a weekly slot" in r.text, "an owner should see the forms"


async def test_adding_a_slot_saves_it_through_core_audited_and_answers_with_a_flash(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    until = (runtime.clock.now() + timedelta(days=200)).date().isoformat()
    r = await signed_in.post_form(f"{PAGE}/slots", slot_form(page_id, caption_instagram="", active_until=until))
    assert r.status_code == 303, r.text
    [slot] = await slots(runtime, signed_in.venue_id)
    assert r.headers["location"] == f"{PAGE}#slot-{slot.id}"
    assert (slot.name, slot.weekday, slot.local_time, slot.connection_ids) == ("Quiz night", 1, "20:00", [page_id])
    assert slot.captions == {} and str(slot.active_until) == until, "an empty caption should not be saved"
    [entry] = await factories.audit_entries(runtime, "weekly_slot_created")
    assert entry.actor_user_id == signed_in.person.user_id, "the slot should be audited as the person who added it"
    carry_cookies(signed_in.client, r)
    shown = await signed_in.get(PAGE)
    assert "Added Quiz night: every Tuesday at 20:00" in shown.text, "the flash should say what was added"


async def test_a_refused_slot_says_why_and_keeps_everything_typed(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    form = slot_form(page_id, name="Roast", text_template="Roast {day} from noon", local_time="12:30")
    r = await signed_in.post_form(f"{PAGE}/slots", form)
    assert r.status_code == 422, r.text
    assert "the placeholder {day}" in r.text and "What to do:" in r.text, "core's reason and remedy should show"
    assert 'value="Roast"' in r.text and "Roast {day} from noon</textarea>" in r.text, "the typed values were lost"
    assert 'value="12:30"' in r.text, "the typed time was lost"
    assert await slots(runtime, signed_in.venue_id) == [], "a refused slot must not be saved"
    no_target = await signed_in.post_form(f"{PAGE}/slots", {**slot_form(page_id), "connection_ids": ""})
    assert no_target.status_code == 422 and "choose at least one connection" in no_target.text, no_target.text


async def test_editing_a_slot_changes_it_and_an_emptied_date_clears_it(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    until = runtime.clock.now().date() + timedelta(days=400)
    slot_id = await factories.weekly_slot(runtime, signed_in.venue_id, [page_id], name="Quiz night", active_until=until)
    r = await signed_in.post_form(f"{PAGE}/slots/{slot_id}", slot_form(page_id, weekday="3", local_time="19:30"))
    assert r.status_code == 303, r.text
    [slot] = await slots(runtime, signed_in.venue_id)
    assert (slot.weekday_name, slot.local_time, slot.active_until) == ("Thursday", "19:30", None), slot
    refused = await signed_in.post_form(f"{PAGE}/slots/{slot_id}", slot_form(page_id, local_time="25:00"))
    assert refused.status_code == 422 and "is not a time of day" in refused.text, refused.text
    assert f'id="slot-error-{slot_id}"' in refused.text, "the error should show in that slot's own form"


async def test_pause_resume_and_remove_a_slot(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    slot_id = await factories.weekly_slot(runtime, signed_in.venue_id, [page_id], name="Roast")
    paused = await signed_in.post_form(f"{PAGE}/slots/{slot_id}/pause", headers=HTMX)
    assert "Paused Roast" in paused.text and "toast-ok" in paused.text, paused.text
    assert (await slots(runtime, signed_in.venue_id))[0].state == "paused"
    page = await signed_in.get(PAGE)
    assert "Resume Roast" in page.text and "Paused</span>" in page.text, "a paused slot should say so and offer Resume"
    await signed_in.post_form(f"{PAGE}/slots/{slot_id}/resume")
    assert (await slots(runtime, signed_in.venue_id))[0].state == "active"
    removed = await signed_in.post_form(f"{PAGE}/slots/{slot_id}/delete")
    assert (removed.status_code, removed.headers["location"]) == (303, f"{PAGE}#slots"), removed.text
    assert await slots(runtime, signed_in.venue_id) == [], "the removed slot is still in the plan"
    assert (await signed_in.post_form(f"{PAGE}/slots/{slot_id}/explode")).status_code == 404


async def test_a_viewer_reads_the_plan_but_has_no_forms_and_is_refused(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    slot_id = await factories.weekly_slot(runtime, signed_in.venue_id, [page_id], name="Roast")
    csrf = await as_role(signed_in, Role.viewer)
    page = await signed_in.get(PAGE)
    assert page.status_code == 200 and "Roast" in page.text, page.text
    assert "Add a weekly slot" not in page.text and "Pause Roast" not in page.text, "a viewer should see no forms"
    refused = await signed_in.client.post(f"{PAGE}/slots/{slot_id}/pause", data={"csrf_token": csrf})
    assert refused.status_code == 403, refused.text
    assert (await slots(runtime, signed_in.venue_id))[0].state == "active", "a viewer paused the slot"


async def test_another_venues_slot_is_not_found_and_a_form_without_the_token_changes_nothing(
    signed_in: SignedIn,
) -> None:
    runtime = signed_in.runtime
    elsewhere = await factories.venue(runtime, name="The Anchor")
    their_page = await factories.connection(runtime, elsewhere, access_token="t")
    theirs = await factories.weekly_slot(runtime, elsewhere, [their_page], name="Their quiz")
    r = await signed_in.post_form(f"{PAGE}/slots/{theirs}/pause")
    assert r.status_code == 404, r.text
    edit = await signed_in.post_form(f"{PAGE}/slots/{theirs}", slot_form(their_page))
    assert edit.status_code == 404, edit.text
    mine = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    forged = await signed_in.client.post(f"{PAGE}/slots", data=slot_form(mine))
    assert forged.status_code == 403, forged.text
    assert await slots(runtime, signed_in.venue_id) == [], "a form without the CSRF token added a slot"
    assert (await slots(runtime, elsewhere))[0].state == "active", "another venue's slot was changed"


async def test_an_admin_sets_which_posts_wait_and_the_page_names_the_approvers(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page = await signed_in.get(PAGE)
    assert "Posts by editors go out without approval" in page.text and "Olive Owner" in page.text, page.text
    r = await signed_in.post_form(f"{PAGE}/approvals", {"approve_weekly_posts": "on"})
    assert (r.status_code, r.headers["location"]) == (303, f"{PAGE}#approvals"), r.text
    async with runtime.uow() as uow:
        account = await uow.session.get(Account, signed_in.venue_id)
        assert account is not None and (account.approve_editor_posts, account.approve_weekly_posts) == (False, True)
    [entry] = await factories.audit_entries(runtime, "account_approvals_changed")
    assert entry.actor_user_id == signed_in.person.user_id
    csrf = await as_role(signed_in, Role.editor)
    shown = await signed_in.get(PAGE)
    assert "Save approval settings" not in shown.text, "an editor should not see the settings form"
    assert "Posts from the weekly plan wait for approval" in shown.text
    data = {"csrf_token": csrf, "approve_editor_posts": "on"}
    assert (await signed_in.client.post(f"{PAGE}/approvals", data=data)).status_code == 403
    async with runtime.uow() as uow:
        account = await uow.session.get(Account, signed_in.venue_id)
        assert account is not None and not account.approve_editor_posts, "an editor lifted or set the approval rule"


async def test_approve_from_the_queue_with_htmx_then_a_second_approval_is_told_who_decided(
    signed_in: SignedIn,
) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    post_id = await waiting_post(runtime, signed_in.venue_id, page_id, text="Two-for-one burgers tonight")
    page = await signed_in.get(PAGE)
    assert "Two-for-one burgers tonight" in page.text and 'data-action="approve"' in page.text, page.text
    r = await signed_in.post_form(f"{PAGE}/posts/{post_id}/approve", headers=HTMX)
    assert r.status_code == 200 and "toast-ok" in r.text, r.text
    assert "Approved by Olive Owner" in r.text and "<html" not in r.text, "htmx should get the decision's toast"
    assert (await post_row(runtime, post_id)).approval == "approved"
    [entry] = await factories.audit_entries(runtime, "post_approved")
    assert entry.actor_user_id == signed_in.person.user_id, "the approval should be audited as who pressed it"
    again = await signed_in.post_form(f"{PAGE}/posts/{post_id}/approve", headers=HTMX)
    assert "toast-error" in again.text and "Already approved by Olive Owner" in again.text, again.text
    after = await signed_in.get(PAGE)
    assert "No posts are waiting for approval" in after.text, "the approved post should leave the queue"


async def test_reject_needs_a_reason_then_cancels_the_post_and_says_why(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    post_id = await waiting_post(runtime, signed_in.venue_id, page_id, text="Free pints for everyone")
    no_reason = await signed_in.post_form(f"{PAGE}/posts/{post_id}/reject", {"reason": " "}, headers=HTMX)
    assert "toast-error" in no_reason.text and "Say why it is rejected" in no_reason.text, no_reason.text
    assert (await post_row(runtime, post_id)).approval == "pending", "a reject without a reason changed the post"
    r = await signed_in.post_form(f"{PAGE}/posts/{post_id}/reject", {"reason": "We can't afford that"})
    assert (r.status_code, r.headers["location"]) == (303, f"{PAGE}#approvals"), r.text
    row = await post_row(runtime, post_id)
    assert (row.approval, row.approval_note, row.cancelled_at is not None) == ("rejected", "We can't afford that", True)


async def test_an_editor_sees_the_queue_without_buttons_and_cannot_approve(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    post_id = await waiting_post(runtime, signed_in.venue_id, page_id, text="Live music Friday")
    csrf = await as_role(signed_in, Role.editor)
    page = await signed_in.get(PAGE)
    assert "Live music Friday" in page.text and 'data-action="approve"' not in page.text, page.text
    assert "An admin or owner of the venue approves" in page.text
    data = {"csrf_token": csrf}
    assert (await signed_in.client.post(f"{PAGE}/posts/{post_id}/approve", data=data)).status_code == 403
    assert (await post_row(runtime, post_id)).approval == "pending", "an editor approved a post"


async def test_approve_all_approves_what_was_shown_and_names_one_decided_meanwhile(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    first = await waiting_post(runtime, signed_in.venue_id, page_id, text="Quiz on Tuesday")
    second = await waiting_post(runtime, signed_in.venue_id, page_id, text="Roast on Sunday")
    page = await signed_in.get(PAGE)
    assert "Approve all 2 shown" in page.text, "an approver with several waiting posts should be offered Approve all"
    await signed_in.post_form(f"{PAGE}/posts/{first}/approve")  # decided meanwhile (another tab, a colleague)
    shown = {"post_id": [str(first), str(second)], "csrf_token": signed_in.csrf}
    r = await signed_in.client.post(f"{PAGE}/approve-all", data=shown, headers=HTMX)
    assert "toast-warning" in r.text and "Approved 1 post" in r.text, r.text
    assert f"post {first}: already approved by Olive Owner" in r.text, "the post decided meanwhile should be named"
    assert (await post_row(runtime, second)).approval == "approved", "the other shown post was not approved"


async def test_an_empty_plan_opens_the_add_form_and_says_to_connect_first(signed_in: SignedIn) -> None:
    r = await signed_in.get(PAGE)
    assert r.status_code == 200, r.text
    assert "No weekly slots yet" in r.text and '<details class="slot-add" id="add-slot" open>' in r.text, r.text
    assert "The venue has no connections yet" in r.text, "a venue without connections should be told to connect first"
    assert "No posts are waiting for approval" in r.text
