"""The planner's post detail: why a delivery failed in plain words, its attempts, and the remedy buttons, which run
the API's own use-cases behind CSRF and the venue role (htmx gets a toast, a plain form a redirect and a flash)."""

from __future__ import annotations

import re
from html import unescape

from api.planner.posts import refusal
from core.errors import Conflict, PermissionDenied
from core.runtime import Runtime
from providers.errors import AuthExpired, Permanent
from storage.models import DeliveryStatus, Provider, Role
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies, sign_in
from tests.planner.test_weekly_page import waiting_post
from tests.publishing.conftest import Drain, drain, settings
from tests.publishing.fakes import ScriptedPublisher
from tests.publishing.support import deliveries, schedule

__all__ = ["drain", "settings"]  # fixtures for this module: one tick runs deliveries here; no spacing between posts

HTMX = {"HX-Request": "true"}


def actions(html: str) -> list[str]:
    """The remedy buttons on the page, in order."""
    return re.findall(r'data-action="([a-z_]+)"', html)


async def _failed(signed_in: SignedIn, drain: Drain, *steps: BaseException) -> tuple[int, int]:
    """A post whose one Facebook delivery the platform refused (each step answers one call); (post, delivery)."""
    runtime = signed_in.runtime
    page = await factories.connection(runtime, signed_in.venue_id, access_token="page-token")
    runtime.use_providers({p: ScriptedPublisher(script=list(steps)) for p in Provider})  # type: ignore[misc]
    saved = await schedule(runtime, signed_in.venue_id, [page], text="Quiz night tonight, 8pm sharp")
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    return saved.post.id, target.id


async def test_a_failed_delivery_shows_why_and_what_to_do_in_plain_words_with_its_attempts(
    signed_in: SignedIn, drain: Drain
) -> None:
    post_id, _ = await _failed(signed_in, drain, Permanent("Facebook refused the request: (#100) bad link"))
    r = await signed_in.get(f"/planner/posts/{post_id}")
    assert r.status_code == 200, r.text
    assert "Failed" in r.text and "(#100) bad link" in r.text, "the reason in plain words is missing"
    assert 'class="remedy"' in r.text, "the remedy (what to do) is missing"
    assert "1 attempt" in r.text and "Quiz night tonight, 8pm sharp" in r.text, "the attempt's snapshot is missing"
    assert actions(r.text) == ["retry", "manual_package"], actions(r.text)


async def test_retry_needs_the_csrf_token_then_queues_once_with_a_flash_or_a_toast(
    signed_in: SignedIn, drain: Drain
) -> None:
    post_id, target_id = await _failed(signed_in, drain, Permanent("Facebook refused the request: (#100) bad link"))
    path = f"/planner/posts/{post_id}/deliveries/{target_id}/retry"
    refused = await signed_in.client.post(path)  # no token: a form from another page, or a forged one
    assert refused.status_code == 403, refused.text
    assert (await deliveries(signed_in.runtime, post_id))[0].status is DeliveryStatus.failed, "retried without CSRF"
    plain = await signed_in.post_form(path)
    assert (plain.status_code, plain.headers["location"]) == (303, f"/planner/posts/{post_id}"), plain.text
    assert (await deliveries(signed_in.runtime, post_id))[0].status is DeliveryStatus.scheduled
    carry_cookies(signed_in.client, plain)  # the flash, as a browser keeps it across the redirect
    shown = await signed_in.get(f"/planner/posts/{post_id}")
    assert "Sending to Facebook Page" in shown.text and "toast-ok" in shown.text, "the flash did not show the outcome"
    again = await signed_in.post_form(path, headers=HTMX)
    assert again.status_code == 200 and "toast-info" in again.text, again.text
    assert "Already on its way" in again.text and "<html" not in again.text, "htmx should get only the toast"
    [entry] = await factories.audit_entries(signed_in.runtime, "delivery_retried")
    assert entry.actor_user_id == signed_in.person.user_id, "the retry was not audited as the person who pressed it"


