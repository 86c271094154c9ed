"""core.faults on its own (part of the ordinary run: milliseconds, no services): the spec, counts, actions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import faults
from tests.factories import REPO_ROOT


def test_spec_parses_actions_seconds_and_counts() -> None:
    parsed = faults.parse(" before_provider_call=kill*1, after_claim=hang:2.5 ,during_image_work=raise")
    assert parsed == {
        "before_provider_call": faults.Fault("before_provider_call", "kill", faults.DEFAULT_HANG_SECONDS, 1),
        "after_claim": faults.Fault("after_claim", "hang", 2.5, None),
        "during_image_work": faults.Fault("during_image_work", "raise", faults.DEFAULT_HANG_SECONDS, None),
    }
    assert faults.parse("") == {}


@pytest.mark.parametrize("spec", ["before_call=kill", "after_claim=explode", "after_claim"])
def test_unknown_points_and_actions_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="bad fault"):
        faults.parse(spec)


async def test_inert_in_this_process() -> None:
    # The ordinary test run sets no CHEERS_FAULTS*: every point is a no-op whatever the spec would say.
    assert not faults.armed()
    await faults.fault_point("before_provider_call")


def _child(spec_file: Path, state: Path, env_name: str, point: str) -> subprocess.CompletedProcess[str]:
    code = f"import asyncio; from core.faults import fault_point; asyncio.run(fault_point({point!r})); print('passed')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHEERS_")}
    env.update(CHEERS_ENV=env_name, CHEERS_FAULTS_FILE=str(spec_file), CHEERS_FAULTS_STATE=str(state))
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_a_child_is_killed_once_across_processes_and_never_in_production(tmp_path: Path) -> None:
    spec, state = tmp_path / "faults.spec", tmp_path / "state"
    state.mkdir()
    spec.write_text("before_provider_call=kill*1")
    assert _child(spec, state, "prod", "before_provider_call").stdout.strip() == "passed", "armed in production"
    first = _child(spec, state, "test", "before_provider_call")
    assert first.returncode == -9 and not first.stdout, (first.returncode, first.stdout, first.stderr)
    [marker] = state.iterdir()
    assert marker.name == "before_provider_call.1" and len(marker.read_text().split()) == 2
    assert _child(spec, state, "test", "before_provider_call").stdout.strip() == "passed", "the count is spent"
    assert _child(spec, state, "test", "after_claim").stdout.strip() == "passed", "another point is not armed"


def test_raise_is_an_exception_the_caller_sees(tmp_path: Path) -> None:
    spec, state = tmp_path / "faults.spec", tmp_path / "state"
    state.mkdir()
    spec.write_text("after_provider_answer=raise")
    result = _child(spec, state, "test", "after_provider_answer")
    assert result.returncode == 1 and "FaultInjected: fault injected at after_provider_answer" in result.stderr


def test_a_targeted_point_fires_only_for_its_target_and_also_in_dev(tmp_path: Path) -> None:
    spec, state = tmp_path / "faults.spec", tmp_path / "state"
    state.mkdir()
    spec.write_text("job_run@housekeeping=raise")
    assert faults.parse("job_run@housekeeping=raise*2") == {
        "job_run@housekeeping": faults.Fault("job_run", "raise", faults.DEFAULT_HANG_SECONDS, 2, "housekeeping")
    }
    code = (
        "import asyncio; from core.faults import fault_point; asyncio.run(fault_point('job_run', {!r}))"
        "; print('passed')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHEERS_")}
    env.update(CHEERS_ENV="dev", CHEERS_FAULTS_FILE=str(spec), PYTHONPATH=str(REPO_ROOT))
    other = subprocess.run([sys.executable, "-c", code.format("heartbeat")], env=env, capture_output=True, text=True)
    assert other.stdout.strip() == "passed", f"another job failed too: {other.stderr}"
    hit = subprocess.run([sys.executable, "-c", code.format("housekeeping")], env=env, capture_output=True, text=True)
    assert "FaultInjected: fault injected at job_run@housekeeping" in hit.stderr, hit.stderr
