"""Fixtures for approvals: the publishing venue (one connection, a scripted publisher), with editor and admins."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.access.accounts import update_account
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.runtime import Runtime
from storage.models import Channel, Role
from tests import factories
from tests.publishing.conftest import Drain, Venue, drain, settings, venue  # noqa: F401 - shared fixtures
from tests.publishing.support import owner


@dataclass
class Team:
    venue: Venue
    editor: factories.Person
    alice: factories.Person  # an admin
    bob: factories.Person  # an owner


async def set_approvals(
    runtime: Runtime, venue_id: int, *, editor: bool | None = None, weekly: bool | None = None
) -> None:
    """Change the venue's approval settings through core, as the API and CLI do."""
    async with runtime.uow() as uow:
        await update_account(
            uow.session, runtime.clock, owner(venue_id), name=None, timezone=None,
            approve_editor_posts=editor, approve_weekly_posts=weekly,
        )  # fmt: skip
        await uow.commit()


def access(who: factories.Person, venue_id: int, role: Role) -> VenueAccess:
    """The access a front door would hand core for this person."""
    return VenueAccess(Actor(user_id=who.user_id, channel=Channel.api), venue_id, role)


@pytest.fixture
async def team(runtime: Runtime, venue: Venue) -> Team:  # noqa: F811 - the fixture imported above
    """The venue asks for editors' posts to be approved; an editor, an admin (Alice) and an owner (Bob)."""
    await set_approvals(runtime, venue.id, editor=True)
    editor = await factories.person(runtime, venue_id=venue.id, role=Role.editor, name="Eddie Editor")
    alice = await factories.person(runtime, venue_id=venue.id, role=Role.admin, name="Alice Admin")
    bob = await factories.person(runtime, venue_id=venue.id, role=Role.owner, name="Bob Owner")
    return Team(venue, editor, alice, bob)