async def test_mark_published_and_publish_again_run_the_decisions_and_a_refusal_is_an_error_toast(
    signed_in: SignedIn, drain: Drain
) -> None:
    post_id, target_id = await _failed(signed_in, drain, Permanent("refused"), Permanent("refused"))
    base = f"/planner/posts/{post_id}/deliveries/{target_id}"
    again = await signed_in.post_form(f"{base}/publish-again", headers=HTMX)
    assert "toast-ok" in again.text, again.text
    await drain()  # the second scripted refusal: failed again
    link = "https://www.facebook.com/crown/posts/1"
    marked = await signed_in.post_form(f"{base}/mark-published", {"permalink": link}, headers=HTMX)
    assert "Marked as published" in marked.text, marked.text
    [target] = await deliveries(signed_in.runtime, post_id)
    assert (target.status, target.permalink) == (DeliveryStatus.published, link)
    twice = await signed_in.post_form(f"{base}/mark-published", headers=HTMX)
    assert "toast-error" in twice.text and "Already live" in twice.text, twice.text
    page = await signed_in.get(f"/planner/posts/{post_id}")
    assert link in page.text and actions(page.text) == [], "a published delivery still offers remedies"
    assert [len(await factories.audit_entries(signed_in.runtime, a)) for a in ("delivery_published_again",
        "delivery_marked_published")] == [1, 1]  # fmt: skip


async def test_manual_package_and_reconnect_send_the_browser_on(signed_in: SignedIn, drain: Drain) -> None:
    runtime = signed_in.runtime
    real = runtime.providers
    post_id, target_id = await _failed(signed_in, drain, AuthExpired("Error validating access token (#190)"))
    runtime.use_providers(real)  # the reconnect starts Facebook's real consent flow
    page = await signed_in.get(f"/planner/posts/{post_id}")
    assert "Needs reconnecting" in page.text and actions(page.text) == ["reconnect"], actions(page.text)
    [target] = await deliveries(runtime, post_id)
    r = await signed_in.post_form(f"/planner/posts/{post_id}/connections/{target.connection_id}/reconnect")
    assert r.status_code == 303 and "/oauth/facebook/start?state=" in r.headers["location"], r.text
    package = await signed_in.post_form(f"/planner/posts/{post_id}/deliveries/{target_id}/manual-package")
    assert package.status_code == 303 and "/packages/" in package.headers["location"], package.text
    download = await signed_in.get(package.headers["location"].removeprefix(runtime.settings.cheers_public_url))
    assert download.headers["content-type"] == "application/zip", download.status_code


async def test_a_viewer_sees_no_remedies_and_is_refused_when_posting(
    signed_in: SignedIn, drain: Drain, runtime: Runtime
) -> None:
    post_id, target_id = await _failed(signed_in, drain, Permanent("refused"))
    viewer = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.viewer)
    async with factories.app_client(runtime) as client:
        browser = await sign_in(client, runtime, viewer)
        page = await client.get(f"/planner/posts/{post_id}")
        assert page.status_code == 200 and actions(page.text) == [], actions(page.text)
        assert "Change the time" not in page.text, "a viewer was offered the time edit"
        r = await client.post(
            f"/planner/posts/{post_id}/deliveries/{target_id}/retry", data={"csrf_token": browser.csrf}
        )
        assert r.status_code == 403, r.text
    assert (await deliveries(runtime, post_id))[0].status is DeliveryStatus.failed, "a viewer's retry went through"


async def test_another_venues_post_is_not_found(signed_in: SignedIn, runtime: Runtime) -> None:
    other = await factories.venue(runtime, name="Elsewhere")
    page = await factories.connection(runtime, other, access_token="other-token")
    theirs = await schedule(runtime, other, [page], text="Not yours", when="2027-01-05T12:00")
    [target] = await deliveries(runtime, theirs.post.id)
    r = await signed_in.get(f"/planner/posts/{theirs.post.id}")
    assert r.status_code == 404 and "Not yours" not in r.text, r.text
    posted = await signed_in.post_form(f"/planner/posts/{theirs.post.id}/deliveries/{target.id}/retry")
    assert posted.status_code == 404, posted.text


