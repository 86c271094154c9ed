"""Request ids, one structured log line per request, and Prometheus metrics."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


def request_context_middleware(metrics: Metrics) -> Any:
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
