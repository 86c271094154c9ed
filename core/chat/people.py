"""Who is typing in chat and for which venue: the chat turn, its linked person, and venue access for it.

The person is the CheersAI user the chat identity is linked to; every action is authorised as them through
`core.access.policy.authorize`, never because they are in a channel. Venue context (docs/chat.md): a channel
bound to a venue acts for it; otherwise (and in direct messages) the person's only venue, or the one they chose
with `venue NAME`. An action on an object (a delivery, a post, a connection) is authorised against that object's
venue, and an object in a venue the person is not in is "not found", as in the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.audit import Actor
from core.access.policy import VenueAccess, authorize
from core.clock import Clock
from core.errors import Invalid, NotFound
from storage.models import Channel, ChatIdentity, ChatPlatform, Role
from storage.queries import accounts as accounts_q
from storage.queries import chat as chat_q


@dataclass(frozen=True)
class ChatTurn:
    """One thing typed or clicked: on which platform and workspace, by which chat user, in which chat."""

    platform: ChatPlatform
    workspace_id: str  # Slack team id; Telegram: the bot's own id (one "workspace" per bot)
    chat_user_id: str
    display_name: str | None
    chat_id: str
    is_direct_message: bool

    @property
    def channel(self) -> Channel:
        """The audit channel actions from this turn are recorded under."""
        return Channel(self.platform.value)

    @property
    def own_chat_id(self) -> str:
        """Where the person's own alerts and settings live: their user id, which both platforms accept as a DM."""
        return self.chat_user_id


@dataclass(frozen=True)
class ChatPerson:
    """The chat identity behind a turn and the person it is linked to (user_id None: not linked yet)."""

    identity_id: int | None
    user_id: int | None
    name: str | None
    is_staff: bool
    actor: Actor
    current_account_id: int | None

    @property
    def linked(self) -> bool:
        return self.user_id is not None


@dataclass(frozen=True)
class VenueOption:
    account_id: int
    name: str
    role: Role


@dataclass(frozen=True)
class VenueContext:
    """The venue a turn acts for, with the person's access to it."""

    access: VenueAccess
    name: str
    timezone: str


class VenueUnclear(Invalid):
    """The person belongs to several venues and this chat is not bound to one: they choose with `venue NAME`."""

    def __init__(self, message: str, *, options: list[VenueOption], remedy: str) -> None:
        super().__init__(message, remedy=remedy)
        self.options = options


async def find_person(session: AsyncSession, turn: ChatTurn) -> ChatPerson:
    """The linked person behind `turn` (read only: an unknown chat user is simply not linked)."""
    identity = await chat_q.get_identity(session, turn.platform, turn.workspace_id, turn.chat_user_id)
    user = await accounts_q.get_user(session, identity.user_id) if identity and identity.user_id else None
    return ChatPerson(
        identity_id=identity.id if identity else None,
        user_id=user.id if user else None,
        name=user.name if user else None,
        is_staff=bool(user and user.is_staff),
        actor=Actor(user_id=user.id if user else None, channel=turn.channel, is_staff=bool(user and user.is_staff)),
        current_account_id=identity.current_account_id if identity else None,
    )


async def venues_of(session: AsyncSession, person: ChatPerson) -> list[VenueOption]:
    """The person's venues, in the order they joined them."""
    if person.user_id is None:
        return []
    return [
        VenueOption(account_id=a.id, name=a.name, role=m.role)
        for m, a in await accounts_q.memberships_of_user(session, person.user_id)
    ]


