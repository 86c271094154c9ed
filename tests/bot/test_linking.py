"""Linking a chat account to a person: one-time codes from the API or the CLI, wrong tries counted and locked."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import select

from core.clock import FrozenClock
from core.ops.jobs import run_job
from core.runtime import Runtime
from core.settings import Settings
from storage.models import ChatIdentity, ChatLinkCode, Role
from tests import factories
from tests.bot.support import code_for, link, say, shown, turn
from tests.test_cli import acheers, as_json


async def _identity(runtime: Runtime, user: str) -> ChatIdentity | None:
    async with runtime.uow() as uow:
        query = select(ChatIdentity).where(ChatIdentity.chat_user_id == user)
        return (await uow.session.execute(query)).scalar_one_or_none()


async def test_a_code_from_the_api_links_the_chat_account_once_and_is_stored_only_hashed(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    sam = await factories.person(runtime, venue_id=venue, role=Role.viewer, name="Sam")
    r = await client.post("/api/chat/link-codes", headers=sam.headers)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert len(code) == 9 and code[4] == "-", f"a short grouped code like 4F7Q-92KD, got {code}"
    assert r.json()["expires_at"].startswith("2026-11-25T12:10"), "codes last 10 minutes"

    answer = await say(runtime, turn("U1"), f"link {code.lower()}")

    assert answer.title == "Linked: here you are Sam in CheersAI.", shown(answer)
    identity = await _identity(runtime, "U1")
    assert identity is not None and identity.user_id == sam.user_id
    async with runtime.uow() as uow:
        stored = (await uow.session.execute(select(ChatLinkCode))).scalars().all()
    assert [c.code_hash != code and len(c.code_hash) == 64 for c in stored] == [True], "the code is kept as sha256"
    assert stored[0].used_by_identity_id == identity.id
    actions = {e.action for e in await factories.audit_entries(runtime, "chat_link_code_created")}
    actions |= {e.action for e in await factories.audit_entries(runtime, "chat_identity_linked")}
    assert actions == {"chat_link_code_created", "chat_identity_linked"}, "issuing and using a code are audited"

    again = await say(runtime, turn("U2"), f"link {code}")
    assert again.title == "Not linked" and "already been used" in shown(again), shown(again)
    assert (await _identity(runtime, "U2")).user_id is None  # type: ignore[union-attr]


async def test_the_cli_prints_a_code_as_json_that_links(runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    sam = await factories.person(runtime, name="Sam")
    out = as_json(await acheers(settings, "--json", "chat", "link-code", "--user", str(sam.user_id), cwd=tmp_path))
    assert set(out) == {"code", "expires_at", "telegram_link"}, json.dumps(out)
    assert out["telegram_link"] is None  # no Telegram bot set up here: no t.me link

    answer = await say(runtime, turn("U1"), f"link {out['code']}")

    assert answer.title.startswith("Linked"), shown(answer)


async def test_five_wrong_codes_lock_the_chat_account_for_a_while_then_a_fresh_code_works(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sam = await factories.person(runtime, name="Sam")
    answers = [await say(runtime, turn("U1"), "link AAAA-BBBB") for _ in range(5)]

    assert "4 more wrong codes" in shown(answers[0]), shown(answers[0])
    assert "paused for 15 minutes" in shown(answers[4]), shown(answers[4])
    good = await code_for(runtime, sam)
    locked = await say(runtime, turn("U1"), f"link {good}")
    assert "linking is paused" in shown(locked) and (await _identity(runtime, "U1")).user_id is None, shown(locked)  # type: ignore[union-attr]
    assert len(await factories.audit_entries(runtime, "chat_link_locked")) == 1

    clock.advance(minutes=16)
    await link(runtime, sam, turn("U1"))


async def test_an_expired_code_is_refused(runtime: Runtime, clock: FrozenClock) -> None:
    sam = await factories.person(runtime, name="Sam")
    code = await code_for(runtime, sam)
    clock.advance(minutes=10, seconds=1)

    answer = await say(runtime, turn("U1"), f"link {code}")

    assert "expired" in shown(answer) and not answer.title.startswith("Linked"), shown(answer)


async def test_a_linked_chat_account_moves_to_another_person_only_with_that_persons_new_code(runtime: Runtime) -> None:
    sam, alex = await factories.person(runtime, name="Sam"), await factories.person(runtime, name="Alex")
    await link(runtime, sam, turn("U1"))

    await link(runtime, alex, turn("U1"))

    assert (await _identity(runtime, "U1")).user_id == alex.user_id  # type: ignore[union-attr]
    [entry] = [
        e for e in await factories.audit_entries(runtime, "chat_identity_linked") if e.actor_user_id == alex.user_id
    ]
    assert entry.details["previous_user_id"] == sam.user_id, "a re-link names who the chat account spoke for before"


async def test_an_unlinked_person_is_told_how_to_link_and_help_still_answers(runtime: Runtime) -> None:
    answer = await say(runtime, turn("U9"), "week")

    assert answer.private and "link CODE" in shown(answer), shown(answer)
    assert "/api/chat/link-codes" in shown(answer) and "cheers chat link-code" in shown(answer), shown(answer)
    assert (await say(runtime, turn("U9"), "retry 1")).title == answer.title, "every command gets the same answer"
    helped = await say(runtime, turn("U9"), "help")
    assert "schedule WHEN" in shown(helped) and "link CODE" in shown(helped), shown(helped)


async def test_asking_for_a_code_needs_a_signed_in_person(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/chat/link-codes")

    assert r.status_code == 401, r.text


async def test_housekeeping_deletes_link_codes_a_day_after_they_stop_working(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sam = await factories.person(runtime, name="Sam")
    await code_for(runtime, sam)
    clock.advance(hours=23)
    await run_job(runtime, "housekeeping", trigger="cron")
    assert len(await _codes(runtime)) == 1, "a code that expired less than a day ago is kept"

    clock.advance(hours=2)
    result = await run_job(runtime, "housekeeping", trigger="cron")

    assert await _codes(runtime) == [] and result["expired_credentials_removed"] == 1, result


async def _codes(runtime: Runtime) -> list[ChatLinkCode]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(ChatLinkCode))).scalars())