async def test_the_time_edit_explains_the_clocks_changing_before_saving(signed_in: SignedIn, runtime: Runtime) -> None:
    page = await factories.connection(runtime, signed_in.venue_id, access_token="page-token")
    saved = await schedule(runtime, signed_in.venue_id, [page], text="Roast", when="2027-03-20T12:00")
    path = f"/planner/posts/{saved.post.id}"
    check = await signed_in.get(f"{path}/time-check", params={"when": "2027-03-28T01:30"})
    assert "does not exist" in check.text and "clocks go forward" in check.text, check.text
    gap = await signed_in.post_form(f"{path}/time", {"when": "2027-03-28T01:30"})
    assert gap.status_code == 422 and "does not exist" in gap.text, gap.text
    twice = await signed_in.post_form(f"{path}/time", {"when": "2027-10-31T01:30"})
    assert twice.status_code == 422 and "happens twice" in twice.text and 'value="later"' in twice.text, twice.text
    assert "The second (Sun 31 Oct 2027 01:30 GMT)" in twice.text, "the choices are not in the venue's words"
    assert (await deliveries(runtime, saved.post.id))[0].due_at.isoformat().startswith("2027-03-20T12:00")
    chosen = await signed_in.post_form(f"{path}/time", {"when": "2027-10-31T01:30", "fold": "later"})
    assert chosen.status_code == 303, chosen.text
    [target] = await deliveries(runtime, saved.post.id)
    assert target.due_at.isoformat().startswith("2027-10-31T01:30"), "fold=later is 01:30 GMT, i.e. 01:30 UTC"
    carry_cookies(signed_in.client, chosen)
    shown = await signed_in.get(path)
    assert "Sun 31 Oct 2027 01:30 GMT" in shown.text and "Updated; going out" in shown.text, shown.text


async def test_a_post_waiting_for_approval_says_so_and_an_admin_decides_it_there(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    post_id = await waiting_post(runtime, signed_in.venue_id, page_id, text="Two-for-one burgers tonight")
    path = f"/planner/posts/{post_id}"
    shown = (await signed_in.get(path)).text
    assert "Waiting for approval by Olive Owner." in shown, "the approval state should be said in plain words"
    weekly = f"/planner/weekly/posts/{post_id}"
    forms = re.findall(r'<form method="post" action="([^"]+)"', shown)
    assert {f"{weekly}/approve", f"{weekly}/reject"} <= set(forms), "an owner should get Approve and Reject"
    assert 'id="reject-reason" name="reason" required' in shown, "Reject should ask why"

    approved = await signed_in.post_form(f"{weekly}/approve", headers=HTMX)
    assert "toast-ok" in approved.text and "Approved by Olive Owner" in approved.text, approved.text
    after = (await signed_in.get(path)).text
    assert "Approved by Olive Owner on " in after and f"{weekly}/approve" not in after, "the decision should show"

    editor = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor)
    await sign_in(signed_in.client, runtime, editor)
    other = await waiting_post(runtime, signed_in.venue_id, page_id, text="Free pints for everyone")
    seen = (await signed_in.get(f"/planner/posts/{other}")).text
    assert "Waiting for approval by Olive Owner." in seen, "everyone reads the approval state"
    assert "/approve" not in seen and "/reject" not in seen, "an editor has no Approve or Reject"


async def test_a_rejected_post_says_who_rejected_it_and_why(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    post_id = await waiting_post(runtime, signed_in.venue_id, page_id, text="Free pints for everyone")
    path, reject = f"/planner/posts/{post_id}", f"/planner/weekly/posts/{post_id}/reject"
    form = (await signed_in.get(path)).text.split(f'action="{reject}"')[1].split("</form>")[0]
    assert f'name="next" value="{path}"' in form, "Reject should come back to the post without JS"
    r = await signed_in.post_form(reject, {"reason": "We can't afford that", "next": path})
    assert r.status_code == 303 and r.headers["location"] == path, "the decision should land back on the post"
    shown = unescape((await signed_in.get(path)).text)
    assert "Rejected by Olive Owner on " in shown and ": “We can't afford that”. It will not be sent." in shown, shown
    again = await signed_in.post_form(reject, {"reason": "Still no", "next": "https://evil.example/planner/"})
    assert again.status_code == 303 and again.headers["location"] == "/planner/week", "next must stay in the planner"


def test_a_refusal_reads_as_plain_sentences_and_names_no_missing_remedy() -> None:
    assert refusal(Conflict("it is already live", remedy="open it on the platform")) == (
        "It is already live. Open it on the platform."
    ), "a refusal should say why, then what to do, each as a sentence"
    assert refusal(PermissionDenied("only an admin can invite")) == "Only an admin can invite.", (
        "a refusal whose error names no remedy must not print one (no 'None')"
    )
