# ruff: noqa: F811 - the twins' fixtures are imported here and named as parameters
"""The week from plan to the provider, every hop real: a Facebook Page connected through the Meta twin's consent
screens, a weekly plan of two slots (01:30 on the Sunday the clocks change in Europe/London, and Saturday noon), the
venue asking for the plan's posts to be approved, `materialise-weekly` run from the job registry → the week's message
in the Telegram twin's staff group → Approve all pressed there (through the webhook) → the dispatcher and the real
Facebook provider at their instants → the Meta twin shows exactly one post per slot and date, with its text. A second
run makes nothing more and nothing is published twice. Both clock changes: in March 01:30 does not exist (02:00 BST is
taken), in October it happens twice (the first, BST, is taken). The Slack twin's chat mechanics are covered by
test_chat_approval.py; this file is about the provider end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.devtwins import twin_settings
from bot.telegram.sender import install_telegram_sender
from core.chat import delivery
from core.clock import FrozenClock
from core.ops import jobs
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Account, Connection, DeliveryStatus, Post, PostTarget, Provider, Role, WeeklyPost
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins, browser, network, twins  # noqa: F401
from tests.connections.helpers import connect
from tests.factories import eventually
from tests.publishing.conftest import Drain, drain  # noqa: F401 - one dispatcher tick, run here
from tests.telegram.conftest import (  # noqa: F401
    Chats,
    Served,
    TelegramTwin,
    buttons,
    chats,
    served,
    telegram,
    telegram_settings,
)

GROUP = -900
ADMIN = 101
Body = dict[str, Any]

# (the Tuesday the run happens, Saturday noon in UTC, the Sunday's 01:30 in UTC, what the gap/fold note says)
SPRING = (datetime(2027, 3, 23, 12, 0, tzinfo=UTC), datetime(2027, 3, 27, 12, 0, tzinfo=UTC),
          datetime(2027, 3, 28, 1, 0, tzinfo=UTC), "does not exist in Europe/London")  # fmt: skip
AUTUMN = (datetime(2027, 10, 26, 12, 0, tzinfo=UTC), datetime(2027, 10, 30, 11, 0, tzinfo=UTC),
          datetime(2027, 10, 31, 0, 30, tzinfo=UTC), "happens twice")  # fmt: skip


@pytest.fixture
def settings(database_url: str, tmp_path: Path, telegram: TelegramTwin, twins: Twins) -> Settings:
    """The app as the Telegram twin's bot, every provider pointed at the Meta and Google twins, no pacing."""
    return telegram_settings(
        database_url,
        tmp_path,
        telegram.url,
        cheers_connection_min_interval_seconds=0,
        **twin_settings(twins.meta_url, twins.google_url),
    )


async def _message_with(runtime: Runtime, chats: Chats, clock: FrozenClock, label: str) -> Body:
    """The newest message in the group offering `label` (the alert delivery run here, the clock past the pacing)."""

    async def posted() -> Body | None:
        await delivery.run(runtime)
        clock.advance(seconds=3)
        found = [m for m in await chats.twin.control.messages(GROUP) if label in [b["text"] for b in buttons(m)]]
        return found[-1] if found else None

    return await eventually(posted, what=f"a message offering {label!r} in the group")


async def _posts(runtime: Runtime, venue_id: int) -> list[Post]:
    async with runtime.db.session() as session:
        found = await session.execute(select(Post).where(Post.account_id == venue_id).order_by(Post.scheduled_at))
        return list(found.scalars().all())


async def _statuses(runtime: Runtime, post_id: int) -> list[DeliveryStatus]:
    async with runtime.db.session() as session:
        found = await session.execute(select(PostTarget.status).where(PostTarget.post_id == post_id))
        return list(found.scalars().all())


