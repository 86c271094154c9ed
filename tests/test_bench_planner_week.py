"""bench/planner_week.py can't rot: its world (a venue's week of posts to three Pages, made through core) and its
measurement (the owner signed in through a login link, the week page fetched through the ASGI app, every card
checked) run in-process with six posts and two requests.

No timing is asserted: the figures are the benchmark's to report (`make bench`), not the suite's to judge."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "planner_week.py"


def _bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH.parent))  # it imports its neighbour _publish_infra, as when run as a script
    spec = importlib.util.spec_from_file_location("bench_planner_week", BENCH)
    assert spec is not None and spec.loader is not None, f"cannot load {BENCH}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_week_bench_builds_its_week_and_measures_the_page_with_every_card(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench(monkeypatch)
    # The server's heap freeze would freeze the test process's heap for the rest of the run.
    monkeypatch.setattr(bench, "settle_heap", lambda: None)
    target = tmp_path / "bench.db"
    shutil.copy(sqlite_template, target)
    row = await bench.measure(f"sqlite+aiosqlite:///{target}", tmp_path, posts=6, runs=2, warm_up=0)
    assert set(row) == {"p50", "p95", "p99", "max", "cpu", "built"}, row
    assert 0 < row["p50"] <= row["p95"] <= row["p99"] <= row["max"], f"percentiles out of order: {row}"
