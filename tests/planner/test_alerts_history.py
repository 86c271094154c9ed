"""The Alerts page with a real failed delivery: its remedies as buttons, and the person's outcome history."""

from __future__ import annotations

import re

from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import DeliveryStatus, Provider, Role
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies
from tests.publishing.conftest import Drain, drain, settings
from tests.publishing.fakes import ScriptedPublisher
from tests.publishing.support import deliveries, schedule

__all__ = ["drain", "settings"]  # fixtures for this module: one tick runs deliveries here

ALERTS = "/planner/alerts"


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
