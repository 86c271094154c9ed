"""A failed post's alert is edited in place when a person marks the post published: who and when, buttons gone;
the engine's own failure reaches the channel with the kind's Retry and Manual package buttons."""

from __future__ import annotations

from typing import Any

from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.notifications.actions import Action
from core.publishing.actions import mark_published
from core.runtime import Runtime
from providers.errors import Permanent
from storage.enums import Channel, ChatPlatform, Provider, Role
from tests import factories
from tests.chat_alerts.conftest import FakeSender, deliver, destination, messages
from tests.publishing.conftest import Drain, drain, settings  # noqa: F401 - the engine's fixtures: no pacing, one tick
from tests.publishing.fakes import ScriptedPublisher
from tests.publishing.support import deliveries, schedule


async def test_marking_a_failed_post_published_resolves_its_alert_in_place(
    runtime: Runtime,
    sender: FakeSender,
    drain: Drain,  # noqa: F811
    clock: Any,
) -> None:
    runtime.chat_senders[ChatPlatform.slack] = sender
    venue_id = await factories.venue(runtime, name="The Anchor")
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Ada Admin")
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    runtime.use_providers({p: ScriptedPublisher(script=[Permanent("Facebook refused the request.")]) for p in Provider})  # type: ignore[misc]
    await destination(runtime, venue_id, "C1")

    saved = await schedule(runtime, venue_id, [connection_id])
    await drain()
    await deliver(runtime)
    (sent,) = sender.posts
    assert {o.action for o in sent.message.offers} == {Action.retry, Action.manual_package}
    assert "Facebook refused the request." in sent.message.lines[0]

    clock.advance(minutes=3)
    [target] = await deliveries(runtime, saved.post.id)
    async with runtime.uow() as uow:
        access = VenueAccess(Actor(user_id=admin.user_id, channel=Channel.api), venue_id, Role.admin)
        await mark_published(runtime, uow.session, access, target.id, None)
        await uow.commit()
    await deliver(runtime)

    (ref, edited) = sender.updates[-1]
    assert ref == sent.ref and edited.title.startswith("Resolved: ")
    assert edited.offers == ()
    assert edited.lines[0].startswith("Resolved by Ada Admin at ") and "12:03" in edited.lines[0]
    (message,) = await messages(runtime)
    assert message.resolved_at is not None
