"""Request ids, one structured log line per request, and Prometheus metrics (this process's requests, and the
ops figures every process shares, read from the database at scrape time)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from core.ops import figures as figures_core
from core.ops.figures import Figures
from core.runtime import Runtime

log = structlog.get_logger("api.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# The one label of every request no route matched, however many different paths they used.
UNMATCHED = "unmatched"
# Methods are labels too: an invented one is counted as "other", not as a new label value.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """A registry per app, so several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cheers_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "cheers_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )
        self.worker_heartbeat_age = Gauge(
            "cheers_worker_heartbeat_age_seconds", "Age of the newest worker heartbeat", registry=self.registry
        )
        self.queue_depth = Gauge("cheers_queue_depth", "Tasks waiting or in flight", registry=self.registry)
        self.ops = OpsFigures()
        self.registry.register(self.ops)

    async def refresh(self, runtime: Runtime) -> None:
        """Read the ops figures for this scrape (the old worker gauge follows them, so it is never stale)."""
        await self.ops.refresh(runtime)
        worker_age = self.ops.figures.heartbeat_age_seconds.get("worker") if self.ops.figures else None
        if worker_age is not None:
            self.worker_heartbeat_age.set(worker_age)


# Ops figures: (name, help, labels). Gauges, not counters: they are counts over trailing windows and states read
# from rows that housekeeping deletes, the same in every web process (docs/decisions.md "Part D").
OPS_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cheers_job_runs": ("Periodic job runs started in the trailing window, by outcome", ("job", "outcome", "window")),
    "cheers_task_runs": ("Task runs in the trailing window, every worker process", ("task", "window")),
    "cheers_task_failures": ("Task runs that raised in the trailing window", ("task", "window")),
    "cheers_incidents_open": ("Open incidents by rule and severity", ("rule", "severity")),
    "cheers_alert_messages": (
        "Alert messages made in the trailing window by where they go and their status now",
        ("channel", "status", "window"),
    ),
    "cheers_alert_oldest_due_age_seconds": (
        "How long the longest-waiting due alert message has waited (0: none)",
        ("channel",),
    ),
    "cheers_deliveries_due": ("Post deliveries due and not picked up by a worker", ()),
    "cheers_deliveries_oldest_due_age_seconds": ("How long the oldest due post delivery has waited (0: none)", ()),
    "cheers_heartbeat_age_seconds": ("Age of the newest heartbeat of a component (absent: never beat)", ("component",)),
    "cheers_ops_figures_up": ("1 when this scrape read the ops figures from the database, else 0", ()),
    "cheers_ops_figures_read_seconds": ("How long reading the ops figures took", ()),
}
# A scrape must answer within Prometheus' default 10 s timeout even when the database does not.
FIGURES_TIMEOUT = 5.0


class OpsFigures:
    """A Prometheus collector serving the figures the last `refresh` read (none when it failed: `up` says 0)."""

    def __init__(self) -> None:
        self.figures: Figures | None = None
        self.read_seconds = 0.0

    async def refresh(self, runtime: Runtime) -> None:
        started = time.perf_counter()
        try:
            self.figures = await asyncio.wait_for(figures_core.read(runtime), FIGURES_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a scrape still serves the request metrics and says up 0
            self.figures = None
            log.warning("ops_figures_unreadable", error=exc.__class__.__name__, detail=str(exc)[:200])
        self.read_seconds = time.perf_counter() - started

    def describe(self) -> Iterator[Metric]:
        for name, (doc, labels) in OPS_FAMILIES.items():
            yield GaugeMetricFamily(name, doc, labels=list(labels))

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        yield self._family("cheers_ops_figures_up", [((), 0.0 if f is None else 1.0)])
        yield self._family("cheers_ops_figures_read_seconds", [((), self.read_seconds)])
        if f is None:
            return
        task_window = figures_core.TASK_WINDOW[0]
        alert_window = figures_core.ALERT_WINDOW[0]
        yield self._family("cheers_job_runs", [(key, n) for key, n in sorted(f.job_runs.items())])
        yield self._family("cheers_task_runs", [((t, task_window), n) for t, n in sorted(f.task_runs.items())])
        yield self._family("cheers_task_failures", [((t, task_window), n) for t, n in sorted(f.task_failures.items())])
        yield self._family("cheers_incidents_open", sorted(f.open_incidents.items()))
        yield self._family(
            "cheers_alert_messages", [((c, s, alert_window), n) for (c, s), n in sorted(f.alert_messages.items())]
        )
        yield self._family(
            "cheers_alert_oldest_due_age_seconds",
            [((c,), age) for c, age in sorted(f.alert_oldest_due_seconds.items())],
        )
        yield self._family("cheers_deliveries_due", [((), f.deliveries_due)])
        yield self._family("cheers_deliveries_oldest_due_age_seconds", [((), f.deliveries_oldest_due_seconds)])
        yield self._family(
            "cheers_heartbeat_age_seconds", [((c,), age) for c, age in sorted(f.heartbeat_age_seconds.items())]
        )

    @staticmethod
    def _family(name: str, samples: list[tuple[tuple[str, ...], float]]) -> GaugeMetricFamily:
        doc, labels = OPS_FAMILIES[name]
        family = GaugeMetricFamily(name, doc, labels=list(labels))
        for values, value in samples:
            family.add_metric(list(values), float(value))
        return family


def request_id_from(incoming: str) -> str:
    """The caller's X-Request-Id when it is well-formed, else a fresh one."""
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def route_label(scope: Mapping[str, object]) -> str:
    """The matched route's template: a bounded label that never holds an id or a login or media token."""
    # Litestar sets the template when it routes; a path nothing matched must not mint a label of its own.
    template = scope.get("path_template")
    return template if isinstance(template, str) and template else UNMATCHED


def method_label(method: str) -> str:
    """The request's method, or "other" for one HTTP does not define for this API."""
    return method if method in _METHODS else "other"


def count_unmatched(metrics: Metrics, method: str, status: int) -> None:
    """Count a request that no route matched (404, 405): routing refuses it before the middleware runs."""
    metrics.requests.labels(method_label(method), UNMATCHED, str(status)).inc()


def request_context_middleware() -> Any:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            raw_method: str = scope.get("method", "")
            method = method_label(raw_method)
            headers = dict(scope.get("headers") or [])
            incoming = headers.get(b"x-request-id", b"").decode("latin-1")
            request_id = request_id_from(incoming)
            scope.setdefault("state", {})["request_id"] = request_id
            structlog.contextvars.bind_contextvars(request_id=request_id)
            started = time.perf_counter()
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                elapsed = time.perf_counter() - started
                route = route_label(scope)
                metrics: Metrics = scope["app"].state.metrics  # the app's own (a test's app gets fresh ones)
                metrics.requests.labels(method, route, str(status)).inc()
                metrics.latency.labels(method, route).observe(elapsed)
                log.info(
                    "http_request",
                    method=raw_method,
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                )
                structlog.contextvars.unbind_contextvars("request_id")

        return middleware

    return factory
