"""Fault points: named places in the engine where a chaos test can kill, stop, hang or fail this process.

Inert unless CHEERS_ENV is test or dev (`cheers dev` sets it) and a spec is in CHEERS_FAULTS (the environment)
or CHEERS_FAULTS_FILE (a file re-read at every point, so a test or `make dev` can arm and disarm a running
process). A process started with any other CHEERS_ENV (prod) is never armed: that is decided once, at import.

Spec: comma-separated `point[@target]=action`, each action optionally `:seconds` (hang) and `*count`, e.g.
`before_provider_call=kill*1, after_claim=hang:30, job_run@housekeeping=raise`. A target narrows the point to
one subject (`job_run`: the job's name). Actions: `kill` (SIGKILL ourselves: no cleanup, as a crash or the OOM
killer), `term` (SIGTERM ourselves), `hang` (sleep, 3600 s unless given), `raise` (FaultInjected). With
CHEERS_FAULTS_STATE naming a folder, `*count` is shared by every process using that folder and each firing
leaves a file `<point>[@target].<n>` there holding "pid time" (when and where it fired).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

POINTS = frozenset(
    {
        "after_claim",
        "before_provider_call",
        "after_provider_answer",
        "during_image_work",
        "during_weekly_materialise",
        "job_run",  # core.ops.jobs.run_job, before the job's body (target: the job's name)
        "before_chat_send",  # core.chat.delivery._deliver: leased, before the post/edit (target: chat_alert|ops_alert)
        "after_email_send",  # core.email.outbox._send_one: Resend accepted it, before the outcome is recorded
    }
)
ARMABLE_ENVS = frozenset({"test", "dev"})
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
    target: str | None = None  # None: whatever the point is about

    @property
    def key(self) -> str:
        return self.point if self.target is None else f"{self.point}@{self.target}"


def parse(spec: str) -> dict[str, Fault]:
    """`point[@target]=action[:seconds][*count], …` → faults by `point` or `point@target`; unknown points or
    actions are refused."""
    faults: dict[str, Fault] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        where, _, rest = item.partition("=")
        rest, _, count = rest.partition("*")
        action, _, seconds = rest.partition(":")
        point, _, target = where.strip().partition("@")
        point, action, target = point.strip(), action.strip(), target.strip()
        if point not in POINTS or action not in ACTIONS or ("@" in where and not target):
            raise ValueError(f"bad fault {item!r}: points {sorted(POINTS)}, actions {sorted(ACTIONS)}")
        fault = Fault(
            point,
            action,
            float(seconds) if seconds else DEFAULT_HANG_SECONDS,
            int(count) if count else None,
            target or None,
        )
        faults[fault.key] = fault
    return faults


# A production process can never be armed, whatever its environment says later.
_NEVER = os.environ.get("CHEERS_ENV", "dev") not in ARMABLE_ENVS
_fired_here: dict[str, int] = {}


def armed() -> bool:
    """Whether fault points in this process act now (test or dev, and a spec given)."""
    env = os.environ
    return (
        not _NEVER
        and env.get("CHEERS_ENV") in ARMABLE_ENVS
        and bool(env.get("CHEERS_FAULTS") or env.get("CHEERS_FAULTS_FILE"))
    )


def _current() -> dict[str, Fault]:
    spec = os.environ.get("CHEERS_FAULTS", "")
    file = os.environ.get("CHEERS_FAULTS_FILE")
    if file:
        try:
            spec = Path(file).read_text()
        except FileNotFoundError:
            spec = ""
        try:
            return parse(spec)
        except ValueError as exc:
            # A typo in `make dev`'s var/dev-faults must not make every fault point raise: say so and arm nothing.
            print(f"core.faults: ignoring {file}: {exc}", file=sys.stderr, flush=True)
            return {}
    return parse(spec)


def _take_turn(fault: Fault) -> bool:
    """Claim one firing of `fault`; False once its count is spent (across processes with a state folder)."""
    state = os.environ.get("CHEERS_FAULTS_STATE")
    if state is None:
        n = _fired_here.get(fault.key, 0) + 1
        if fault.count is not None and n > fault.count:
            return False
        _fired_here[fault.key] = n
        return True
    for n in range(1, (fault.count or 1_000_000) + 1):
        try:
            # O_EXCL: two processes reaching the point at once cannot both take the same turn.
            fd = os.open(Path(state) / f"{fault.key}.{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {time.time()}\n")
        return True
    return False


async def fault_point(name: str, target: str | None = None) -> None:
    """Do what the test (or `make dev`) armed for `name` here, or for `name@target` (nothing, in production)."""
    if _NEVER or not armed():
        return
    current = _current()
    fault = (current.get(f"{name}@{target}") if target is not None else None) or current.get(name)
    if fault is None or not _take_turn(fault):
        return
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault.action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif fault.action == "hang":
        await asyncio.sleep(fault.seconds)
    else:
        raise FaultInjected(f"fault injected at {fault.key}")
