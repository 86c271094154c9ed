"""The CLI's unit of work and operator access: a command's core call commits whole or leaves nothing behind,
and the operator acting in a venue is on the audit record like any other actor."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.cli_support import as_operator, explain, in_uow
from core.access import accounts
from core.access.policy import OPERATOR, VenueAccess, operator_access
from core.errors import Conflict, Invalid, NotFound
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Account, Role
from storage.uow import UnitOfWork
from tests import factories
from tests.factories import audit_entries
from tests.test_cli import acheers, as_json


async def _venues(runtime: Runtime) -> int:
    async with runtime.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Account))).scalar_one())


async def test_a_core_call_that_returns_is_committed_and_only_then_wakes_its_tasks(runtime: Runtime) -> None:
    woken: list[int] = []

    async def call(rt: Runtime, uow: UnitOfWork) -> int:
        account = await accounts.create_account(
            uow.session, rt.clock, OPERATOR, name="The Crown", timezone="Europe/London", owner_user_id=None
        )

        async def wake() -> None:
            woken.append(account.id)

        uow.after_commit(wake)
        return account.id

    account_id = await in_uow(runtime, call)
    async with runtime.db.session() as session:
        assert await session.get(Account, account_id) is not None, (
            "the venue should be committed, seen by a new session"
        )
    assert woken == [account_id], f"the after-commit hook should run once, after the commit: {woken}"
    [entry] = await audit_entries(runtime, "account_created")
    assert entry.channel.value == "cli", vars(entry)


async def test_a_core_call_that_raises_is_rolled_back_and_writes_nothing(runtime: Runtime) -> None:
    woken: list[str] = []

    async def call(rt: Runtime, uow: UnitOfWork) -> None:
        await accounts.create_account(
            uow.session, rt.clock, OPERATOR, name="The Crown", timezone="Europe/London", owner_user_id=None
        )

        async def wake() -> None:
            woken.append("woken")

        uow.after_commit(wake)
        # The first venue is flushed by now; the second is refused by the core rules.
        await accounts.create_account(
            uow.session, rt.clock, OPERATOR, name="The Swan", timezone="Mars/Olympus_Mons", owner_user_id=None
        )

    with pytest.raises(Invalid, match="not a known IANA timezone"):
        await in_uow(runtime, call)
    assert await _venues(runtime) == 0, "the venue flushed before the error must be rolled back"
    assert await audit_entries(runtime, "account_created") == [], "its audit entry must be rolled back too"
    assert woken == [], "a rolled-back unit of work must not wake any task"


async def test_operator_access_is_audited_as_staff_access_with_the_command_as_purpose(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)

    async def call(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> VenueAccess:
        return access

    access = await as_operator(runtime, venue, "cheers connections list", call)
    assert (access.account_id, access.role, access.staff_override) == (venue, Role.owner, True), access
    [entry] = await audit_entries(runtime, "staff_access")
    seen = (entry.account_id, entry.actor_user_id, entry.channel.value, entry.staff_override, entry.details)
    assert seen == (venue, None, "cli", True, {"purpose": "cheers connections list"}), vars(entry)


async def test_operator_access_to_an_unknown_venue_is_refused_and_not_recorded(runtime: Runtime) -> None:
    async def call(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> None:
        raise AssertionError("the call must not run without access to the venue")

    with pytest.raises(NotFound, match="venue 4242 not found"):
        await as_operator(runtime, 4242, "cheers connections list", call)
    assert await audit_entries(runtime, "staff_access") == [], "a refused access leaves no audit entry"


async def test_operator_acting_for_a_person_is_on_record_as_the_operator(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)

    async def call(rt: Runtime, uow: UnitOfWork) -> VenueAccess:
        return await operator_access(uow.session, rt.clock, venue, purpose="connect", on_behalf_of=owner.user_id)

    access = await in_uow(runtime, call)
    assert (access.actor.user_id, access.actor.channel.value) == (owner.user_id, "cli"), access
    [entry] = await audit_entries(runtime, "staff_access")
    assert entry.actor_user_id is None, "the access itself is the operator's, not the person's"
    assert entry.details == {"purpose": "connect", "on_behalf_of": owner.user_id}, entry.details


async def test_cheers_in_a_venue_runs_as_the_audited_operator(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    venue = await factories.venue(runtime)
    listed = as_json(await acheers(settings, "--json", "connections", "list", "--account", str(venue), cwd=tmp_path))
    assert listed == {"connections": []}, listed
    [entry] = await audit_entries(runtime, "staff_access")
    seen = (entry.account_id, entry.actor_user_id, entry.channel.value, entry.staff_override, entry.details)
    assert seen == (venue, None, "cli", True, {"purpose": "cheers connections list"}), vars(entry)


def test_a_refusal_says_what_is_wrong_and_what_to_do_on_one_line() -> None:
    refused = Conflict("already live on Facebook", remedy="post a correction instead")
    assert explain(refused) == "already live on Facebook — post a correction instead"
    assert explain(NotFound("venue 4242 not found")) == "venue 4242 not found", "no dash without a remedy"
