"""Use-cases for venues, people and memberships (roles)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import Clock
from core.errors import Conflict, Invalid, NotFound, PermissionDenied
from storage.models import Account, Membership, Role, User
from storage.queries import accounts as accounts_q


def validate_timezone(name: str) -> str:
    """Accept only IANA zone names (`Europe/London`), with a message that says what to send."""
    if not name or ("/" not in name and name != "UTC"):
        raise Invalid(f"'{name}' is not an IANA timezone; use a name like Europe/London", field="timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(
            f"'{name}' is not a known IANA timezone; use a name like Europe/London", field="timezone"
        ) from exc
    return name


# Emoji subdivision flags (England, Scotland, Wales) are the one legitimate use of the invisible tag characters.
_FLAG_TAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0061-\U000e007a]{1,6}\U000e007f")
# Joiners shape emoji (chef = person + ZWJ + cooking) and several scripts; they cannot reorder or hide text.
_ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})


def forbidden_character(text: str) -> str | None:
    """The first control, text-direction or other invisible format character in `text` (as U+XXXX), if any."""
    for ch in _FLAG_TAG_SEQUENCE.sub("", text):
        if ch in _ALLOWED_FORMAT_CHARACTERS:
            continue
        # Cc: NUL, newlines, escapes; Cf: bidi overrides and isolates (U+202A to U+202E, U+2066 to U+2069), zero-width
        # spaces, tags; Zl/Zp: line and paragraph separators; Cs: lone surrogates the databases cannot store.
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            return f"U+{ord(ch):04X}"
    return None


def _validate_name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid(f"{what} name must be 1–200 characters", field="name")
    found = forbidden_character(name)
    if found is not None:
        # A bidi override makes a name read differently from what it is (in the audit log, in a chat message).
        raise Invalid(
            f"names can't contain control or text-direction characters: the {what} name contains {found}",
            remedy="type the name again without invisible characters",
            field="name",
        )
    return name


def validate_email(email: str) -> str:
    """A plausible e-mail address, lower-cased: one '@' with text either side, no spaces or invisible characters."""
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or len(email) > 320
        or any(ch.isspace() for ch in email)
        or forbidden_character(email) is not None
    ):
        raise Invalid(
            f"{email!r} is not an e-mail address", remedy="send an address like sam@example.com", field="email"
        )
    return email


async def create_account(
    session: AsyncSession, clock: Clock, actor: Actor, *, name: str, timezone: str, owner_user_id: int | None
) -> Account:
    """Create a venue; `owner_user_id`, when given, becomes its first owner."""
    account = await accounts_q.add_account(
        session, name=_validate_name(name, "venue"), timezone=validate_timezone(timezone)
    )
    await audit.record(
        session,
        clock,
        actor,
        "account_created",
        account_id=account.id,
        subject_type="account",
        subject_id=account.id,
        name=account.name,
        timezone=account.timezone,
    )
    if owner_user_id is not None:
        await accounts_q.add_membership(
            session, account_id=account.id, user_id=owner_user_id, role=Role.owner, at=clock.now()
        )
        await audit.record(
            session,
            clock,
            actor,
            "member_added",
            account_id=account.id,
            subject_type="user",
            subject_id=owner_user_id,
            role=Role.owner.value,
        )
    return account


async def update_account(
    session: AsyncSession,
    clock: Clock,
    access: VenueAccess,
    *,
    name: str | None,
    timezone: str | None,
    approve_editor_posts: bool | None = None,
    approve_weekly_posts: bool | None = None,
) -> Account:
    """Rename a venue, change its timezone, or its approval settings (docs/weekly.md#approvals); audited."""
    account = await accounts_q.get_account(session, access.account_id)
    if account is None:
        raise NotFound("venue not found")
    changes: dict[str, list[str]] = {}
    if name is not None and name != account.name:
        changes["name"] = [account.name, _validate_name(name, "venue")]
        account.name = changes["name"][1]
    if timezone is not None and timezone != account.timezone:
        changes["timezone"] = [account.timezone, validate_timezone(timezone)]
        account.timezone = timezone
    approvals: dict[str, list[bool]] = {}
    if approve_editor_posts is not None and approve_editor_posts != account.approve_editor_posts:
        approvals["approve_editor_posts"] = [account.approve_editor_posts, approve_editor_posts]
        account.approve_editor_posts = approve_editor_posts
    if approve_weekly_posts is not None and approve_weekly_posts != account.approve_weekly_posts:
        approvals["approve_weekly_posts"] = [account.approve_weekly_posts, approve_weekly_posts]
        account.approve_weekly_posts = approve_weekly_posts
    if approvals:
        # Changed by an admin or owner only (the route asks for admin): editors cannot lift their own check.
        await session.flush()
        await access.record(
            session, clock, "account_approvals_changed", subject_type="account", subject_id=account.id,
            changes=approvals,
        )  # fmt: skip
    if changes:
        await session.flush()
        await access.record(
            session, clock, "account_updated", subject_type="account", subject_id=account.id, changes=changes
        )
    return account


async def create_user(
    session: AsyncSession, clock: Clock, actor: Actor, *, name: str, email: str | None = None, is_staff: bool = False
) -> User:
    if email is not None:
        email = validate_email(email)
        if await accounts_q.get_user_by_email(session, email) is not None:
            raise Conflict(f"a person with e-mail {email} already exists", field="email")
    user = await accounts_q.add_user(session, name=_validate_name(name, "person's"), email=email, is_staff=is_staff)
    await audit.record(
        session, clock, actor, "user_created", subject_type="user", subject_id=user.id, is_staff=is_staff
    )
    return user


def _an(role: Role) -> str:
    return f"an {role.value}" if role.value[0] in "aeiou" else f"a {role.value}"


# What each refusal says: the action the person tried, so an admin removing an owner is not told about "granting".
_OWNER_ONLY: dict[str, Callable[[Role], str]] = {
    "grant": lambda role: f"only an owner can grant the {role.value} role",
    "invite": lambda role: f"only an owner can invite someone as {_an(role)}",
    "revoke_invitation": lambda role: f"only an owner can withdraw an invitation to join as {_an(role)}",
    "change": lambda role: f"only an owner can change {_an(role)}'s role",
    "remove": lambda role: f"only an owner can remove {_an(role)}",
}


ManageAction = Literal["grant", "invite", "revoke_invitation", "change", "remove"]


def check_can_manage(access: VenueAccess, role: Role, action: ManageAction) -> None:
    """Admins manage editors and viewers; only owners grant, invite, change or remove admins and owners."""
    if role.at_least(Role.admin) and not access.role.at_least(Role.owner):
        raise PermissionDenied(_OWNER_ONLY[action](role), remedy="ask an owner of the venue to do it")


async def add_member(
    session: AsyncSession, clock: Clock, access: VenueAccess, *, user_id: int, role: Role
) -> Membership:
    """Give a person a role in the venue directly: only the operator's `cheers users create` (trusted, local).

    Everyone else joins by accepting an invitation (`core.access.invitations`)."""
    check_can_manage(access, role, "grant")
    if await accounts_q.get_user(session, user_id) is None:
        raise NotFound(f"person {user_id} not found")
    if await accounts_q.get_membership(session, access.account_id, user_id) is not None:
        raise Conflict(f"person {user_id} is already a member of this venue; change their role instead")
    membership = await accounts_q.add_membership(
        session, account_id=access.account_id, user_id=user_id, role=role, at=clock.now()
    )
    await access.record(session, clock, "member_added", subject_type="user", subject_id=user_id, role=role.value)
    return membership


async def change_role(
    session: AsyncSession, clock: Clock, access: VenueAccess, *, user_id: int, role: Role
) -> Membership:
    """Change a member's role in this venue only; it applies at their next request (roles are read per request),
    and their sessions and tokens keep working in their other venues."""
    membership = await accounts_q.get_membership(session, access.account_id, user_id)
    if membership is None:
        raise NotFound(f"person {user_id} is not a member of this venue")
    if membership.role == role:
        return membership
    check_can_manage(access, membership.role, "change")
    check_can_manage(access, role, "grant")
    if membership.role is Role.owner and await accounts_q.count_owners(session, access.account_id) <= 1:
        raise Conflict("a venue needs at least one owner; make someone else owner first")
    before = membership.role
    membership.role = role
    await session.flush()
    await access.record(
        session, clock, "role_changed", subject_type="user", subject_id=user_id, before=before.value, after=role.value
    )
    return membership


async def remove_member(session: AsyncSession, clock: Clock, access: VenueAccess, *, user_id: int) -> None:
    """Take a person out of this venue; access here ends at their next request, their other venues are untouched."""
    membership = await accounts_q.get_membership(session, access.account_id, user_id)
    if membership is None:
        raise NotFound(f"person {user_id} is not a member of this venue")
    check_can_manage(access, membership.role, "remove")
    if membership.role is Role.owner and await accounts_q.count_owners(session, access.account_id) <= 1:
        raise Conflict("a venue needs at least one owner; make someone else owner first")
    role = membership.role
    await accounts_q.delete_membership(session, membership)
    await access.record(session, clock, "member_removed", subject_type="user", subject_id=user_id, role=role.value)


@dataclass(frozen=True)
class VenueSummary:
    account_id: int
    name: str
    timezone: str
    role: Role


async def venues_of(session: AsyncSession, user_id: int) -> list[VenueSummary]:
    return [
        VenueSummary(account_id=a.id, name=a.name, timezone=a.timezone, role=m.role)
        for m, a in await accounts_q.memberships_of_user(session, user_id)
    ]


async def get_account(session: AsyncSession, access: VenueAccess) -> Account:
    account = await accounts_q.get_account(session, access.account_id)
    if account is None:
        raise NotFound("venue not found")
    return account


async def members(session: AsyncSession, access: VenueAccess) -> list[tuple[Membership, User]]:
    return list(await accounts_q.members_of_account(session, access.account_id))


async def require_member(session: AsyncSession, access: VenueAccess, user_id: int) -> Membership:
    """The membership of `user_id` in the venue, or NotFound (never another venue's people)."""
    membership = await accounts_q.get_membership(session, access.account_id, user_id)
    if membership is None:
        raise NotFound(f"person {user_id} is not a member of this venue")
    return membership


def _can_manage(issuer: Role, target: Role) -> bool:
    return issuer is Role.owner or (issuer.at_least(Role.admin) and not target.at_least(Role.admin))


async def require_login_link_target(session: AsyncSession, access: VenueAccess, user_id: int) -> Membership:
    """Like `require_member`, for issuing a login link: the link is handed to the issuer and signs in
    as that person everywhere, so the issuer must be able to manage them in every venue they belong to."""
    membership = await require_member(session, access, user_id)
    actor = access.actor
    if actor.is_staff or user_id == actor.user_id:
        return membership
    user = await accounts_q.get_user(session, user_id)
    if user is not None and user.is_staff:
        raise PermissionDenied("only staff can issue a login link for a staff member")
    for theirs, _ in await accounts_q.memberships_of_user(session, user_id):
        mine = await accounts_q.get_membership(session, theirs.account_id, actor.user_id) if actor.user_id else None
        if mine is None or not _can_manage(mine.role, theirs.role):
            raise PermissionDenied(
                f"a login link signs in as person {user_id}, who has a role you cannot manage "
                "(here or in another venue)",
                remedy="ask an owner of their venues, or have them request their own link",
            )
    return membership


async def account_exists(session: AsyncSession, account_id: int) -> bool:
    return await accounts_q.get_account(session, account_id) is not None


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await accounts_q.get_user(session, user_id)
    if user is None:
        raise NotFound(f"person {user_id} not found")
    return user


async def first_owner(session: AsyncSession, account_id: int) -> int:
    """The venue's longest-standing owner (whom an operator's consent link is for by default)."""
    owners = [m for m, _ in await accounts_q.members_of_account(session, account_id) if m.role is Role.owner]
    if not owners:
        raise NotFound(f"venue {account_id} has no owner; pass --user")
    return min(owners, key=lambda m: m.id).user_id
