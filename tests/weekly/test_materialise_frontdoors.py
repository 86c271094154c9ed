"""materialise-weekly from the front doors that run jobs: staff in chat (`jobs run materialise-weekly`) and the
operator's `cheers jobs run materialise-weekly`; a second run makes nothing more."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from core.clock import FrozenClock
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Post, WeeklySlot
from tests import factories
from tests.bot.support import link, say, shown, turn
from tests.test_cli import acheers


async def _venue_with_a_slot(runtime: Runtime) -> int:
    venue_id = await factories.venue(runtime, name="The Red Lion")
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    async with runtime.uow() as uow:
        slot = WeeklySlot(
            account_id=venue_id, name="Quiz night", weekday=1, local_time="20:00", text_template="Quiz {date:%A}",
            media_asset_ids=[], connection_ids=[connection_id], captions={}, paused=False, version=1,
        )  # fmt: skip
        uow.session.add(slot)
        await uow.commit()
    return venue_id


async def _posts(runtime: Runtime, venue_id: int) -> int:
    async with runtime.db.session() as session:
        return int((await session.execute(select(func.count()).where(Post.account_id == venue_id))).scalar_one())


async def test_staff_run_it_from_chat(runtime: Runtime, clock: FrozenClock) -> None:
    clock.advance(seconds=(datetime(2027, 1, 4, 9, 0, tzinfo=UTC) - clock.now()).total_seconds())
    venue_id = await _venue_with_a_slot(runtime)
    staff = await factories.person(runtime, staff=True)
    await link(runtime, staff, turn("U-staff"))

    ran = await say(runtime, turn("U-staff"), "jobs run materialise-weekly")
    again = await say(runtime, turn("U-staff"), "jobs run materialise-weekly")

    assert ran.title == "Ran materialise-weekly", shown(ran)
    assert again.title == "Ran materialise-weekly", shown(again)
    assert await _posts(runtime, venue_id) == 1
    runs = await factories.job_runs(runtime, "materialise-weekly")
    assert sorted(r.result["made"] for r in runs) == [0, 1]


async def test_the_operator_runs_it_with_the_cli(
    runtime: Runtime, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    venue_id = await _venue_with_a_slot(runtime)  # the CLI follows the test's clock (a Wednesday in November)

    first = await acheers(settings, "--json", "jobs", "run", "materialise-weekly", cwd=tmp_path)
    second = await acheers(settings, "--json", "jobs", "run", "materialise-weekly", cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    made = [json.loads(r.stdout) for r in (first, second)]
    assert await _posts(runtime, venue_id) == 1, made
    assert [m["result"]["made"] for m in made] == [1, 0]
    assert [m["result"]["notifications"] for m in made] == [1, 0]
