"""A small production in a temp folder: private PostgreSQL and Redis, the Meta and Google twins, real
`taskiq worker` processes (the Procfile's command), fault points armed through a file, one clock offset shared
by every process and both twins, and posts scheduled through core."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.clock import OFFSET_FILE_VAR, OffsetClock
from core.runtime import Runtime
from core.settings import Settings
from sandbox.google.twin import GoogleTwinControl
from sandbox.meta.twin import MetaTwinControl, MetaTwinState
from storage.models import Heartbeat, PostTarget
from tasks.broker import create_broker
from tasks.queue import TaskiqQueue
from tests.chaos.services import PrivatePostgres, PrivateRedis
from tests.factories import REPO_ROOT, eventually, process_env
from tests.publishing.support import schedule

TASKIQ_SCRIPT = Path(sys.executable).with_name("taskiq")
TASKIQ = [str(TASKIQ_SCRIPT)] if TASKIQ_SCRIPT.exists() else [sys.executable, "-m", "taskiq"]
STARTUP = 30.0  # seconds a worker may take to import, connect and beat
LEASE_SECONDS = 5.0
DISPATCH_INTERVAL = 0.2
# Settings a worker needs beyond what tests.factories.process_env passes on.
PASSED_ON = (
    "cheers_publish_lease_seconds",
    "cheers_dispatch_interval_seconds",
    "cheers_connection_min_interval_seconds",
    "cheers_graph_url",
    "cheers_facebook_dialog_url",
    "cheers_facebook_app_id",
    "cheers_facebook_app_secret",
    "cheers_google_auth_url",
    "cheers_google_token_url",
    "cheers_gbp_accounts_url",
    "cheers_gbp_info_url",
    "cheers_gbp_posts_url",
    "cheers_google_client_id",
    "cheers_google_client_secret",
    "cheers_log_level",
)


def procfile_command(process: str) -> list[str]:
    """The Procfile's command for `process` (`worker`, `scheduler`), with this venv's taskiq."""
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            args = shlex.split(command)
            assert args[0] == "taskiq", f"the Procfile's {process} is not a taskiq command: {command}"
            return [*TASKIQ, *args[1:]]
    raise AssertionError(f"no `{process}` line in the Procfile")


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (taskiq's manager and its children): the machine died."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def term(self) -> None:
        """SIGTERM to the manager only, as a supervisor (systemd, Kubernetes, Heroku) sends it."""
        with suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)


@dataclass
class Cluster:
    """Everything one scenario runs against; `close` SIGKILLs what is left."""

    pg: PrivatePostgres
    redis: PrivateRedis
    database: str
    settings: Settings
    runtime: Runtime
    meta: MetaTwinControl
    meta_state: MetaTwinState  # the twin runs in this process: its containers can be counted directly
    google: GoogleTwinControl
    folder: Path
    page_ids: dict[int, str] = field(default_factory=dict)  # connection id → Facebook Page id
    ig_ids: dict[int, str] = field(default_factory=dict)  # connection id → Instagram account id
    locations: dict[int, str] = field(default_factory=dict)  # connection id → Business Profile location id
    workers: list[Worker] = field(default_factory=list)
    shifted: timedelta = timedelta()  # how far Cluster.shift has moved time so far
    _queue: TaskiqQueue | None = None

    def __post_init__(self) -> None:
        # The test's own runtime (scheduling, dispatcher ticks, jobs run here) follows the same offset file.
        self.runtime.clock = OffsetClock(self.clock_file)

    # -- time -----------------------------------------------------------------------------------

    @property
    def clock_file(self) -> Path:
        return self.folder / "clock.offset"

    async def shift(self, seconds: float) -> None:
        """Move time `seconds` ahead for every worker and scheduler, this process's runtime and both twins."""
        self.shifted += timedelta(seconds=seconds)
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{self.shifted.total_seconds()}\n")
        # Core first: for a moment the providers lag behind, which at worst refreshes a token early. The other
        # way round a worker could send a token the twin already counts as expired.
        tmp.replace(self.clock_file)
        await self.meta.advance_clock(seconds)
        await self.google.advance_clock(seconds)  # its own TwinClock (the twins are started with one each)

    # -- faults ---------------------------------------------------------------------------------

    @property
    def faults_file(self) -> Path:
        return self.folder / "faults.spec"

    @property
    def faults_state(self) -> Path:
        return self.folder / "faults.state"

    def arm(self, spec: str) -> None:
        """Arm fault points in every worker, running or not (core.faults re-reads the file)."""
        tmp = self.faults_file.with_suffix(".tmp")
        tmp.write_text(spec)
        tmp.replace(self.faults_file)

    def disarm(self) -> None:
        self.arm("")

    def fired(self, point: str) -> list[tuple[int, float]]:
        """(pid, wall time) of each firing of `point` so far."""
        found = []
        for marker in sorted(self.faults_state.glob(f"{point}.*")):
            written = marker.read_text().split()
            if len(written) != 2:
                continue  # the worker has taken this turn (O_EXCL) but not yet written its pid and time: look again
            pid, at = written
            found.append((int(pid), float(at)))
        return found

    # -- processes ------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """The worker's environment: the scenario's settings, the fault and clock files, then `extra` over them."""
        passed = {name.upper(): str(getattr(self.settings, name)) for name in PASSED_ON}
        faults = {"CHEERS_FAULTS_FILE": str(self.faults_file), "CHEERS_FAULTS_STATE": str(self.faults_state)}
        clock = {OFFSET_FILE_VAR: str(self.clock_file)}
        return process_env(self.settings, **{**passed, **faults, **clock, **extra})

    def start(self, name: str, command: Sequence[str], *, wrap: Sequence[str] = (), **env: str) -> Worker:
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [*wrap, *command],
                cwd=self.folder,  # away from the repository's .env
                env=self.env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the children too
            )
        worker = Worker(name, proc, log)
        self.workers.append(worker)
        return worker

    def start_worker(self, name: str, *, wrap: Sequence[str] = (), children: int = 1, **env: str) -> Worker:
        """The Procfile's worker command, with `children` taskiq worker processes (Procfile default: 2)."""
        return self.start(name, [*procfile_command("worker"), "--workers", str(children)], wrap=wrap, **env)

    async def workers_ready(self, count: int, *, besides: frozenset[str] = frozenset()) -> set[str]:
        """Wait for `count` worker processes (instances not in `besides`) to beat; returns their names."""

        async def beating() -> set[str] | None:
            async with self.runtime.db.session() as session:
                rows = await session.execute(select(Heartbeat.instance).where(Heartbeat.component == "worker"))
                found = {str(r) for r in rows.scalars()} - besides
            return found if len(found) >= count else None

        try:
            return await eventually(beating, what=f"{count} worker(s) to beat", within=STARTUP, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log_tails()}") from None

    def log_tails(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {w.name}\n{w.log.read_text(errors='replace')[-chars:]}" for w in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            with suppress(ProcessLookupError):
                os.killpg(worker.proc.pid, signal.SIGKILL)
        for worker in self.workers:
            with suppress(subprocess.TimeoutExpired):
                worker.proc.wait(timeout=10)

    async def queue(self) -> TaskiqQueue:
        """A client of the scenario's task queue (the test process sends through it); closed by `close_queue`."""
        if self._queue is None:
            broker = create_broker(self.settings, self.runtime)
            await broker.startup()  # declares the consumer group; sets runtime.queue
            self._queue = TaskiqQueue(broker)
            self.runtime.queue = self._queue
        return self._queue

    async def nudge(self) -> None:
        """Send a harmless job: the stream broker hands over stale messages only after a read that got new ones."""
        await (await self.queue()).enqueue("job:heartbeat")

    async def close_queue(self) -> None:
        if self._queue is not None:
            await self._queue.broker.shutdown()
            self._queue = None
            self.runtime.queue = None

    # -- work -----------------------------------------------------------------------------------

    async def post_many(
        self, venue_id: int, connection_ids: Sequence[int], count: int, *, label: str, **draft: Any
    ) -> list[int]:
        """`count` posts due now (unique texts, so the twin's copies can be counted); their delivery ids."""
        run = uuid.uuid4().hex[:6]
        targets: list[int] = []
        for n in range(count):
            saved = await schedule(self.runtime, venue_id, connection_ids, text=f"{label} #{n} [{run}]", **draft)
            targets += [t.id for t in saved.targets]
        return targets

    async def deliveries(self, target_ids: Sequence[int]) -> list[PostTarget]:
        async with self.runtime.db.session() as session:
            rows = await session.execute(select(PostTarget).where(PostTarget.id.in_(target_ids)))
            return sorted(rows.scalars().all(), key=lambda t: t.id)


def faketime() -> str | None:
    """The `faketime` wrapper (libfaketime), when installed."""
    return shutil.which("faketime")