async def venue_for_turn(
    session: AsyncSession, clock: Clock, person: ChatPerson, turn: ChatTurn, minimum: Role, *, purpose: str
) -> VenueContext:
    """The venue this turn acts for, authorised for `minimum`; VenueUnclear when the person must choose."""
    if not turn.is_direct_message:
        bound = await chat_q.destinations_of_chat(session, turn.platform, turn.workspace_id, turn.chat_id)
        if len(bound) == 1:
            return await _context(session, clock, person, bound[0].account_id, minimum, purpose, bound_chat=True)
    venues = await venues_of(session, person)
    chosen = next((v for v in venues if v.account_id == person.current_account_id), None)
    if chosen is None and len(venues) == 1:
        chosen = venues[0]
    if chosen is None and not venues:
        raise NotFound(
            "you are not a member of any venue yet",
            remedy="ask an owner or admin of your venue to add you",
        )
    if chosen is None:
        raise VenueUnclear(
            "you are in several venues; say which one this is about",
            options=venues,
            remedy=f"type `venue NAME`, for example `venue {venues[0].name}`",
        )
    return await _context(session, clock, person, chosen.account_id, minimum, purpose, bound_chat=False)


async def _context(
    session: AsyncSession,
    clock: Clock,
    person: ChatPerson,
    account_id: int,
    minimum: Role,
    purpose: str,
    *,
    bound_chat: bool,
) -> VenueContext:
    try:
        access = await authorize(session, clock, person.actor, account_id, minimum, purpose=purpose)
    except NotFound:
        if bound_chat:
            raise NotFound(
                "this chat is set up for a venue you are not a member of",
                remedy="ask one of that venue's owners or admins to add you, or talk to me privately",
            ) from None
        raise
    account = await accounts_q.get_account(session, account_id)
    assert account is not None  # authorize found it
    return VenueContext(access=access, name=account.name, timezone=account.timezone)


async def choose_venue(session: AsyncSession, person: ChatPerson, name: str) -> VenueOption:
    """Remember the venue named `name` (case-insensitive, among the person's own venues) for their chat identity."""
    venues = await venues_of(session, person)
    wanted = name.strip().casefold()
    matches = [v for v in venues if v.name.casefold() == wanted]
    if not matches:
        matches = [v for v in venues if wanted in v.name.casefold()]
    if len(matches) != 1:
        found = "matches several of your venues" if matches else "is not one of your venues"
        raise VenueUnclear(
            f"'{name.strip()}' {found}",
            options=matches or venues,
            remedy="type `venue` and the venue's full name" if venues else "ask an owner or admin to add you to it",
        )
    assert person.identity_id is not None
    identity = await session.get(ChatIdentity, person.identity_id)
    assert identity is not None
    identity.current_account_id = matches[0].account_id
    await session.flush()
    return matches[0]


async def access_for_target(
    session: AsyncSession, clock: Clock, person: ChatPerson, target_id: int, minimum: Role, *, purpose: str
) -> VenueAccess:
    """Access to the venue delivery `target_id` belongs to; NotFound when there is none or it is not theirs."""
    account_id = await chat_q.account_of_target(session, target_id)
    return await _object_access(session, clock, person, account_id, minimum, purpose, f"delivery {target_id}")


async def access_for_post(
    session: AsyncSession, clock: Clock, person: ChatPerson, post_id: int, minimum: Role, *, purpose: str
) -> VenueAccess:
    account_id = await chat_q.account_of_post(session, post_id)
    return await _object_access(session, clock, person, account_id, minimum, purpose, f"post {post_id}")


async def access_for_connection(
    session: AsyncSession, clock: Clock, person: ChatPerson, connection_id: int, minimum: Role, *, purpose: str
) -> VenueAccess:
    account_id = await chat_q.account_of_connection(session, connection_id)
    return await _object_access(session, clock, person, account_id, minimum, purpose, f"connection {connection_id}")


async def _object_access(
    session: AsyncSession,
    clock: Clock,
    person: ChatPerson,
    account_id: int | None,
    minimum: Role,
    purpose: str,
    what: str,
) -> VenueAccess:
    # The same words whether the object is missing or in someone else's venue: ids leak nothing.
    missing = NotFound(f"{what} not found", remedy="check the number; `week` lists this week's posts")
    if account_id is None:
        raise missing
    try:
        return await authorize(session, clock, person.actor, account_id, minimum, purpose=purpose)
    except NotFound:
        raise missing from None