@pytest.mark.parametrize("season", [SPRING, AUTUMN], ids=["march", "october"])
async def test_the_week_approved_in_telegram_is_published_once_per_slot_and_date_at_the_meta_twin(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    twins: Twins,
    chats: Chats,
    drain: Drain,
    clock: FrozenClock,
    season: tuple[datetime, datetime, datetime, str],
) -> None:
    run_at, saturday_noon, sunday_night, said = season
    clock.advance(seconds=(run_at - clock.now()).total_seconds())  # the week before the clocks change
    install_telegram_sender(runtime)
    venue_id = await factories.venue(runtime, name="The Red Lion", timezone="Europe/London")
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Ada Admin")
    await connect(client, browser, admin, Provider.facebook.value)
    async with runtime.uow() as uow:
        pages = await uow.session.execute(select(Connection).where(Connection.account_id == venue_id))
        page = pages.scalars().first()
        assert page is not None and page.page_id is not None
        account = await uow.session.get(Account, venue_id)
        assert account is not None
        account.approve_weekly_posts = True
        page_id, connection_id = page.page_id, page.id
        await uow.commit()
    await chats.link(admin, ADMIN, name="Ada Admin")
    [here] = await chats.says("/alerts here weekly_materialised", ADMIN, group=GROUP)
    assert "alerts go to this" in here["text"], here
    slots = [
        await factories.weekly_slot(runtime, venue_id, [connection_id], name="Late bar", weekday=6,
                                    local_time="01:30", text_template="Late bar till 3, {date:%A %d %B}"),
        await factories.weekly_slot(runtime, venue_id, [connection_id], name="Saturday lunch", weekday=5,
                                    local_time="12:00", text_template="Saturday lunch, {date:%d %B}"),
    ]  # fmt: skip

    result = await jobs.run_job(runtime, "materialise-weekly", trigger="manual")

    assert result["made"] == 2, result
    made = await _posts(runtime, venue_id)
    assert [p.scheduled_at for p in made] == [saturday_noon, sunday_night], [p.scheduled_at for p in made]
    assert {p.approval for p in made} == {"pending"}
    week = await _message_with(runtime, chats, clock, "Approve all")
    assert "Late bar" in week["text"] and "waiting for approval" in week["text"], week["text"]
    clicked = await chats.twin.control.user_clicks(
        "Approve all", user_id=ADMIN, chat_id=GROUP, message_id=week["message_id"]
    )
    assert clicked["status"] == 200, clicked

    async def approved() -> bool | None:
        return True if [p.approval for p in await _posts(runtime, venue_id)] == ["approved"] * 2 else None

    await eventually(approved, what="both posts approved from the group")
    rerun = await jobs.run_job(runtime, "materialise-weekly", trigger="manual")
    assert rerun["made"] == 0 and rerun["notifications"] == 0, rerun
    for post in made:
        clock.advance(seconds=(post.scheduled_at - clock.now()).total_seconds() + 30)
        await drain()
        assert await _statuses(runtime, post.id) == [DeliveryStatus.published], post.text
    # A run after the week went out (its window now reaches the next Saturday) makes only dates not made yet; a
    # last tick publishes nothing twice (the new post waits for approval).
    await jobs.run_job(runtime, "materialise-weekly", trigger="manual")
    await drain()
    later = [p for p in await _posts(runtime, venue_id) if p.id not in {m.id for m in made}]
    assert all(p.scheduled_at > sunday_night and p.approval == "pending" for p in later), later

    shown = await twins.meta.visible_posts(page_id)
    assert sorted(p["message"] for p in shown) == sorted(p.text for p in made), shown
    assert {p.text for p in made} == {
        f"Late bar till 3, {sunday_night.strftime('%A %d %B')}",
        f"Saturday lunch, {saturday_noon.strftime('%d %B')}",
    }
    async with runtime.db.session() as session:
        per_slot_date = select(func.count()).select_from(WeeklyPost).group_by(WeeklyPost.slot_id, WeeklyPost.local_date)
        assert set((await session.execute(per_slot_date)).scalars().all()) == {1}
        rows = (await session.execute(select(WeeklyPost).where(WeeklyPost.account_id == venue_id))).scalars().all()
        assert {r.slot_id for r in rows} == set(slots)
        night = next(r for r in rows if r.post_id == made[1].id)
        assert night.note is not None and said in night.note, night.note
