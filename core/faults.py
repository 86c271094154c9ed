"""Fault points: named places in the engine where a chaos test can kill, stop, hang or fail this process.

Inert unless the process started with CHEERS_ENV=test and a spec in CHEERS_FAULTS (fixed for the life of the
process) or CHEERS_FAULTS_FILE (a file re-read at every point, so a test can arm and disarm a running worker).
The check is made once, at import: in every other process `fault_point` returns at once.

Spec: comma-separated `point=action`, each action optionally `:seconds` (hang) and `*count`, e.g.
`before_provider_call=kill*1, after_claim=hang:30`. Actions: `kill` (SIGKILL ourselves: no cleanup, as a
crash or the OOM killer), `term` (SIGTERM ourselves), `hang` (sleep, 3600 s unless given), `raise`
(FaultInjected). With CHEERS_FAULTS_STATE naming a folder, `*count` is shared by every process using that
folder and each firing leaves a file `<point>.<n>` there holding "pid time" (when and where it fired).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

POINTS = frozenset(
    {"after_claim", "before_provider_call", "after_provider_answer", "during_image_work", "during_weekly_materialise"}
)
ACTIONS = frozenset({"kill", "term", "hang", "raise"})
DEFAULT_HANG_SECONDS = 3600.0


class FaultInjected(RuntimeError):
    """Raised by a `raise` fault point."""


@dataclass(frozen=True)
class Fault:
    point: str
    action: str
    seconds: float = DEFAULT_HANG_SECONDS
    count: int | None = None  # None: every time


def parse(spec: str) -> dict[str, Fault]:
    """`point=action[:seconds][*count], …` → faults by point; unknown points or actions are refused."""
    faults: dict[str, Fault] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, rest = item.partition("=")
        rest, _, count = rest.partition("*")
        action, _, seconds = rest.partition(":")
        point, action = point.strip(), action.strip()
        if point not in POINTS or action not in ACTIONS:
            raise ValueError(f"bad fault {item!r}: points {sorted(POINTS)}, actions {sorted(ACTIONS)}")
        faults[point] = Fault(
            point, action, float(seconds) if seconds else DEFAULT_HANG_SECONDS, int(count) if count else None
        )
    return faults


def _armed_at_import() -> bool:
    env = os.environ
    return env.get("CHEERS_ENV") == "test" and bool(env.get("CHEERS_FAULTS") or env.get("CHEERS_FAULTS_FILE"))


_ARMED = _armed_at_import()
_fired_here: dict[str, int] = {}


def _current() -> dict[str, Fault]:
    spec = os.environ.get("CHEERS_FAULTS", "")
    file = os.environ.get("CHEERS_FAULTS_FILE")
    if file:
        try:
            spec = Path(file).read_text()
        except FileNotFoundError:
            spec = ""
    return parse(spec)


def _take_turn(fault: Fault) -> bool:
    """Claim one firing of `fault`; False once its count is spent (across processes with a state folder)."""
    state = os.environ.get("CHEERS_FAULTS_STATE")
    if state is None:
        n = _fired_here.get(fault.point, 0) + 1
        if fault.count is not None and n > fault.count:
            return False
        _fired_here[fault.point] = n
        return True
    for n in range(1, (fault.count or 1_000_000) + 1):
        try:
            # O_EXCL: two processes reaching the point at once cannot both take the same turn.
            fd = os.open(Path(state) / f"{fault.point}.{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {time.time()}\n")
        return True
    return False


async def fault_point(name: str) -> None:
    """Do what the test armed for `name` here (nothing, outside tests)."""
    if not _ARMED:
        return
    fault = _current().get(name)
    if fault is None or not _take_turn(fault):
        return
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault.action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif fault.action == "hang":
        await asyncio.sleep(fault.seconds)
    else:
        raise FaultInjected(f"fault injected at {name}")
