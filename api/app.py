"""`create_app()`: the Litestar application factory (nothing connects at import time)."""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from api.apidocs import api_reference_assets, api_reference_plugins
from api.deps import base_dependencies
from api.form_upload import FORM_OVERHEAD_BYTES
from api.observability import Metrics, request_context_middleware
from api.planner.pages import planner_router
from api.planner.render import STATIC, template_config
from api.problems import exception_handlers
from api.routes import (
    accounts,
    audit,
    chat,
    connections,
    health,
    invitations,
    login,
    me,
    media,
    media_files,
    notifications,
    oauth,
    ops,
    packages,
    posts,
    slack,
    targets,
    weekly,
)
from bot.slack.litestar import close_front
from bot.telegram import webhook as telegram_webhook
from core.logging import configure_logging
from core.runtime import Runtime, build_runtime
from core.settings import Settings

log = structlog.get_logger(__name__)

MAX_REQUEST_BODY = 1024 * 1024  # JSON bodies; media uploads get their own streamed limit
SERVING_KEY = "serving"


@dataclass
class _Serving:
    """The runtime an app serves: the one given to `create_app`, or None (one built at start-up)."""

    runtime: Runtime | None


def settle_heap() -> None:
    """Hide what is alive once the web process has started (modules, the app, the runtime: ~270k objects) from the
    garbage collector (`gc.freeze`), so a full collection walks only what requests made. Without it, a page that
    makes many objects (the planner's week of 500 posts) sets off full collections over the whole start-up heap,
    200-600 ms each on a busy machine: the week's p95 (bench/planner_week.py, docs/performance.md)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    inprocess_workers: bool = False,
    configure_logs: bool = True,
) -> Litestar:
    """Build the web app. With `inprocess_workers`, the worker and scheduler run inside it (`make dev`)."""
    settings = settings or (runtime.settings if runtime else Settings())
    settings.check_safe_for_production()
    if configure_logs:
        configure_logging(settings.cheers_log_level, settings.cheers_log_format)
    serving = _Serving(runtime)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        runtime = serving.runtime
        rt = runtime or build_runtime(settings)
        served = rt.settings  # a runtime handed over by serve_runtime brings its own settings
        app.state.runtime = rt
        workers = None
        client_broker = None
        if inprocess_workers:
            from tasks.inprocess import InProcessWorkers

            workers = InProcessWorkers(rt)
            await workers.start()
        elif rt.queue is None:
            from tasks.broker import create_broker
            from tasks.queue import TaskiqQueue

            client_broker = create_broker(served, rt)
            rt.queue = TaskiqQueue(client_broker)
            try:
                await client_broker.startup()
            except Exception as exc:  # noqa: BLE001 - serve anyway; /readyz reports the broker
                log.warning("broker_unreachable_at_startup", error=exc.__class__.__name__)
        if runtime is None:  # a server process (uvicorn, make dev); tests pass their runtime and start many apps
            settle_heap()
        log.info(
            "web_started",
            public_url=served.cheers_public_url,
            env=served.cheers_env.value,
            database=rt.db.dialect,
            inprocess_workers=inprocess_workers,
        )
        try:
            yield
        finally:
            if workers is not None:
                await workers.stop()
            if client_broker is not None:
                await client_broker.shutdown()
            if runtime is None:
                await rt.close()
            log.info("web_stopped")

    return Litestar(
        route_handlers=[
            *health.routes,
            api_reference_assets(),
            *login.routes,
            *me.routes,
            *chat.routes,
            *accounts.routes,
            *invitations.routes,
            *notifications.routes,
            *audit.routes,
            *ops.routes,
            *connections.routes,
            *oauth.routes,
            *media_files.routes,
            *media.routes,
            *posts.routes,
            *packages.routes,
            *targets.routes,
            *weekly.routes,
            *slack.routes,
            *telegram_webhook.routes,
            planner_router(),
            create_static_files_router(path="/static", directories=[STATIC], name="static"),
            # Uploads stream to the blob store; only this route accepts bodies up to the media limit.
            Router(
                path="/",
                route_handlers=media.upload_routes,
                # The file limit is enforced on the file's own bytes as they stream in (raw or in a form);
                # the body may be a little larger for a form's boundaries and part headers.
                request_max_body_size=settings.media_max_upload_bytes + FORM_OVERHEAD_BYTES,
            ),
        ],
        dependencies=base_dependencies(),
        exception_handlers=exception_handlers(),
        middleware=[request_context_middleware()],
        template_config=template_config(),
        lifespan=[lifespan],
        on_shutdown=[close_front, telegram_webhook.close_front],  # Slack's HTTP session, Telegram's Application
        state=State({"metrics": Metrics(), SERVING_KEY: serving}),
        request_max_body_size=MAX_REQUEST_BODY,
        openapi_config=OpenAPIConfig(
            title="CheersAI",
            version="0.1.0",
            description="Chat-first social publishing for pubs, bars and restaurants.",
            path="/schema",
            render_plugins=api_reference_plugins(),  # served from this app: the page works offline
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")},
            ),
            security=[{"bearer": []}],
        ),
        logging_config=None,  # core.logging owns logging: one JSON event per line
        debug=False,
    )


def serve_runtime(app: Litestar, runtime: Runtime) -> None:
    """Point an app that `create_app(runtime=...)` built, and that is not running, at another runtime, with fresh
    state (metrics, chat fronts). Building an app costs ~0.15 s of CPU (300 handlers' signatures), so the tests
    build one per process and hand each test its own runtime (tests/factories.py, docs/ci.md)."""
    serving: _Serving = app.state[SERVING_KEY]
    if serving.runtime is None:
        raise ValueError("an app that builds its own runtime at start-up cannot be handed another")
    runtime.settings.check_safe_for_production()
    app.state.clear()
    app.state.update({"metrics": Metrics(), SERVING_KEY: serving})
    serving.runtime = runtime
