"""The test-only shared clock offset (core.clock.OffsetClock): read from a file, honoured only under
CHEERS_ENV=test, added to the database's clock by `clock_now`, and followed by the provider adapters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from core.clock import OFFSET_FILE_VAR, FrozenClock, OffsetClock, SystemClock, system_clock
from core.publishing.clock import clock_now
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from providers.google.adapter import GoogleBusinessAdapter
from storage.models import DeliveryStatus, Provider
from storage.queries.deliveries import database_now
from tests.conftest import make_settings
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import deliveries, schedule

SLACK = timedelta(seconds=5)  # wall-clock reads around a call on a busy machine


@pytest.fixture
def offset_file(tmp_path: Path) -> Path:
    return tmp_path / "clock.offset"


@pytest.fixture
def clock(offset_file: Path) -> OffsetClock:
    """Replaces tests/conftest.py's FrozenClock: the engine runs on real time moved by the file."""
    return OffsetClock(offset_file)


def write(path: Path, text: str) -> None:
    """As Cluster.shift does: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def near(actual: datetime, expected: datetime) -> bool:
    return abs(actual - expected) <= SLACK


def test_no_file_or_an_empty_one_is_no_offset(offset_file: Path) -> None:
    clock = OffsetClock(offset_file)
    assert clock.offset() == timedelta() and near(clock.now(), datetime.now(UTC))
    offset_file.write_text("")
    assert clock.offset() == timedelta()


def test_the_file_is_read_again_whenever_it_changes(offset_file: Path) -> None:
    clock = OffsetClock(offset_file)
    write(offset_file, "7200\n")
    assert clock.offset() == timedelta(hours=2)
    assert near(clock.now(), datetime.now(UTC) + timedelta(hours=2))
    write(offset_file, "-90.5")
    assert clock.offset() == timedelta(seconds=-90.5)
    offset_file.write_text("60")  # rewritten in place, not replaced
    assert clock.offset() == timedelta(minutes=1)
    offset_file.unlink()
    assert clock.offset() == timedelta()


def test_an_unchanged_file_is_not_read_again(offset_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = OffsetClock(offset_file)
    write(offset_file, "30")
    assert clock.offset() == timedelta(seconds=30)
    reads: list[Path] = []
    real = Path.read_text

    def counting(self: Path, *args: object, **kwargs: object) -> str:
        reads.append(self)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counting)
    for _ in range(5):
        clock.now()
    assert reads == [], "the offset file was read again though it had not changed"


def test_a_file_that_is_not_seconds_is_refused_naming_it(offset_file: Path) -> None:
    offset_file.write_text("two hours")
    with pytest.raises(ValueError, match=r"clock\.offset"):
        OffsetClock(offset_file).now()


def test_the_system_clock_runs_on_real_time() -> None:
    assert SystemClock().offset() == timedelta()


def test_honoured_only_under_cheers_env_test(offset_file: Path) -> None:
    environ = {OFFSET_FILE_VAR: str(offset_file)}
    made = system_clock("test", environ)
    assert isinstance(made, OffsetClock) and made.path == offset_file
    assert type(system_clock("test", {})) is SystemClock
    with capture_logs() as logs:
        for env in ("dev", "prod", "prod"):
            assert type(system_clock(env, {OFFSET_FILE_VAR: str(offset_file) + ".outside"})) is SystemClock
    assert [e["event"] for e in logs] == ["clock_offset_ignored"], "want one warning, however often it is asked"


@pytest.mark.parametrize(("env", "offset_clock"), [("test", True), ("dev", False), ("prod", False)])
async def test_build_runtime_reads_the_variable_from_the_environment(
    tmp_path: Path, offset_file: Path, monkeypatch: pytest.MonkeyPatch, env: str, offset_clock: bool
) -> None:
    monkeypatch.setenv(OFFSET_FILE_VAR, str(offset_file))
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", tmp_path, cheers_env=env)
    runtime = build_runtime(settings)
    assert isinstance(runtime.clock, OffsetClock) is offset_clock, type(runtime.clock)
    frozen = FrozenClock()
    assert build_runtime(settings, clock=frozen).clock is frozen, "an injected clock wins"
    await runtime.close()


async def test_clock_now_is_the_database_clock_plus_the_offset(runtime: Runtime, offset_file: Path) -> None:
    write(offset_file, "3600")
    async with runtime.db.session() as session:
        before = await database_now(session)
        moved = await clock_now(runtime, session)
        after = await database_now(session)
    # PostgreSQL: now() is the transaction's start, so exactly an hour on; SQLite: the host clock, in between.
    assert before + timedelta(hours=1) <= moved <= after + timedelta(hours=1), (before, moved, after)


async def test_a_post_two_hours_ahead_goes_out_once_the_offset_reaches_it(
    runtime: Runtime, venue: Venue, drain: Drain, offset_file: Path
) -> None:
    when = (datetime.now(UTC) + timedelta(hours=2)).isoformat(timespec="seconds")
    saved = await schedule(runtime, venue.id, [venue.connection_id], when=when)
    write(offset_file, "3600")
    assert not (await drain()).claimed, "a post due in 2 h was claimed 1 h ahead"
    write(offset_file, str(2 * 3600 + 60))
    assert len((await drain()).claimed) == 1
    [target] = await deliveries(runtime, saved.post.id)
    assert target.status is DeliveryStatus.published, target.note
    moved = datetime.now(UTC) + timedelta(hours=2, minutes=1)
    assert target.published_at is not None and near(target.published_at, moved), target.published_at


async def test_adapters_judge_expiry_by_the_moved_clock(runtime: Runtime, offset_file: Path) -> None:
    write(offset_file, "7200")
    google = runtime.providers[Provider.google_business]
    assert isinstance(google, GoogleBusinessAdapter)
    assert near(google.now(), datetime.now(UTC) + timedelta(hours=2))
    assert near(runtime.provider_now(), datetime.now(UTC) + timedelta(hours=2))


async def test_a_frozen_clock_is_the_adapters_clock_too(settings: Settings) -> None:
    """One clock for everything a runtime builds: adapters judge token expiry by the injected clock, not the wall."""
    frozen = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))
    runtime = build_runtime(settings, clock=frozen)
    try:
        assert runtime.provider_now() == datetime(2030, 1, 1, tzinfo=UTC)
        frozen.advance(hours=3)
        assert runtime.provider_now() == datetime(2030, 1, 1, 3, tzinfo=UTC), "the adapters follow a moved clock"
    finally:
        await runtime.close()
