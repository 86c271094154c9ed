"""Small factories that build data through the same core use-cases the product uses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from core import accounts, auth
from core.access import VenueAccess
from core.audit import Actor
from core.runtime import Runtime
from storage.models import Channel, Role

_seq = itertools.count(1)
SYSTEM = Actor(user_id=None, channel=Channel.cli)


@dataclass
class Person:
    user_id: int
    token: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def venue(runtime: Runtime, *, name: str | None = None, timezone: str = "Europe/London") -> int:
    async with runtime.uow() as uow:
        account = await accounts.create_account(
            uow.session, runtime.clock, SYSTEM, name=name or f"Venue {next(_seq)}", timezone=timezone,
            owner_user_id=None,
        )
        await uow.commit()
        return account.id


async def person(
    runtime: Runtime,
    *,
    venue_id: int | None = None,
    role: Role = Role.editor,
    staff: bool = False,
    name: str | None = None,
    email: str | None = None,
) -> Person:
    """A person (optionally a member of `venue_id` with `role`) holding a fresh API token."""
    n = next(_seq)
    async with runtime.uow() as uow:
        user = await accounts.create_user(
            uow.session, runtime.clock, SYSTEM, name=name or f"Person {n}", email=email, is_staff=staff
        )
        if venue_id is not None:
            await accounts.add_member(
                uow.session, runtime.clock, VenueAccess(SYSTEM, venue_id, Role.owner), user_id=user.id, role=role
            )
        _, raw = await auth.create_api_token(uow.session, runtime.clock, SYSTEM, user_id=user.id, name="test")
        await uow.commit()
        return Person(user_id=user.id, token=raw, name=user.name)


async def join(runtime: Runtime, who: Person, venue_id: int, role: Role) -> None:
    async with runtime.uow() as uow:
        await accounts.add_member(
            uow.session, runtime.clock, VenueAccess(SYSTEM, venue_id, Role.owner), user_id=who.user_id, role=role
        )
        await uow.commit()
