"""The Alerts page's remedies as buttons (a real failed delivery; connection and approval alerts through the
Connections and Weekly plan pages' routes) and the person's outcome history in plain words, linked."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from core.access import audit
from core.access.audit import Actor
from core.notifications.kinds import NotificationKind, offers_for
from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import Channel, DeliveryStatus, Provider, Role, Severity
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies, sign_in
from tests.planner.test_connections import use_clinic
from tests.planner.test_weekly_page import waiting_post
from tests.publishing.conftest import Drain, drain, settings
from tests.publishing.fakes import ScriptedPublisher
from tests.publishing.support import deliveries, schedule

__all__ = ["drain", "settings"]  # fixtures for this module: one tick runs deliveries here

ALERTS = "/planner/alerts"
HTMX = {"HX-Request": "true"}


async def _failed(signed_in: SignedIn, drain: Drain) -> tuple[int, int]:
    """A post whose one Facebook delivery the platform refused for good; (post, delivery)."""
    runtime = signed_in.runtime
    page = await factories.connection(runtime, signed_in.venue_id, access_token="page-token")
    refusal = Permanent("Facebook refused the request: (#100) bad link")
    runtime.use_providers({p: ScriptedPublisher(script=[refusal]) for p in Provider})  # type: ignore[misc]
    saved = await schedule(runtime, signed_in.venue_id, [page], text="Quiz night tonight, 8pm sharp")
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.failed, target.status
    return saved.post.id, target.id


async def test_a_failed_delivery_alert_offers_its_remedies_and_the_outcome_is_kept(
    signed_in: SignedIn, drain: Drain
) -> None:
    post_id, target_id = await _failed(signed_in, drain)
    html = (await signed_in.get(ALERTS, params={"kind": "publish_failed"})).text
    assert f'href="/planner/posts/{post_id}">Open the post</a>' in html, "the alert should link its post"
    retry = f"/planner/posts/{post_id}/deliveries/{target_id}/retry"
    forms = re.findall(r'<form method="post" action="([^"]+)"[^>]*>', html)
    assert retry in forms and f"/planner/posts/{post_id}/deliveries/{target_id}/manual-package" in forms, forms
    assert "Nothing yet" in html, "no actions taken yet: the history says so"

    pressed = await signed_in.post_form(retry)
    assert pressed.status_code == 303, pressed.text
    carry_cookies(signed_in.client, pressed)
    assert (await deliveries(signed_in.runtime, post_id))[0].status is DeliveryStatus.scheduled

    for _ in range(2):  # the history is in the database: a reload (another page, another visit) still shows it
        again = (await signed_in.get(ALERTS)).text
        history = again[again.index('id="history-title"') :]
        assert "Retried a delivery" in history and f'href="/planner/posts/{post_id}">the post</a>' in history


async def test_the_history_is_the_persons_own_in_this_venue(
    runtime: Runtime, signed_in: SignedIn, drain: Drain
) -> None:
    post_id, target_id = await _failed(signed_in, drain)
    assert (await signed_in.post_form(f"/planner/posts/{post_id}/deliveries/{target_id}/retry")).status_code == 303
    colleague = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor)
    other = await factories.login(signed_in.client, runtime, colleague)
    signed_in.client.cookies.set("cheers_session", other.session)
    html = (await signed_in.get(ALERTS)).text
    assert "Retried a delivery" not in html, "a colleague's history must not show another person's actions"


async def _alert_card(signed_in: SignedIn, kind: str) -> str:
    """The one alert of `kind` on the page, as HTML."""
    html = (await signed_in.get(ALERTS, params={"kind": kind})).text
    [card] = re.findall(r'<li class="alert[^"]*" id="alert-\d+">.*?</li>', html, flags=re.S)
    return str(card)


def _forms(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="([^"]+)"', html)


async def test_a_connection_alert_offers_reconnect_and_diagnose_through_the_connections_page(
    signed_in: SignedIn,
) -> None:
    runtime = signed_in.runtime
    connection_id = await factories.connection(runtime, signed_in.venue_id, access_token="page-token")
    await factories.record_notification(
        runtime, signed_in.venue_id, kind=NotificationKind.connection_needs_reconnect, severity=Severity.error,
        subject={"connection_id": connection_id},
        actions=offers_for(NotificationKind.connection_needs_reconnect, connection_id=connection_id),
    )  # fmt: skip
    card = await _alert_card(signed_in, "connection_needs_reconnect")
    base = f"/planner/connections/{connection_id}"
    assert _forms(card)[:2] == [f"{base}/reconnect", f"{base}/diagnose"], card
    assert f'href="/planner/connections#connection-{connection_id}">See the connection</a>' in card, card
    assert 'hx-post="' + base + '/reconnect"' not in card, "Reconnect leaves for the consent page: a plain form"

    use_clinic(runtime)
    told = await signed_in.post_form(f"{base}/diagnose", headers=HTMX)
    assert "toast-ok" in told.text and "all checks passed" in told.text, "Diagnose should answer with a toast"
    started = await signed_in.post_form(f"{base}/reconnect")
    assert started.status_code == 303 and "/oauth/facebook/start" in started.headers["location"], started.text
    history = (await signed_in.get(ALERTS)).text.split('id="history-title"')[1]
    link = f'<a href="/planner/connections#connection-{connection_id}">the connections</a>'
    assert f"Diagnosed a connection · {link}" in history, "the audited diagnosis should be in the history, linked"
    assert f"Started a reconnect · {link}" in history, history

    editor = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor)
    await sign_in(signed_in.client, runtime, editor)
    shown = await _alert_card(signed_in, "connection_needs_reconnect")
    assert _forms(shown)[:1] == [f"{base}/diagnose"], "an editor may diagnose but not reconnect (admins)"


async def test_an_approval_alert_offers_approve_reject_and_edit_to_admins_only(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page_id = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    post_id = await waiting_post(runtime, signed_in.venue_id, page_id, text="Two-for-one burgers tonight")
    card = await _alert_card(signed_in, "approval_requested")
    weekly = f"/planner/weekly/posts/{post_id}"
    assert _forms(card)[:2] == [f"{weekly}/approve", f"{weekly}/reject"], card
    assert 'name="reason" required' in card, "Reject should ask why first"
    assert f'href="/planner/posts/{post_id}#time-title" data-action="edit"' in card, "Edit should open the post"

    [back] = re.findall(r'action="' + weekly + r'/reject".*?name="next" value="([^"]+)"', card, flags=re.S)
    assert unescape(back) == f"{ALERTS}?kind=approval_requested", "Reject should come back to this page"
    # Without JS: the decision lands back on the alerts as they were, with its toast (not on the Weekly plan).
    rejected = await signed_in.post_form(f"{weekly}/reject", {"reason": "Not this week", "next": unescape(back)})
    assert rejected.status_code == 303 and rejected.headers["location"] == unescape(back), rejected.headers
    carry_cookies(signed_in.client, rejected)
    landed = (await signed_in.get(rejected.headers["location"])).text
    assert "toast-ok" in landed and "Rejected by Olive Owner" in landed, "the decision's toast should show here"
    history = (await signed_in.get(ALERTS)).text.split('id="history-title"')[1]
    assert f'Rejected a post: Not this week · <a href="/planner/posts/{post_id}">the post</a>' in history, history

    editor = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor)
    await sign_in(signed_in.client, runtime, editor)
    shown = await _alert_card(signed_in, "approval_requested")
    assert "/approve" not in shown and "/reject" not in shown, "only admins and owners decide approvals"
    assert 'data-action="edit"' in shown, "an editor may still open the post to edit it"


async def test_the_history_words_each_pages_actions_and_links_where_they_show(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    me = Actor(user_id=signed_in.person.user_id, channel=Channel.web)
    done: list[tuple[str, str, int, dict[str, Any]]] = [
        ("media_uploaded", "media_asset", 5, {"filename": "quiz.jpg"}),
        ("media_deleted", "media_asset", 6, {"filename": "old.jpg"}),
        ("token_revealed", "connection", 3, {"which": "access_token"}),
        ("member_invited", "invitation", 8, {"email": "ann@example.com", "role": "editor"}),
        ("role_changed", "user", 4, {"before": "editor", "after": "viewer"}),
        ("chat_quiet_hours_set", "chat_destination", 9, {"start": "22:00", "end": "08:00"}),
        ("alert_via_changed", "user", signed_in.person.user_id, {"before": "chat", "after": "email"}),
        ("weekly_slot_deleted", "weekly_slot", 7, {"name": "Quiz night"}),
        ("account_approvals_changed", "account", signed_in.venue_id, {}),
    ]
    async with runtime.uow() as uow:
        for action, subject_type, subject_id, details in done:
            await audit.record(
                uow.session, runtime.clock, me, action, account_id=signed_in.venue_id, subject_type=subject_type,
                subject_id=subject_id, **details,
            )  # fmt: skip
        await uow.commit()
    history = unescape((await signed_in.get(ALERTS)).text.split('id="history-title"')[1])
    for words, link in [
        ("Uploaded quiz.jpg to the library", '<a href="/planner/library#asset-5">the library</a>'),
        ("Deleted old.jpg from the library", '<a href="/planner/library">the library</a>'),
        ("Revealed a connection's publishing token", '<a href="/planner/connections#connection-3">the connections'),
        ("Invited ann@example.com as editor", '<a href="/planner/team#invitation-8">the team</a>'),
        ("Changed someone's role from editor to viewer", '<a href="/planner/team#member-4">the team</a>'),
        ("Set a chat's quiet hours", '<a href="/planner/chat#chat-9">chat settings</a>'),
        ("Chose to get your own alerts by email", '<a href="/planner/chat#alert-via">chat settings</a>'),
        ("Removed “Quiz night” from the weekly plan", '<a href="/planner/weekly">the weekly plan</a>'),
        ("Changed which posts wait for approval", '<a href="/planner/weekly#approvals">the weekly plan</a>'),
    ]:
        assert f"{words} · {link}" in history, f"{words!r} should be in the history linking its page: {history}"
