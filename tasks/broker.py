"""The one broker module: `create_broker` builds the broker the settings ask for."""

from __future__ import annotations

import structlog
from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState
from taskiq.brokers.shared_broker import async_shared_broker
from taskiq_redis import RedisStreamBroker

from bot.slack.sender import install_slack_sender
from bot.telegram.sender import install_telegram_sender
from core.logging import configure_logging
from core.ops import watch as ops_watch
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from tasks import chat as _chat_tasks  # noqa: F401 - registers the chat-alerts-deliver task
from tasks import email as _email_tasks  # noqa: F401 - registers the emails-deliver task
from tasks import media as _media_tasks  # noqa: F401 - registers the media-derivatives task
from tasks import ops as _ops_tasks  # noqa: F401 - registers the ops-alerts-deliver task
from tasks import periodic
from tasks import publish as _publish_tasks  # noqa: F401 - registers the publish-delivery task
from tasks import slack as _slack_tasks  # noqa: F401 - registers the slack-turn task
from tasks import telegram as _telegram_tasks  # noqa: F401 - registers the telegram-turn task
from tasks import weekly as _weekly_tasks  # noqa: F401 - registers the weekly-materialise-venue task
from tasks.dispatcher import DispatcherLoop
from tasks.heartbeat import HeartbeatLoop
from tasks.monitoring import TaskMonitor
from tasks.queue import TaskiqQueue

log = structlog.get_logger(__name__)


def create_broker(settings: Settings | None = None, runtime: Runtime | None = None) -> AsyncBroker:
    """Redis stream broker (acknowledged, redelivered) when REDIS_URL is set, else in-memory.

    Given a runtime (the web process in `make dev`), workers share it; otherwise each worker
    process builds its own at startup.
    """
    settings = settings or (runtime.settings if runtime else Settings())
    broker: AsyncBroker
    if settings.redis_url:
        broker = RedisStreamBroker(
            settings.redis_url,
            queue_name=settings.cheers_task_queue,
            consumer_group_name="cheers-workers",
            # Unacknowledged tasks (their worker died) go to another worker after this long.
            idle_timeout=round(settings.cheers_task_redeliver_seconds * 1000),
            unacknowledged_lock_timeout=30,
        )
    else:
        broker = InMemoryBroker(await_inplace=False)
    periodic.register_all()
    async_shared_broker.default_broker(broker)

    # Every task run is timed and counted (failures logged); the worker's heartbeat loop flushes the counts.
    monitor = TaskMonitor()
    broker.add_middlewares(monitor)
    heartbeat: dict[str, HeartbeatLoop] = {}
    dispatchers: dict[str, DispatcherLoop] = {}

    async def on_worker_startup(state: TaskiqState) -> None:
        if getattr(state, "runtime", None) is not None:
            return  # the scheduler starts the broker a second time in `make dev`
        rt = runtime
        if rt is None:
            configure_logging(settings.cheers_log_level, settings.cheers_log_format, worker=broker.is_worker_process)
            settings.check_safe_for_production()
            rt = build_runtime(settings, worker=broker.is_worker_process)
        rt.queue = TaskiqQueue(broker)
        install_slack_sender(rt)
        install_telegram_sender(rt)  # only when CHEERS_TELEGRAM_BOT_TOKEN is set
        state.runtime = rt
        # The in-memory broker runs worker events in any process that starts it; only a process
        # that really takes work (worker CLI, `make dev`) may claim to be a worker.
        if broker.is_worker_process:
            heartbeat["loop"] = HeartbeatLoop(
                rt, "worker", {"broker": type(broker).__name__}, stats=monitor.buffer, watch=ops_watch.cycle
            )
            heartbeat["loop"].start()
            if settings.cheers_dispatcher_in_workers:
                dispatchers["loop"] = DispatcherLoop(rt)
                dispatchers["loop"].start()
            log.info("worker_started", broker=type(broker).__name__)

    async def on_worker_shutdown(state: TaskiqState) -> None:
        if "loop" in dispatchers:
            await dispatchers.pop("loop").stop()
        if "loop" in heartbeat:
            await heartbeat.pop("loop").stop()
        if runtime is None and getattr(state, "runtime", None) is not None:
            await state.runtime.close()
        log.info("worker_stopped")

    async def on_client_startup(state: TaskiqState) -> None:
        # The scheduler and the web process are clients: they need the runtime but no heartbeat loop.
        if getattr(state, "runtime", None) is None:
            if runtime is None:
                configure_logging(settings.cheers_log_level, settings.cheers_log_format)
                settings.check_safe_for_production()
            state.runtime = runtime or build_runtime(settings)
            state.runtime.queue = TaskiqQueue(broker)

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, on_worker_startup)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, on_worker_shutdown)
    if not isinstance(broker, InMemoryBroker):
        broker.add_event_handler(TaskiqEvents.CLIENT_STARTUP, on_client_startup)
    return broker
