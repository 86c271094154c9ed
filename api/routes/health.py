"""Liveness, readiness, service status and Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from api.observability import Metrics
from core.ops.status import service_status
from core.runtime import Runtime

READY_TIMEOUT = 3.0


@get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["health"], summary="Database and broker reachable (for load balancers)")
async def readyz(runtime: Runtime) -> Response[dict[str, Any]]:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(runtime.db.ping(), READY_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
    try:
        if runtime.queue is not None:
            await asyncio.wait_for(runtime.queue.ping(), READY_TIMEOUT)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["broker"] = f"unreachable: {exc.__class__.__name__}"
    ready = all(v == "ok" for v in checks.values())
    return Response({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


class ComponentOut(BaseModel):
    healthy: bool
    last_beat_at: datetime | None
    age_seconds: float | None
    instances: list[dict[str, Any]]


class StatusOut(BaseModel):
    status: str
    healthy: bool
    problems: list[str]
    worker: ComponentOut
    scheduler: ComponentOut
    queue_depth: int | None
    oldest_due_job: dict[str, Any] | None
    checked_at: datetime


@get("/api/status", tags=["health"], summary="Worker and scheduler heartbeats, queue depth, oldest due job")
async def status(runtime: Runtime, state: State) -> Response[StatusOut]:
    """503 when no worker or scheduler is beating, so a web process alone never looks healthy."""
    s = await service_status(runtime)
    metrics: Metrics = state.metrics
    if s.worker.age_seconds is not None:
        metrics.worker_heartbeat_age.set(s.worker.age_seconds)
    if s.queue_depth is not None:
        metrics.queue_depth.set(s.queue_depth)
    body = StatusOut(
        status="ok" if s.healthy else "degraded",
        healthy=s.healthy,
        problems=s.problems,
        worker=ComponentOut(**vars(s.worker)),
        scheduler=ComponentOut(**vars(s.scheduler)),
        queue_depth=s.queue_depth,
        oldest_due_job=s.oldest_due_job,
        checked_at=s.checked_at,
    )
    return Response(body, status_code=200 if s.healthy else 503)


@get(
    "/metrics",
    tags=["health"],
    summary="Prometheus metrics: this process's requests, and the ops figures read from the database now",
    include_in_schema=True,
)
async def metrics_endpoint(runtime: Runtime, state: State) -> Response[bytes]:
    """Job runs, task failures, open incidents, alert messages and heartbeats are read at scrape time: every web
    process serves the same figures (docs/operations.md#metrics-and-dashboard)."""
    metrics: Metrics = state.metrics
    await metrics.refresh(runtime)
    # Set the header itself: for text/* media types Litestar appends a second `charset`, which
    # Prometheus 3 rejects as an invalid Content-Type.
    return Response(
        generate_latest(metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


routes = [healthz, readyz, status, metrics_endpoint]
