"""Chat benchmark (issue 13): how fast `/cheers` is acknowledged while the publish workers are saturated, and how
long an alert takes from its failure committed to its message at Slack, beyond the pacing Slack imposes.

Processes, each on its own: the Meta twin (`sandbox.meta.serve`, every Graph answer held `--hold-ms`), the Slack
twin (`sandbox.slack.serve`), the web app (uvicorn, the Procfile's web command, on a free port) and the workers
(the Procfile's `taskiq worker`, Redis stream broker), on a throwaway PostgreSQL database.

1. Ack latency. `--burst` posts on as many Pages are made due at once, so every worker slot holds a held Graph
   call; meanwhile `--commands` signed `/cheers week` / `/cheers status` slash commands (sandbox.slack.sender,
   typed by Slack users linked to the venue's owners) go to POST /slack/events at `--rate` per second, open loop:
   each is sent on its schedule whatever the previous answers did, so queueing shows. Latency: request sent to
   HTTP answer read. Each answer must be 200 with the bot's reply (not "not installed", "link first", "try again").
2. Alert latency. `--alerts` failures (`derivative_failed`, error) are recorded with core.notifications.outbox.notify,
   one transaction each, at `--alert-rate` per second, round robin over `--channels` venues, each with its own
   channel set up as `alerts here` does. Each commit wakes `chat-alerts-deliver` in a worker (no scheduler runs:
   no sweep helps). Arrival is the message's `ts` at the Slack twin (its clock is this machine's). Beyond pacing:
   arrival - max(committed, previous message in that channel arrived + 1 s), the wait the app's one-message-per-
   second-per-channel pacing (Slack's own limit) made unavoidable; raw arrival - committed is printed too.

Exit status: 0 with the table (a missed target is reported, not fatal); 1 when an ack failed or an alert was lost
or posted twice. Skips with a message when PostgreSQL or Redis is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _chat_world import (
    ChatWorld,
    alert_venues,
    channel_id,
    link_typists,
    slack_workspace,
    store_install,
    user_id,
    wait_twin,
    week_of_posts,
)
from _publish_infra import (
    PG_ADMIN,
    REDIS_URL,
    TASKIQ,
    Processes,
    base_env,
    throwaway_database,
    throwaway_queue,
    twin_argv,
    wait_http,
    worker_argv,
)
from _publish_measure import percentile
from _publish_world import Batch, create_posts, page_tokens, release, seed_connections, wait_settled
from sqlalchemy import func, select
from taskiq_redis import RedisStreamBroker

from api.devtwins import twin_settings
from core.clock import SystemClock
from core.logging import configure_logging
from core.notifications import outbox
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from core.settings import Settings
from sandbox.meta.twin import MetaTwinControl
from sandbox.server import free_port, reachable
from sandbox.slack.sender import SlackRequest, SlackSender
from sandbox.slack.state import DEFAULT_SIGNING_SECRET
from sandbox.slack.twin import SlackTwinControl
from storage.crypto import generate_key
from storage.db import Database
from storage.models import (
    ChatAlertDelivery,
    ChatAlertMessage,
    ChatMessageStatus,
    Connection,
    DeliveryStatus,
    Heartbeat,
    Notification,
    PostTarget,
    Severity,
)
from tasks.queue import TaskiqQueue

ACK_TARGET_P99 = 0.150  # seconds
ALERT_TARGET_P99 = 5.0  # seconds beyond pacing
WARM_UP = 20  # commands first, one at a time, no burst: the second half is the "idle" line
SPACING = 1.0  # the app's (and Slack's) one message per second per channel
SCHEDULER_ARGS = ("tasks.schedule:create_scheduler", "tasks.periodic", "--skip-first-run", "--no-configure-logging")
REFUSALS = ("isn't installed", "Link your chat account", "couldn't start", "Working on it")
ALERT_NUMBER = re.compile(r"bench alert #(\d+)\b")


@dataclass(frozen=True)
class Config:
    commands: int
    rate: float
    typists: int
    burst: int
    hold_ms: float
    workers: int
    worker_tasks: int
    alerts: int
    channels: int
    alert_rate: float
    wait: float | None  # seconds to wait for the last alert after the commits (None: the pacing + 60 s)
    quick: bool


def parse(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(prog="bench/chat.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--commands", type=int, default=500, help="slash commands sent (500)")
    p.add_argument("--rate", type=float, default=20.0, help="slash commands per second, open loop (20)")
    p.add_argument("--typists", type=int, default=20, help="linked Slack users typing them, round robin (20)")
    p.add_argument("--burst", type=int, default=600, help="posts due at once to saturate the workers (600)")
    p.add_argument("--hold-ms", type=float, default=5000.0, help="Meta twin holds every Graph answer (5000 ms)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    p.add_argument("--worker-tasks", type=int, default=50, help="async tasks per worker process (50)")
    p.add_argument("--alerts", type=int, default=1000, help="alerts recorded (1000)")
    p.add_argument("--channels", type=int, default=50, help="channels (one venue each) they go to (50)")
    p.add_argument("--alert-rate", type=float, default=100.0, help="alerts committed per second (100)")
    p.add_argument("--wait", type=float, default=None, help="seconds to wait for alerts after the last commit")
    p.add_argument("--quick", action="store_true", help="tiny numbers for the smoke test (overrides the rest)")
    a = p.parse_args(argv)
    if a.quick:
        return Config(12, 20.0, 2, 8, 300.0, 1, 4, 12, 3, 50.0, a.wait, True)
    return Config(
        a.commands, a.rate, a.typists, a.burst, a.hold_ms, a.workers, a.worker_tasks, a.alerts, a.channels,
        a.alert_rate, a.wait, False,
    )  # fmt: skip


@dataclass
class Results:
    acks: list[float] = field(default_factory=list)  # seconds, sorted
    ack_failures: Counter[str] = field(default_factory=Counter)
    in_flight: list[int] = field(default_factory=list)  # claimed publish deliveries, sampled during the acks
    raw: list[float] = field(default_factory=list)  # alert arrival - committed, sorted
    beyond: list[float] = field(default_factory=list)  # alert arrival - max(committed, previous + 1 s), sorted
    floor: list[float] = field(default_factory=list)  # what the pacing alone imposes
    lost: int = 0
    queued: int = 0  # still waiting to be sent when the bench stopped waiting (counted as "at least")
    waited: float = 0.0
    throttled: int = 0  # Web API calls the Slack twin answered 429 (its own pacing refused them)
    doubled: int = 0
    commit_seconds: float = 0.0
    publish_rate: float = 0.0
    slow_at: list[float] = field(default_factory=list)  # seconds into the commands at which a slow ack was sent
    idle: list[float] = field(default_factory=list)  # acks one at a time before the burst (the last warm-ups)
    sample: dict[str, str] = field(default_factory=dict)  # command -> the start of its answer


class ChatBench:
    def __init__(self, procs: Processes, database_url: str, queue: str, config: Config) -> None:
        self.procs, self.config = procs, config
        self.settings = Settings(
            _env_file=None,
            database_url=database_url,
            redis_url=REDIS_URL,
            cheers_task_queue=queue,
            cheers_secret_key="bench-secret-" * 4,
            cheers_token_keys=generate_key(),
            cheers_var_dir=procs.logs,
        )
        self.broker = RedisStreamBroker(REDIS_URL, queue_name=queue, consumer_group_name="cheers-workers")
        self.runtime = Runtime(
            settings=self.settings,
            db=Database(self.settings.database),
            clock=SystemClock(),
            queue=TaskiqQueue(self.broker),
        )
        self.results = Results()

    def env(self, meta_url: str, slack_url: str) -> dict[str, str]:
        s = self.settings
        env = base_env() | {k.upper(): v for k, v in twin_settings(meta_url, "http://127.0.0.1:9").items()}
        return env | {
            "CHEERS_ENV": "dev",
            "DATABASE_URL": s.database,
            "REDIS_URL": REDIS_URL,
            "CHEERS_TASK_QUEUE": s.cheers_task_queue,
            "CHEERS_SECRET_KEY": s.cheers_secret_key,
            "CHEERS_TOKEN_KEYS": s.cheers_token_keys,
            "CHEERS_VAR_DIR": str(self.procs.logs),
            "CHEERS_SLACK_API_URL": f"{slack_url}/api/",
            "CHEERS_SLACK_OAUTH_URL": slack_url,
            "CHEERS_SLACK_SIGNING_SECRET": DEFAULT_SIGNING_SECRET,
            "CHEERS_LOG_LEVEL": "WARNING",
        }

    # -- processes -----------------------------------------------------------------------------------

    async def start(self) -> tuple[str, str, str]:
        meta_port, slack_port, web_port = free_port(), free_port(), free_port()
        meta_url, slack_url = f"http://127.0.0.1:{meta_port}", f"http://127.0.0.1:{slack_port}"
        self.procs.start("meta-twin", twin_argv(meta_port), base_env())
        self.procs.start(
            "slack-twin", [sys.executable, "-m", "sandbox.slack.serve", "--port", str(slack_port)], base_env()
        )
        await wait_http(meta_url, self.procs)
        await wait_twin(slack_url)
        env = self.env(meta_url, slack_url)
        web = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
        self.procs.start("web", [*web, "--port", str(web_port), "--no-access-log", "--log-level", "warning"], env)
        self.procs.start("workers", worker_argv(self.config.workers, self.config.worker_tasks), env)
        # The Procfile's scheduler: the `chat-alerts` sweep every minute, as in production (what a woken pass
        # leaves behind is sent by it).
        self.procs.start("scheduler", [*TASKIQ, "scheduler", *SCHEDULER_ARGS], env)
        return meta_url, slack_url, f"http://127.0.0.1:{web_port}"

    async def wait_ready(self, web_url: str) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                self.procs.check_alive()
                async with self.runtime.db.session() as session:
                    query = select(func.count()).select_from(Heartbeat).where(Heartbeat.component == "worker")
                    workers = int((await session.execute(query)).scalar_one())
                try:
                    web_up = (await client.post(f"{web_url}/slack/events", content=b"")).status_code == 401
                except httpx.HTTPError:
                    web_up = False
                if workers >= self.config.workers and web_up:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after 60 s: web {web_up}, {workers} workers")
                await asyncio.sleep(0.2)

    # -- setup -----------------------------------------------------------------------------------------

    async def setup(self, meta_url: str, slack_url: str, slack: SlackTwinControl) -> tuple[ChatWorld, list[int]]:
        c = self.config
        token = await slack_workspace(slack, c.typists, c.channels)
        tokens = await page_tokens(meta_url, c.burst + 1)
        connection_ids = await seed_connections(self.runtime, tokens)
        async with self.runtime.db.session() as session:
            ack_venue = (await session.get(Connection, connection_ids[-1])).account_id  # type: ignore[union-attr]
        command_channel = channel_id(c.channels)
        await store_install(self.runtime, token, ack_venue)
        await link_typists(self.runtime, ack_venue, c.typists, command_channel)
        await week_of_posts(self.runtime, ack_venue, connection_ids[-1], 30)
        venues = await alert_venues(self.runtime, c.channels)
        world = ChatWorld(
            [user_id(i) for i in range(c.typists)], command_channel, venues, [channel_id(i) for i in range(c.channels)]
        )
        return world, connection_ids[:-1]

    # -- 1. ack latency --------------------------------------------------------------------------------

    async def acks(self, web_url: str, slack: SlackTwinControl, world: ChatWorld, burst_ids: list[int]) -> Batch:
        c = self.config
        sender = SlackSender(slack)
        texts = ("week", "status")
        requests = [
            await sender.slash_command(
                texts[i % 2], user_id=world.typists[i % c.typists], channel_id=world.command_channel
            )
            for i in range(c.commands)
        ]
        await self.warm_up(web_url, sender, world)
        batch = await create_posts(self.runtime, burst_ids, 1, "chat bench burst")
        await release(self.runtime, batch, lead=0.5)
        await self.wait_claimed(min(len(burst_ids), c.workers * c.worker_tasks) // 2, within=30.0)
        published_before = await self.published(batch.first, batch.last)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
            url = f"{web_url}/slack/events"

            async def one(at: float, request: SlackRequest) -> None:
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                started = time.perf_counter()
                try:
                    response = await sender.send(request, url, client)
                    body = response.text
                except httpx.HTTPError as exc:
                    self.results.ack_failures[type(exc).__name__] += 1
                    return
                self.results.acks.append(time.perf_counter() - started)
                if self.results.acks[-1] > ACK_TARGET_P99:
                    self.results.slow_at.append(at - t0)
                if response.status_code != 200:
                    self.results.ack_failures[f"HTTP {response.status_code}"] += 1
                elif not body or any(r in body for r in REFUSALS):
                    self.results.ack_failures[f"refused: {body[:80]}"] += 1

            sampler = asyncio.create_task(self.sample_in_flight())
            t0 = time.perf_counter() + 0.1
            window = time.perf_counter()
            await asyncio.gather(*(one(t0 + i / c.rate, r) for i, r in enumerate(requests)))
            window = time.perf_counter() - window
            sampler.cancel()
        self.results.acks.sort()
        self.results.idle.sort()
        done = await self.published(batch.first, batch.last) - published_before
        self.results.publish_rate = done / window if window > 0 else 0.0
        return batch

    async def warm_up(self, web_url: str, sender: SlackSender, world: ChatWorld) -> None:
        """A few unmeasured commands first: the web process builds its Slack app and opens its database
        connections on first use, which is not what a running service pays per command."""
        async with httpx.AsyncClient(timeout=30.0) as client:
            for i in range(WARM_UP):
                request = await sender.slash_command(
                    ("week", "status")[i % 2], user_id=world.typists[i % len(world.typists)],
                    channel_id=world.command_channel,
                )  # fmt: skip
                started = time.perf_counter()
                response = await sender.send(request, f"{web_url}/slack/events", client)
                if i >= WARM_UP // 2:
                    self.results.idle.append(time.perf_counter() - started)
                if response.status_code != 200 or any(r in response.text for r in REFUSALS):
                    raise RuntimeError(
                        f"/cheers {request.payload['text']} was not answered: "
                        f"{response.status_code} {response.text[:300]}"
                    )
                self.results.sample.setdefault(str(request.payload["text"]), str(response.json().get("text"))[:70])

    async def wait_claimed(self, at_least: int, *, within: float) -> None:
        deadline = time.monotonic() + within
        while await self.claimed() < max(1, at_least):
            self.procs.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the burst never kept {at_least} deliveries in flight:\n{self.procs.tail('workers')}"
                )
            await asyncio.sleep(0.1)

    async def claimed(self) -> int:
        async with self.runtime.db.session() as session:
            query = select(func.count()).select_from(PostTarget).where(PostTarget.status == DeliveryStatus.claimed)
            return int((await session.execute(query)).scalar_one())

    async def published(self, first: int, last: int) -> int:
        async with self.runtime.db.session() as session:
            query = (
                select(func.count())
                .select_from(PostTarget)
                .where(PostTarget.post_id.between(first, last), PostTarget.status == DeliveryStatus.published)
            )
            return int((await session.execute(query)).scalar_one())

    async def sample_in_flight(self) -> None:
        while True:
            self.results.in_flight.append(await self.claimed())
            await asyncio.sleep(1.0)

    # -- 2. alert latency ------------------------------------------------------------------------------

    async def alerts(self, slack: SlackTwinControl, world: ChatWorld) -> None:
        c = self.config
        committed: dict[int, float] = {}
        started = time.perf_counter()
        for n in range(c.alerts):
            await asyncio.sleep(max(0.0, started + n / c.alert_rate - time.perf_counter()))
            venue = world.alert_venues[n % c.channels]
            async with self.runtime.uow() as uow:
                await outbox.notify(
                    uow.session, self.runtime.clock, account_id=venue, kind=NotificationKind.derivative_failed,
                    severity=Severity.error, title=f"bench alert #{n}: photo {n} could not be resized",
                    payload={"bench": n},
                )  # fmt: skip
                committed[n] = time.time()  # taken before the commit: the latency includes the commit itself
                await uow.commit()
        self.results.commit_seconds = time.perf_counter() - started
        progress(f"{c.alerts} alerts committed in {self.results.commit_seconds:.1f} s")
        per_channel = -(-c.alerts // c.channels)
        wait = c.wait if c.wait is not None else per_channel * SPACING + 60.0
        self.results.waited = wait
        deadline = time.monotonic() + wait
        arrivals: dict[str, list[tuple[float, int]]] = {}
        last = count = -1
        while True:
            self.procs.check_alive()
            arrivals = {ch: await self.arrived(slack, ch) for ch in world.alert_channels}
            count = sum(len(a) for a in arrivals.values())
            if count >= c.alerts or time.monotonic() > deadline:
                break
            if count != last:
                progress(f"{count} of {c.alerts} alerts at the Slack twin")
                last = count
            await asyncio.sleep(1.0)
        gave_up = time.time()
        queued: set[int] = set()
        if count < c.alerts:
            progress(f"stopped waiting: {c.alerts - count} alerts not at the twin; messages: {await self.states()}")
            queued = await self.queued()
        calls = (await slack.state()).get("calls") or []
        self.results.throttled = sum(1 for call in calls if call.get("status") == 429)
        channel_of = {n: world.alert_channels[n % c.channels] for n in committed}
        self.measure(arrivals, committed, channel_of, queued, gave_up)

    async def queued(self) -> set[int]:
        """Alert numbers whose message is still pending or being sent (late, not lost)."""
        query = (
            select(Notification.title)
            .join(ChatAlertDelivery, ChatAlertDelivery.notification_id == Notification.id)
            .join(ChatAlertMessage, ChatAlertMessage.id == ChatAlertDelivery.message_id)
            .where(ChatAlertMessage.status.in_((ChatMessageStatus.pending, ChatMessageStatus.sending)))
        )
        async with self.runtime.db.session() as session:
            titles = (await session.execute(query)).scalars().all()
        return {int(m.group(1)) for t in titles if (m := ALERT_NUMBER.search(t))}

    async def states(self) -> dict[str, int]:
        """How many alert messages are in each state (with their last error), to say where missing ones stopped."""
        query = select(ChatAlertMessage.status, ChatAlertMessage.last_error, func.count()).group_by(
            ChatAlertMessage.status, ChatAlertMessage.last_error
        )
        async with self.runtime.db.session() as session:
            rows = (await session.execute(query)).all()
        return {f"{status}{f' ({error[:80]})' if error else ''}": int(n) for status, error, n in rows}

    @staticmethod
    async def arrived(slack: SlackTwinControl, channel: str) -> list[tuple[float, int]]:
        """(arrival ts, alert number) of each alert message in the channel, in arrival order."""
        found = []
        for message in await slack.messages(channel):
            match = ALERT_NUMBER.search(str(message.get("text") or ""))
            if match:
                found.append((float(message["ts"]), int(match.group(1))))
        return sorted(found)

    def measure(
        self,
        arrivals: dict[str, list[tuple[float, int]]],
        committed: dict[int, float],
        channel_of: dict[int, str],
        queued: set[int],
        gave_up: float,
    ) -> None:
        """Latencies of the arrived alerts; one still queued counts as arriving when the bench stopped waiting
        (a lower bound); one neither arrived nor queued is lost."""
        seen = Counter(n for found in arrivals.values() for _, n in found)
        r = self.results
        missing = [n for n in committed if n not in seen]
        r.queued = sum(1 for n in missing if n in queued)
        r.lost = len(missing) - r.queued
        r.doubled = sum(count - 1 for count in seen.values() if count > 1)
        last_at: dict[str, float] = {}
        for channel, found in arrivals.items():
            previous: float | None = None
            for at, n in found:
                allowed = committed[n] if previous is None else max(committed[n], previous + SPACING)
                r.raw.append(at - committed[n])
                r.beyond.append(at - allowed)
                previous = at
            if previous is not None:
                last_at[channel] = previous
        for n in missing:
            if n in queued:
                previous = last_at.get(channel_of[n])
                allowed = committed[n] if previous is None else max(committed[n], previous + SPACING)
                r.raw.append(gave_up - committed[n])
                r.beyond.append(gave_up - allowed)
        by_channel: dict[str, list[float]] = {}
        for n, when in committed.items():
            by_channel.setdefault(channel_of[n], []).append(when)
        for times in by_channel.values():
            ideal: float | None = None
            for when in sorted(times):
                ideal = when if ideal is None else max(when, ideal + SPACING)
                r.floor.append(ideal - when)
        r.raw.sort(), r.beyond.sort(), r.floor.sort()

    # -- run -------------------------------------------------------------------------------------------

    async def run(self) -> Results:
        meta_url, slack_url, web_url = await self.start()
        async with httpx.AsyncClient(timeout=30.0) as client:
            slack = SlackTwinControl(slack_url, client)
            meta = MetaTwinControl(meta_url, client)
            setup = time.perf_counter()
            world, burst_ids = await self.setup(meta_url, slack_url, slack)
            await self.wait_ready(web_url)
            progress(
                f"setup: {len(burst_ids) + 1} Pages, {self.config.channels} alert venues "
                f"in {time.perf_counter() - setup:.1f} s"
            )
            await meta.publishing(latency_ms=self.config.hold_ms)
            batch = await self.acks(web_url, slack, world, burst_ids)
            progress(f"acks done: {len(self.results.acks)} answered")
            await meta.publishing(latency_ms=0.0)  # the burst drains before the alerts are measured
            counts = await wait_settled(self.runtime, batch, within=600.0, check=self.procs.check_alive)
            progress(f"burst settled: {dict(counts)}")
            await self.alerts(slack, world)
        return self.results

    async def close(self) -> None:
        await self.broker.shutdown()
        await self.runtime.db.dispose()


def progress(line: str) -> None:
    """A line on stderr while it runs (the table is stdout's)."""
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


# -- the table ---------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def spread(values: list[float], scale: float, unit: str) -> str:
    worst = values[-1] if values else float("nan")
    return (
        f"p50 {percentile(values, 50) * scale:8.1f} {unit}  p99 {percentile(values, 99) * scale:8.1f} {unit}  "
        f"max {worst * scale:8.1f} {unit}"
    )


ERROR_LINE = re.compile(r'"level": "(?:error|critical)"|^ERROR|Traceback')
EXCEPTION_NAME = re.compile(r"([A-Za-z_.]*(?:Error|Exception)): ")


def logged_errors(procs: Processes) -> Counter[str]:
    """Errors the processes logged (by process and exception), each process's first one printed on stderr."""
    found: Counter[str] = Counter()
    for name in procs.started:
        lines = [line for line in procs.tail(name, 10**9).splitlines() if ERROR_LINE.search(line)]
        for line in lines:
            names = EXCEPTION_NAME.findall(line)
            found[f"{name}: {names[0].rsplit('.', 1)[-1] if names else 'error'}"] += 1
        if lines:
            print(f"--- {name} logged {len(lines)} errors; the first:\n{lines[0][:4000]}", file=sys.stderr)
    return found


def report(c: Config, r: Results, errors: Counter[str]) -> int:
    print(
        f"chat benchmark{' (--quick: tiny numbers, figures meaningless)' if c.quick else ''}; {os.cpu_count()} CPUs; "
        f"{c.workers} worker processes x {c.worker_tasks} async tasks; PostgreSQL + Redis"
    )
    busy = f"{min(r.in_flight)}-{max(r.in_flight)}" if r.in_flight else "n/a"
    print(
        f"1. {c.commands} signed /cheers week|status at {c.rate:g}/s (open loop) by {c.typists} linked people, while "
        f"{c.burst} posts held {c.hold_ms:g} ms each at the Meta twin: {busy} publish deliveries in flight "
        f"(sampled each second), {r.publish_rate:.1f} published/s meanwhile"
    )
    print(
        f"2. {c.alerts} alerts (derivative_failed, error) to {c.channels} channels, committed at {c.alert_rate:g}/s "
        f"(took {r.commit_seconds:.1f} s); 1 message/s per channel"
    )
    print("answers: " + "; ".join(f"/cheers {k} -> {v!r}" for k, v in r.sample.items()))
    print(f"{'figure':<52}{'value':<62}{'target':<14}verdict")
    ack_p99 = percentile(r.acks, 99)
    late = " (>=)" if r.queued else ""
    beyond_p99 = percentile(r.beyond, 99)
    rows = (
        ("ack latency (sent -> answer read)", spread(r.acks, 1000, "ms"), f"p99 <= {ACK_TARGET_P99 * 1000:.0f} ms",
         verdict(ack_p99 <= ACK_TARGET_P99)),
        (f"  same, one at a time, no burst ({len(r.idle)})", spread(r.idle, 1000, "ms"), "-", "-"),
        (f"alert latency beyond pacing{late}", spread(r.beyond, 1, "s "), f"p99 <= {ALERT_TARGET_P99:g} s",
         verdict(beyond_p99 <= ALERT_TARGET_P99)),
        (f"alert latency raw (committed -> at the twin){late}", spread(r.raw, 1, "s "), "-", "-"),
        ("  of which pacing alone (no app delay)", spread(r.floor, 1, "s "), "-", "-"),
    )  # fmt: skip
    for name, value, target, outcome in rows:
        print(f"{name:<52}{value:<62}{target:<14}{outcome}")
    arrived = len(r.raw)
    if r.slow_at:
        buckets = Counter(int(at // 5) * 5 for at in r.slow_at)
        when = ", ".join(f"{b}-{b + 5} s: {n}" for b, n in sorted(buckets.items()))
        print(f"acks over {ACK_TARGET_P99 * 1000:.0f} ms: {len(r.slow_at)}, by when they were sent: {when}")
    print(f"acks: {len(r.acks)} answered, {sum(r.ack_failures.values())} failed {dict(r.ack_failures) or ''}")
    print(
        f"alerts: {arrived - r.queued} arrived, {r.queued} still queued when the bench stopped waiting "
        f"({r.waited:.0f} s after the last commit; counted as arriving then, so their figures are lower bounds), "
        f"{r.lost} lost, {r.doubled} posted twice; the Slack twin answered {r.throttled} calls with 429"
    )
    print(f"errors logged by the processes: {dict(errors) if errors else 'none'}")
    failures = sum(r.ack_failures.values()) + r.lost + r.doubled
    return 1 if failures else 0


async def main(config: Config) -> int:
    if not reachable(PG_ADMIN, 5432) or not reachable(REDIS_URL, 6379):
        print(
            f"skipped: needs PostgreSQL ({PG_ADMIN}) and Redis ({REDIS_URL}); set CHEERS_BENCH_POSTGRES_URL/REDIS_URL"
        )
        return 0
    configure_logging("WARNING", "console")  # this process's setup logs (links, posts) are not the table
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # clean up as on Ctrl-C
    with tempfile.TemporaryDirectory(prefix="cheers-bench-chat-") as tmp:
        procs = Processes(Path(tmp))
        async with throwaway_database() as database_url, throwaway_queue() as queue:
            bench = ChatBench(procs, database_url, queue, config)
            try:
                results = await bench.run()
            except BaseException:
                for name in procs.started:
                    print(f"--- {name} log (tail)\n{procs.tail(name)}", file=sys.stderr)
                raise
            finally:
                procs.close()
                await bench.close()
                errors = logged_errors(procs)
    return report(config, results, errors)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
