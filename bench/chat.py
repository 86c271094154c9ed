"""Chat benchmark (issues 13 and 14): how fast `/cheers` is acknowledged, and a Telegram update answered, while the
publish workers are saturated, and how long an alert takes from its failure committed to its message at Slack or
Telegram, beyond the pacing the platform imposes.

Processes, each on its own: the Meta twin (`sandbox.meta.serve`, every Graph answer held `--hold-ms`), the Slack
twin (`sandbox.slack.serve`), the Telegram twin (`sandbox.telegram.serve`), the web app (uvicorn, the Procfile's
web command, on a free port) and the workers (the Procfile's `taskiq worker`, Redis stream broker), on a throwaway
PostgreSQL database.

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
3. Telegram webhook answers (issue 14), under the same load: a second burst like the first, while
   `--telegram-updates` real Telegram updates (`/week` / `/status` typed by Telegram users linked to the same
   venue's owners, each in their private chat; made by the Telegram twin, `sandbox.telegram.serve`, so each has a
   new update_id and a message the reply can quote) go to POST /telegram/webhook with the
   X-Telegram-Bot-Api-Secret-Token header, at `--rate` per second, open loop. Latency: request sent to HTTP answer
   read (the webhook sends its replies before it answers, so they are in it). Each answer must be 200 "ok", and
   the bot's reply to each update must be at the twin exactly once, quoting that update's message.
4. Telegram alert latency: `--telegram-alerts` failures at `--alert-rate` per second, round robin over
   `--telegram-chats` venues whose alerts go to a Telegram chat: a private chat (even venues) or a group (odd).
   Arrival is the twin's time of the sendMessage call that carried it. Beyond pacing as in 2, with Telegram's
   spacing per chat type (1 s in a private chat, 3 s in a group: 20 a minute), and never before the 30th previous
   alert message arrived + 1 s (30 a second per bot). The twin does not throttle, so Telegram's limits are checked
   here from the arrivals: the closest two messages in each kind of chat, the most in any second, and no 429.

Exit status: 0 with the table (a missed target is reported, not fatal); 1 when an ack or a Telegram answer failed,
a Telegram reply was missing or sent twice, or an alert was lost or posted twice. Skips with a message when
PostgreSQL or Redis is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import _telegram_world as tg_world
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

from api.devtwins import telegram_twin_settings, twin_settings
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
from sandbox.telegram.control import TelegramTwinControl
from sandbox.telegram.state import DEV_BOT_TOKEN as TELEGRAM_BOT_TOKEN
from sandbox.telegram.state import DEV_WEBHOOK_SECRET as TELEGRAM_SECRET
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
# Telegram's limits (core.telegram.org/bots/faq): about one message a second in a chat, 20 a minute in a group,
# 30 a second per bot. The bench holds the app to these, not to the app's own (stricter) pacing settings.
TELEGRAM_SPACING = {"private": 1.0, "group": 3.0}
TELEGRAM_PER_BOT = 30
TELEGRAM_TEXTS = ("/week", "/status")
WEEK_ANSWER = "This week at"  # how the answer to /week begins (any other answer is taken for /status's)
TELEGRAM_ALERT_NUMBER = re.compile(r"bench telegram alert #(\d+)\b")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


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
    telegram_updates: int = 0  # 0: no Telegram webhook phase
    telegram_alerts: int = 0  # 0: no Telegram alerts phase
    telegram_chats: int = 2  # alert venues with a Telegram chat each: private (even) or group (odd)


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
    p.add_argument("--telegram-updates", type=int, default=500, help="Telegram updates to the webhook, 0: none (500)")
    p.add_argument("--telegram-alerts", type=int, default=600, help="alerts to Telegram chats, 0: none (600)")
    p.add_argument("--telegram-chats", type=int, default=30, help="Telegram chats, half private, half groups (30)")
    p.add_argument("--quick", action="store_true", help="tiny numbers for the smoke test (overrides the rest)")
    a = p.parse_args(argv)
    if a.quick:
        return Config(
            12, 20.0, 2, 8, 300.0, 1, 4, 12, 3, 50.0, a.wait, True, telegram_updates=12, telegram_alerts=12,
            telegram_chats=4,
        )  # fmt: skip
    if a.telegram_alerts and a.telegram_chats < 1:
        p.error("--telegram-chats must be at least 1")
    return Config(
        a.commands, a.rate, a.typists, a.burst, a.hold_ms, a.workers, a.worker_tasks, a.alerts, a.channels,
        a.alert_rate, a.wait, False, a.telegram_updates, a.telegram_alerts, a.telegram_chats,
    )  # fmt: skip


@dataclass
class AlertFigures:
    raw: list[float] = field(default_factory=list)  # alert arrival - committed, sorted
    beyond: list[float] = field(default_factory=list)  # alert arrival - max(committed, previous + spacing), sorted
    floor: list[float] = field(default_factory=list)  # what the pacing alone imposes
    lost: int = 0
    queued: int = 0  # still waiting to be sent when the bench stopped waiting (counted as "at least")
    waited: float = 0.0
    throttled: int = 0  # API calls the twin answered 429
    doubled: int = 0
    commit_seconds: float = 0.0


@dataclass
class Results(AlertFigures):
    acks: list[float] = field(default_factory=list)  # seconds, sorted
    ack_failures: Counter[str] = field(default_factory=Counter)
    in_flight: list[int] = field(default_factory=list)  # claimed publish deliveries, sampled during the acks
    publish_rate: float = 0.0
    slow_at: list[float] = field(default_factory=list)  # seconds into the commands at which a slow ack was sent
    idle: list[float] = field(default_factory=list)  # acks one at a time before the burst (the last warm-ups)
    sample: dict[str, str] = field(default_factory=dict)  # command -> the start of its answer


@dataclass
class TelegramResults(AlertFigures):
    answers: list[float] = field(default_factory=list)  # webhook request sent -> answer read, seconds, sorted
    failures: Counter[str] = field(default_factory=Counter)
    in_flight: list[int] = field(default_factory=list)
    publish_rate: float = 0.0
    slow_at: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    sample: dict[str, str] = field(default_factory=dict)
    updates: int = 0  # updates sent, warm-up included
    replies: int = 0  # of them, answered by exactly one reply quoting their message
    replies_missing: int = 0
    replies_doubled: int = 0
    closest: dict[str, float] = field(default_factory=dict)  # chat kind -> the closest two alert messages in a chat
    too_close: Counter[str] = field(default_factory=Counter)  # chat kind -> pairs closer than Telegram's spacing
    close_pairs: list[tuple[float, str, int, int]] = field(default_factory=list)  # (gap, chat, alert, next alert)
    most_per_second: int = 0  # alert messages in the busiest second, bot-wide


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
            cheers_telegram_bot_token=TELEGRAM_BOT_TOKEN,
        )
        self.broker = RedisStreamBroker(REDIS_URL, queue_name=queue, consumer_group_name="cheers-workers")
        self.runtime = Runtime(
            settings=self.settings,
            db=Database(self.settings.database),
            clock=SystemClock(),
            queue=TaskiqQueue(self.broker),
        )
        self.results = Results()
        self.telegram = TelegramResults()

    def env(self, meta_url: str, slack_url: str, telegram_url: str) -> dict[str, str]:
        s = self.settings
        env = base_env() | {k.upper(): v for k, v in twin_settings(meta_url, "http://127.0.0.1:9").items()}
        env |= {k.upper(): v for k, v in telegram_twin_settings(telegram_url).items()}
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

    async def start(self) -> tuple[str, str, str, str]:
        meta_port, slack_port, telegram_port, web_port = free_port(), free_port(), free_port(), free_port()
        meta_url, slack_url = f"http://127.0.0.1:{meta_port}", f"http://127.0.0.1:{slack_port}"
        telegram_url = f"http://127.0.0.1:{telegram_port}"
        self.procs.start("meta-twin", twin_argv(meta_port), base_env())
        self.procs.start(
            "slack-twin", [sys.executable, "-m", "sandbox.slack.serve", "--port", str(slack_port)], base_env()
        )
        self.procs.start(
            "telegram-twin", [sys.executable, "-m", "sandbox.telegram.serve", "--port", str(telegram_port)], base_env()
        )
        await wait_http(meta_url, self.procs)
        await wait_twin(slack_url)
        await tg_world.wait_twin(telegram_url)
        env = self.env(meta_url, slack_url, telegram_url)
        web = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
        self.procs.start("web", [*web, "--port", str(web_port), "--no-access-log", "--log-level", "warning"], env)
        self.procs.start("workers", worker_argv(self.config.workers, self.config.worker_tasks), env)
        # The Procfile's scheduler: the `chat-alerts` sweep every minute, as in production (what a woken pass
        # leaves behind is sent by it).
        self.procs.start("scheduler", [*TASKIQ, "scheduler", *SCHEDULER_ARGS], env)
        return meta_url, slack_url, telegram_url, f"http://127.0.0.1:{web_port}"

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

    async def setup(
        self, meta_url: str, slack: SlackTwinControl, telegram: TelegramTwinControl
    ) -> tuple[ChatWorld, tg_world.TelegramWorld, list[int]]:
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
        # Telegram: people linked to Telegram users, owners of the same venue (the same week to read), and venues of
        # their own for the Telegram alerts (a venue with both a Slack channel and a Telegram chat would send each
        # alert twice and mix the two measurements).
        bot = self.settings.telegram_bot_id
        typists = await tg_world.link_typists(self.runtime, bot, ack_venue, c.typists) if c.telegram_updates else []
        chats = c.telegram_chats if c.telegram_alerts else 0
        telegram_world = tg_world.TelegramWorld(
            typists,
            await tg_world.alert_venues(self.runtime, bot, chats),
            [tg_world.alert_chat_id(i) for i in range(chats)],
        )
        await tg_world.open_chats(telegram, telegram_world)
        return world, telegram_world, connection_ids[:-1]

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

    async def sample_in_flight(self, into: list[int] | None = None) -> None:
        samples = self.results.in_flight if into is None else into
        while True:
            samples.append(await self.claimed())
            await asyncio.sleep(1.0)

    # -- 2. alert latency ------------------------------------------------------------------------------

    async def commit_alerts(self, venues: list[int], count: int, label: str, figures: AlertFigures) -> dict[int, float]:
        """`count` alerts titled "`label` #n: …", one transaction each at `--alert-rate`, round robin over `venues`;
        alert number -> its commit time (wall clock, taken just before the commit)."""
        c = self.config
        committed: dict[int, float] = {}
        started = time.perf_counter()
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / c.alert_rate - time.perf_counter()))
            venue = venues[n % len(venues)]
            async with self.runtime.uow() as uow:
                await outbox.notify(
                    uow.session, self.runtime.clock, account_id=venue, kind=NotificationKind.derivative_failed,
                    severity=Severity.error, title=f"{label} #{n}: photo {n} could not be resized",
                    payload={"bench": n},
                )  # fmt: skip
                committed[n] = time.time()  # taken before the commit: the latency includes the commit itself
                await uow.commit()
        figures.commit_seconds = time.perf_counter() - started
        progress(f"{count} {label}s committed in {figures.commit_seconds:.1f} s")
        return committed

    async def alerts(self, slack: SlackTwinControl, world: ChatWorld) -> None:
        c = self.config
        committed = await self.commit_alerts(world.alert_venues, c.alerts, "bench alert", self.results)
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
        measure_alerts(self.results, arrivals, committed, channel_of, queued, gave_up)

    async def queued(self, number: re.Pattern[str] = ALERT_NUMBER) -> set[int]:
        """Alert numbers whose message is still pending or being sent (late, not lost)."""
        query = (
            select(Notification.title)
            .join(ChatAlertDelivery, ChatAlertDelivery.notification_id == Notification.id)
            .join(ChatAlertMessage, ChatAlertMessage.id == ChatAlertDelivery.message_id)
            .where(ChatAlertMessage.status.in_((ChatMessageStatus.pending, ChatMessageStatus.sending)))
        )
        async with self.runtime.db.session() as session:
            titles = (await session.execute(query)).scalars().all()
        return {int(m.group(1)) for t in titles if (m := number.search(t))}

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

    # -- 3. Telegram webhook answers -----------------------------------------------------------------

    async def telegram_answers(
        self, web_url: str, telegram: TelegramTwinControl, world: tg_world.TelegramWorld, burst_ids: list[int]
    ) -> Batch:
        """As `acks`, for Telegram: warm-up updates one at a time, then a burst like the first and the updates at
        `--rate`, open loop; then every update's reply looked for at the twin."""
        c, r = self.config, self.telegram
        texts = [TELEGRAM_TEXTS[i % 2] for i in range(WARM_UP + c.telegram_updates)]
        updates = await tg_world.command_updates(telegram, world.typists, texts)
        r.updates = len(updates)
        url = f"{web_url}/telegram/webhook"
        async with httpx.AsyncClient(timeout=30.0) as client:
            # Unmeasured, as for Slack: the web process builds its Telegram Application (getMe) on the first update.
            for i, update in enumerate(updates[:WARM_UP]):
                started = time.perf_counter()
                response = await post_update(client, url, update)
                if i >= WARM_UP // 2:
                    r.idle.append(time.perf_counter() - started)
                if response.status_code != 200 or response.text != "ok":
                    raise RuntimeError(
                        f"Telegram update {update['message']['text']} was not answered: "
                        f"{response.status_code} {response.text[:300]}"
                    )
        batch = await create_posts(self.runtime, burst_ids, 1, "chat bench telegram burst")
        await release(self.runtime, batch, lead=0.5)
        await self.wait_claimed(min(len(burst_ids), c.workers * c.worker_tasks) // 2, within=30.0)
        published_before = await self.published(batch.first, batch.last)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:

            async def one(at: float, update: dict[str, Any]) -> None:
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                started = time.perf_counter()
                try:
                    response = await post_update(client, url, update)
                except httpx.HTTPError as exc:
                    r.failures[type(exc).__name__] += 1
                    return
                r.answers.append(time.perf_counter() - started)
                if r.answers[-1] > ACK_TARGET_P99:
                    r.slow_at.append(at - t0)
                if response.status_code != 200:
                    r.failures[f"HTTP {response.status_code}"] += 1
                elif response.text != "ok":  # 200 "failed": the update raised, Telegram must not resend it
                    r.failures[f"answered {response.text[:80]!r}"] += 1

            sampler = asyncio.create_task(self.sample_in_flight(r.in_flight))
            t0 = time.perf_counter() + 0.1
            window = time.perf_counter()
            await asyncio.gather(*(one(t0 + i / c.rate, u) for i, u in enumerate(updates[WARM_UP:])))
            window = time.perf_counter() - window
            sampler.cancel()
        r.answers.sort()
        r.idle.sort()
        done = await self.published(batch.first, batch.last) - published_before
        r.publish_rate = done / window if window > 0 else 0.0
        await self.check_replies(telegram, world, updates)
        return batch

    async def check_replies(
        self, telegram: TelegramTwinControl, world: tg_world.TelegramWorld, updates: list[dict[str, Any]]
    ) -> None:
        """Each update answered at the twin by one bot message in its chat, of its kind (`/week`: the week, `/status`:
        the problems) and not a refusal. The webhook sends its replies before answering, so they are all there by
        now. (In a private chat the bot does not quote the command, so replies are matched per chat and kind.)"""
        r = self.telegram
        sent: dict[int, Counter[str]] = {}
        for update in updates:
            message = update["message"]
            sent.setdefault(int(message["chat"]["id"]), Counter())[str(message["text"])] += 1
        for chat in world.typists:
            expected = sent.get(chat, Counter())
            got: Counter[str] = Counter()
            for message in await telegram.messages(chat):
                text = str(message.get("text") or "")
                if any(refusal in text for refusal in REFUSALS):
                    r.failures[f"refused: {text[:80]}"] += 1
                kind = "/week" if text.startswith(WEEK_ANSWER) else "/status"
                got[kind] += 1
                r.sample.setdefault(kind, text.split("\n", 1)[0][:70])
            for kind in TELEGRAM_TEXTS:
                r.replies += min(got[kind], expected[kind])
                r.replies_missing += max(0, expected[kind] - got[kind])
                r.replies_doubled += max(0, got[kind] - expected[kind])

    # -- 4. Telegram alert latency -----------------------------------------------------------------------

    async def telegram_alerts(self, telegram: TelegramTwinControl, world: tg_world.TelegramWorld) -> None:
        c, r = self.config, self.telegram
        committed = await self.commit_alerts(world.alert_venues, c.telegram_alerts, "bench telegram alert", r)
        spacing = {str(chat): TELEGRAM_SPACING[chat_kind(chat)] for chat in world.alert_chats}
        per_chat = -(-c.telegram_alerts // len(world.alert_chats))
        wait = c.wait if c.wait is not None else per_chat * max(spacing.values()) + 60.0
        r.waited = wait
        deadline = time.monotonic() + wait
        arrivals: dict[str, list[tuple[float, int]]] = {}
        last = count = -1
        while True:
            self.procs.check_alive()
            arrivals = await self.telegram_arrived(telegram)
            count = sum(len(a) for a in arrivals.values())
            if count >= c.telegram_alerts or time.monotonic() > deadline:
                break
            if count != last:
                progress(f"{count} of {c.telegram_alerts} alerts at the Telegram twin")
                last = count
            await asyncio.sleep(1.0)
        gave_up = time.time()
        queued: set[int] = set()
        if count < c.telegram_alerts:
            missing = c.telegram_alerts - count
            progress(f"stopped waiting: {missing} Telegram alerts not at the twin; messages: {await self.states()}")
            queued = await self.queued(TELEGRAM_ALERT_NUMBER)
        r.throttled = sum(1 for call in await telegram.calls() if call.get("status") == 429)
        channel_of = {n: str(world.alert_chats[n % len(world.alert_chats)]) for n in committed}
        measure_alerts(r, arrivals, committed, channel_of, queued, gave_up, spacing=spacing, per_bot=TELEGRAM_PER_BOT)
        self.telegram_limits(arrivals)

    @staticmethod
    async def telegram_arrived(telegram: TelegramTwinControl) -> dict[str, list[tuple[float, int]]]:
        """Chat id -> (arrival, alert number) of each alert the twin took (a sendMessage it answered ok), in order.
        Arrival is the twin's time of the call (its clock is this machine's)."""
        found: dict[str, list[tuple[float, int]]] = {}
        for call in await telegram.calls("sendMessage"):
            params = call.get("params") or {}
            match = TELEGRAM_ALERT_NUMBER.search(str(params.get("text") or ""))
            if match and call.get("status") == 200:
                at = datetime.fromisoformat(str(call["at"])).timestamp()
                found.setdefault(str(int(params["chat_id"])), []).append((at, int(match.group(1))))
        return {chat: sorted(messages) for chat, messages in found.items()}

    def telegram_limits(self, arrivals: dict[str, list[tuple[float, int]]]) -> None:
        """Telegram's limits checked from the arrivals: the closest two messages in a chat, per kind of chat (and
        how many pairs were closer than Telegram allows), and the most alert messages in any one second."""
        r = self.telegram
        for chat, found in arrivals.items():
            kind = chat_kind(chat)
            for (before, first_alert), (after, next_alert) in pairwise(found):
                gap = after - before
                r.closest[kind] = min(r.closest.get(kind, math.inf), gap)
                if gap < TELEGRAM_SPACING[kind]:
                    r.too_close[kind] += 1
                    r.close_pairs.append((gap, chat, first_alert, next_alert))
        r.close_pairs.sort()
        times = sorted(at for found in arrivals.values() for at, _ in found)
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            r.most_per_second = max(r.most_per_second, last - first + 1)

    # -- run -------------------------------------------------------------------------------------------

    async def run(self) -> tuple[Results, TelegramResults]:
        c = self.config
        meta_url, slack_url, telegram_url, web_url = await self.start()
        async with httpx.AsyncClient(timeout=30.0) as client:
            slack = SlackTwinControl(slack_url, client)
            telegram = TelegramTwinControl(telegram_url, client)
            meta = MetaTwinControl(meta_url, client)
            setup = time.perf_counter()
            world, telegram_world, burst_ids = await self.setup(meta_url, slack, telegram)
            await self.wait_ready(web_url)
            progress(
                f"setup: {len(burst_ids) + 1} Pages, {c.channels} alert venues, "
                f"{len(telegram_world.alert_chats)} Telegram alert venues in {time.perf_counter() - setup:.1f} s"
            )
            await meta.publishing(latency_ms=c.hold_ms)
            batch = await self.acks(web_url, slack, world, burst_ids)
            progress(f"acks done: {len(self.results.acks)} answered")
            await meta.publishing(latency_ms=0.0)  # the burst drains before the alerts are measured
            counts = await wait_settled(self.runtime, batch, within=600.0, check=self.procs.check_alive)
            progress(f"burst settled: {dict(counts)}")
            if c.telegram_updates:
                # The same conditions as the acks: a fresh burst of the same size held as long, then drained.
                await meta.publishing(latency_ms=c.hold_ms)
                batch = await self.telegram_answers(web_url, telegram, telegram_world, burst_ids)
                progress(f"Telegram updates done: {len(self.telegram.answers)} answered")
                await meta.publishing(latency_ms=0.0)
                counts = await wait_settled(self.runtime, batch, within=600.0, check=self.procs.check_alive)
                progress(f"second burst settled: {dict(counts)}")
            await self.alerts(slack, world)
            if c.telegram_alerts:
                await self.telegram_alerts(telegram, telegram_world)
        return self.results, self.telegram

    async def close(self) -> None:
        await self.broker.shutdown()
        await self.runtime.db.dispose()


def chat_kind(chat_id: int | str) -> str:
    """A Telegram chat's kind for its limits: a group's id is negative."""
    return "group" if int(chat_id) < 0 else "private"


async def post_update(client: httpx.AsyncClient, url: str, update: dict[str, Any]) -> httpx.Response:
    """One update as Telegram delivers it: JSON, with the webhook's secret in its header."""
    return await client.post(url, json=update, headers={SECRET_HEADER: TELEGRAM_SECRET})


def measure_alerts(
    r: AlertFigures,
    arrivals: dict[str, list[tuple[float, int]]],
    committed: dict[int, float],
    channel_of: dict[int, str],
    queued: set[int],
    gave_up: float,
    *,
    spacing: Mapping[str, float] | None = None,
    per_bot: int | None = None,
) -> None:
    """Latencies of the arrived alerts; one still queued counts as arriving when the bench stopped waiting
    (a lower bound); one neither arrived nor queued is lost. `spacing`: seconds between two messages per chat
    (default SPACING everywhere); `per_bot`: at most that many messages a second across all chats."""

    def space(channel: str) -> float:
        return SPACING if spacing is None else spacing[channel]

    everything = sorted(at for found in arrivals.values() for at, _ in found)
    seen = Counter(n for found in arrivals.values() for _, n in found)
    missing = [n for n in committed if n not in seen]
    r.queued = sum(1 for n in missing if n in queued)
    r.lost = len(missing) - r.queued
    r.doubled = sum(count - 1 for count in seen.values() if count > 1)
    last_at: dict[str, float] = {}
    for channel, found in arrivals.items():
        previous: float | None = None
        for at, n in found:
            allowed = committed[n] if previous is None else max(committed[n], previous + space(channel))
            if per_bot is not None:  # no earlier than a second after the per_bot-th message before it, bot-wide
                k = bisect.bisect_left(everything, at)
                if k >= per_bot:
                    allowed = max(allowed, everything[k - per_bot] + 1.0)
            r.raw.append(at - committed[n])
            r.beyond.append(at - allowed)
            previous = at
        if previous is not None:
            last_at[channel] = previous
    for n in missing:
        if n in queued:
            previous = last_at.get(channel_of[n])
            allowed = committed[n] if previous is None else max(committed[n], previous + space(channel_of[n]))
            r.raw.append(gave_up - committed[n])
            r.beyond.append(gave_up - allowed)
    by_channel: dict[str, list[float]] = {}
    for n, when in committed.items():
        by_channel.setdefault(channel_of[n], []).append(when)
    for channel, times in by_channel.items():
        ideal: float | None = None
        for when in sorted(times):
            ideal = when if ideal is None else max(when, ideal + space(channel))
            r.floor.append(ideal - when)
    r.raw.sort(), r.beyond.sort(), r.floor.sort()


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


def report(c: Config, r: Results, t: TelegramResults, errors: Counter[str]) -> int:
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
    if c.telegram_updates:
        busy = f"{min(t.in_flight)}-{max(t.in_flight)}" if t.in_flight else "n/a"
        print(
            f"3. {c.telegram_updates} Telegram updates /week|/status to POST /telegram/webhook (secret header) at "
            f"{c.rate:g}/s (open loop) by {c.typists} linked people, while a second burst of {c.burst} posts held "
            f"{c.hold_ms:g} ms each: {busy} publish deliveries in flight, {t.publish_rate:.1f} published/s meanwhile"
        )
    if c.telegram_alerts:
        groups = sum(1 for i in range(c.telegram_chats) if i % 2)
        print(
            f"4. {c.telegram_alerts} alerts to {c.telegram_chats} Telegram chats ({c.telegram_chats - groups} private, "
            f"{groups} groups), committed at {c.alert_rate:g}/s (took {t.commit_seconds:.1f} s); Telegram's limits: "
            f"1 message/s in a private chat, 1 per 3 s in a group, {TELEGRAM_PER_BOT}/s per bot"
        )
    print("answers: " + "; ".join(f"/cheers {k} -> {v!r}" for k, v in r.sample.items()))
    if t.sample:
        print("telegram answers: " + "; ".join(f"{k} -> {v!r}" for k, v in t.sample.items()))
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
        *telegram_rows(c, t),
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
    if c.telegram_updates:
        if t.slow_at:
            buckets = Counter(int(at // 5) * 5 for at in t.slow_at)
            when = ", ".join(f"{b}-{b + 5} s: {n}" for b, n in sorted(buckets.items()))
            print(f"telegram answers over {ACK_TARGET_P99 * 1000:.0f} ms: {len(t.slow_at)}, by when sent: {when}")
        print(
            f"telegram answers: {len(t.answers)} answered, {sum(t.failures.values())} failed"
            f"{f' {dict(t.failures)}' if t.failures else ''}; "
            f"replies at the twin: {t.replies} of {t.updates} updates ({WARM_UP} warm-up), {t.replies_missing} "
            f"missing, {t.replies_doubled} doubled"
        )
    if c.telegram_alerts:
        print(
            f"telegram alerts: {len(t.raw) - t.queued} arrived, {t.queued} still queued when the bench stopped waiting "
            f"({t.waited:.0f} s after the last commit), {t.lost} lost, {t.doubled} posted twice; the Telegram twin "
            f"answered {t.throttled} calls with 429"
        )
    if t.close_pairs:
        pairs = "; ".join(f"chat {chat}: #{a} and #{b} {gap:.3f} s apart" for gap, chat, a, b in t.close_pairs[:5])
        print(f"telegram alerts closer than Telegram allows ({len(t.close_pairs)}), the closest: {pairs}")
    print(f"errors logged by the processes: {dict(errors) if errors else 'none'}")
    failures = sum(r.ack_failures.values()) + r.lost + r.doubled
    failures += sum(t.failures.values()) + t.replies_missing + t.replies_doubled + t.lost + t.doubled
    return 1 if failures else 0


def telegram_rows(c: Config, t: TelegramResults) -> list[tuple[str, str, str, str]]:
    """The table's Telegram rows (none for a phase that did not run)."""
    rows: list[tuple[str, str, str, str]] = []
    if c.telegram_updates:
        p99 = percentile(t.answers, 99)
        rows += [
            ("Telegram webhook answer (sent -> answer read)", spread(t.answers, 1000, "ms"),
             f"p99 <= {ACK_TARGET_P99 * 1000:.0f} ms", verdict(p99 <= ACK_TARGET_P99)),
            (f"  same, one at a time, no burst ({len(t.idle)})", spread(t.idle, 1000, "ms"), "-", "-"),
        ]  # fmt: skip
    if c.telegram_alerts:
        late = " (>=)" if t.queued else ""
        p99 = percentile(t.beyond, 99)
        rows += [
            (f"Telegram alert latency beyond pacing{late}", spread(t.beyond, 1, "s "), f"p99 <= {ALERT_TARGET_P99:g} s",
             verdict(p99 <= ALERT_TARGET_P99)),
            (f"Telegram alert latency raw (committed -> twin){late}", spread(t.raw, 1, "s "), "-", "-"),
            ("  of which pacing alone (no app delay)", spread(t.floor, 1, "s "), "-", "-"),
        ]  # fmt: skip
        for kind in ("private", "group"):
            spacing = TELEGRAM_SPACING[kind]
            closest = t.closest.get(kind)
            value = "n/a (one message per chat)" if closest is None else f"{closest:.3f} s"
            if t.too_close[kind]:
                value += f", {t.too_close[kind]} pairs closer"
            rows.append((f"Telegram: closest two alerts in a {kind} chat", value, f">= {spacing:g} s",
                         verdict(not t.too_close[kind])))  # fmt: skip
        rows += [
            ("Telegram: most alerts in any 1 s (bot-wide)", str(t.most_per_second), f"<= {TELEGRAM_PER_BOT}",
             verdict(t.most_per_second <= TELEGRAM_PER_BOT)),
            ("Telegram: Bot API calls answered 429", str(t.throttled), "0", verdict(t.throttled == 0)),
        ]  # fmt: skip
    return rows


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
                results, telegram = await bench.run()
            except BaseException:
                for name in procs.started:
                    print(f"--- {name} log (tail)\n{procs.tail(name)}", file=sys.stderr)
                raise
            finally:
                procs.close()
                await bench.close()
                errors = logged_errors(procs)
    return report(config, results, telegram, errors)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
