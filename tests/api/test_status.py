"""Liveness, readiness, `/api/status` (heartbeats and overdue jobs), the OpenAPI document, errors and metrics."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from core.clock import FrozenClock
from core.ops.jobs import JOBS, instance_name, run_job
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from sandbox.server import free_port
from storage.queries import ops as ops_q
from tasks.heartbeat import beat_once
from tests.conftest import NO_REDIS, REDIS_UP, TEST_REDIS_URL, make_settings
from tests.factories import app_client

PROBLEM_JSON = "application/problem+json"


async def beat(runtime: Runtime, component: str, *, since: datetime | None = None) -> None:
    """A heartbeat from this process as `component`, at the clock's now (first started at `since`)."""
    await beat_once(runtime, component, since, {"broker": "InMemoryBroker"} if component == "worker" else {})


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- liveness and readiness ---


async def test_healthz_answers_ok_without_touching_anything(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200, f"/healthz should always answer 200: {r.status_code} {r.text}"
    assert r.json() == {"status": "ok"}


async def test_readyz_is_200_when_database_and_broker_answer(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, f"/readyz should be ready with a live database: {r.status_code} {r.text}"
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_UP, reason=NO_REDIS)
async def test_readyz_pings_a_real_redis_broker(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    queue = f"cheers-test:{uuid.uuid4().hex}"
    settings = make_settings(database_url, tmp_path, redis_url=TEST_REDIS_URL, cheers_task_queue=queue)
    runtime = build_runtime(settings, clock=clock)
    try:
        async with app_client(runtime) as c:
            r = await c.get("/readyz")
        assert r.status_code == 200, f"/readyz should be ready with Redis up: {r.status_code} {r.text}"
        assert r.json()["checks"] == {"database": "ok", "broker": "ok"}
    finally:
        await runtime.db.dispose()
        async with Redis.from_url(TEST_REDIS_URL) as redis:
            await redis.delete(queue)


async def test_readyz_is_503_naming_the_database_when_it_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on a port the OS just handed out and took back: connections are refused at once.
    settings = make_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x", tmp_path)
    runtime = build_runtime(settings)
    try:
        async with app_client(runtime) as c:
            r = await c.get("/readyz")
    finally:
        await runtime.db.dispose()
    assert r.status_code == 503, f"/readyz should be 503 with the database down: {r.status_code} {r.text}"
    body = r.json()
    assert body["status"] == "not ready", body
    assert body["checks"]["database"].startswith("unreachable: "), f"database check should name the failure: {body}"
    assert body["checks"]["database"] != "unreachable: ", f"database check should name the exception: {body}"
    assert body["checks"]["broker"] == "ok", f"only the database is down: {body}"


async def test_status_is_503_naming_the_database_when_it_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x", tmp_path)
    runtime = build_runtime(settings)
    try:
        async with app_client(runtime) as c:
            r = await c.get("/api/status")
    finally:
        await runtime.db.dispose()
    assert r.status_code == 503, f"/api/status should be 503 with the database down: {r.status_code} {r.text}"
    assert any(p.startswith("database unreachable") for p in r.json()["problems"]), r.json()


async def test_web_starts_with_the_broker_down_and_readyz_names_it(database_url: str, tmp_path: Path) -> None:
    # A broker outage must not stop the web tier from booting (Slack acks, OAuth callbacks).
    settings = make_settings(database_url, tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    runtime = build_runtime(settings)
    try:
        async with app_client(runtime) as c:
            health = await c.get("/healthz")
            ready = await c.get("/readyz")
    finally:
        await runtime.db.dispose()
    assert health.status_code == 200, health.text
    assert ready.status_code == 503, f"/readyz should be 503 with the broker down: {ready.text}"
    assert ready.json()["checks"]["database"] == "ok", ready.json()
    assert ready.json()["checks"]["broker"].startswith("unreachable: "), ready.json()


# --- the OpenAPI document ---


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_openapi_document_is_openapi_3_with_the_documented_paths(client: httpx.AsyncClient) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200, f"the OpenAPI document should be served: {r.status_code} {r.text[:200]}"
    doc = r.json()
    assert str(doc.get("openapi", "")).startswith("3."), f"not an OpenAPI 3 document: openapi={doc.get('openapi')}"
    assert doc["info"]["title"] == "CheersAI" and doc["info"]["version"], f"info is incomplete: {doc['info']}"
    for path in ("/healthz", "/readyz", "/api/status", "/metrics", "/api/me", "/api/accounts/{account_id}"):
        assert path in doc["paths"], f"{path} is missing from the OpenAPI paths: {sorted(doc['paths'])}"
    methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
    for path, item in doc["paths"].items():
        assert path.startswith("/"), f"path {path!r} should start with /"
        operations = {m: op for m, op in item.items() if m in methods}
        assert operations, f"{path} documents no operation"
        for method, op in operations.items():
            assert op.get("responses"), f"{method.upper()} {path} documents no responses"
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    schemas = doc["components"].get("schemas", {})
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/"), f"unexpected $ref {ref}"
        assert ref.removeprefix("#/components/schemas/") in schemas, f"$ref {ref} points at no schema"


# --- /api/status ---


async def test_status_is_200_healthy_with_fresh_worker_and_scheduler_heartbeats(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await beat(runtime, "worker")
    await beat(runtime, "scheduler")
    r = await client.get("/api/status")
    assert r.status_code == 200, f"fresh heartbeats should make the service healthy: {r.text}"
    body = r.json()
    assert body["status"] == "ok" and body["healthy"] is True and body["problems"] == [], body
    for component in ("worker", "scheduler"):
        assert body[component]["healthy"] is True, f"{component} should be healthy: {body[component]}"
        assert at(body[component]["last_beat_at"]) == clock.now(), f"{component} beat time: {body[component]}"
        assert body[component]["age_seconds"] == 0.0, body[component]
        [instance] = body[component]["instances"]
        assert instance["instance"] == instance_name(), f"{component} instance should name host:pid: {instance}"
    assert body["worker"]["instances"][0]["broker"] == "InMemoryBroker", "the beat's info should be reported"
    assert body["oldest_due_job"] is None, body
    assert body["queue_depth"] == 0, f"nothing is queued: {body}"
    assert at(body["checked_at"]) == clock.now(), body


async def test_worker_beat_counts_as_fresh_up_to_the_stale_threshold(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, settings: Settings
) -> None:
    await beat(runtime, "worker")
    await beat(runtime, "scheduler")
    clock.advance(seconds=settings.heartbeat_stale_seconds)
    r = await client.get("/api/status")
    assert r.status_code == 200, f"a beat exactly heartbeat_stale_seconds old is still fresh: {r.text}"


async def test_status_is_503_when_worker_stops_beating(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, settings: Settings
) -> None:
    await beat(runtime, "worker")
    await beat(runtime, "scheduler")
    clock.advance(seconds=settings.heartbeat_stale_seconds + 1)
    await beat(runtime, "scheduler")  # the scheduler keeps going; only the worker went quiet
    r = await client.get("/api/status")
    assert r.status_code == 503, f"a stale worker heartbeat should make the service unhealthy: {r.text}"
    body = r.json()
    assert body["status"] == "degraded" and body["healthy"] is False, body
    assert body["worker"]["healthy"] is False, body["worker"]
    assert body["worker"]["age_seconds"] == settings.heartbeat_stale_seconds + 1, body["worker"]
    assert body["scheduler"]["healthy"] is True, f"the scheduler is still beating: {body['scheduler']}"
    [problem] = body["problems"]
    assert "worker" in problem and f"{settings.heartbeat_stale_seconds + 1:.0f}s" in problem, (
        f"the problem should name the worker and how long it has been quiet: {problem}"
    )


async def test_status_is_503_naming_the_scheduler_when_none_is_running(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await beat(runtime, "worker")
    r = await client.get("/api/status")
    assert r.status_code == 503, f"no scheduler heartbeat should make the service unhealthy: {r.text}"
    body = r.json()
    assert body["worker"]["healthy"] is True, body["worker"]
    assert body["scheduler"] == {"healthy": False, "last_beat_at": None, "age_seconds": None, "instances": []}
    [problem] = body["problems"]
    assert "scheduler" in problem and "ever" in problem, f"the problem should name the missing scheduler: {problem}"


async def test_status_is_503_naming_both_when_nothing_ever_beat(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/status")
    assert r.status_code == 503, f"a web process alone must never look healthy: {r.text}"
    problems = r.json()["problems"]
    assert len(problems) == 2, problems
    assert "worker" in problems[0] and "scheduler" in problems[1], f"both missing components are named: {problems}"


async def test_status_reports_a_job_overdue_since_the_scheduler_started(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    started = clock.now()  # 12:00; housekeeping fires at minute 41 of every hour
    await beat(runtime, "scheduler", since=started)
    clock.advance(minutes=45)
    await beat(runtime, "scheduler", since=started)
    await beat(runtime, "worker")
    for name in JOBS:  # every other job is up to date, so only housekeeping is late
        if name != "housekeeping":
            await run_job(runtime, name, trigger="cron")
    r = await client.get("/api/status")
    assert r.status_code == 503, f"a job due 4 minutes ago with no run should be a problem: {r.text}"
    body = r.json()
    oldest = body["oldest_due_job"]
    assert oldest is not None, f"oldest_due_job should name the overdue job: {body}"
    assert oldest["job"] == "housekeeping", oldest
    assert at(oldest["due_at"]) == started.replace(minute=41), oldest
    assert oldest["overdue_seconds"] == 240.0, oldest
    assert body["problems"] == ["job housekeeping has been due for 240s"], body["problems"]
    assert body["worker"]["healthy"] and body["scheduler"]["healthy"], "only the job is late"

    await run_job(runtime, "housekeeping", trigger="cron")
    r = await client.get("/api/status")
    assert r.status_code == 200, f"once the job has run it is no longer overdue: {r.text}"
    assert r.json()["oldest_due_job"] is None


async def test_jobs_due_before_the_scheduler_started_are_not_overdue(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    clock.advance(minutes=45)  # 12:45: housekeeping was due at 12:41, before this scheduler existed
    await beat(runtime, "scheduler")
    await beat(runtime, "worker")
    r = await client.get("/api/status")
    assert r.status_code == 200, f"a fresh deployment should not report old fire times as overdue: {r.text}"
    assert r.json()["oldest_due_job"] is None


async def test_status_lists_each_live_instance_and_drops_long_dead_ones(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, settings: Settings
) -> None:
    async def beat_as(instance: str) -> None:
        async with runtime.uow() as uow:
            now = clock.now()
            await ops_q.beat(uow.session, component="worker", instance=instance, now=now, started_at=now, info={})
            await uow.commit()

    await beat_as("old-host:1")
    clock.advance(seconds=settings.heartbeat_stale_seconds * 10 + 1)
    await beat_as("web-1:10")
    await beat_as("web-2:20")
    await beat(runtime, "scheduler")
    r = await client.get("/api/status")
    assert r.status_code == 200, r.text
    instances = sorted(i["instance"] for i in r.json()["worker"]["instances"])
    assert instances == ["web-1:10", "web-2:20"], f"a worker silent for 10x the stale time is not listed: {instances}"


# --- errors and metrics ---


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, f"expected {status}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM_JSON), f"errors are problem+json: {r.headers['content-type']}"
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"], body
    assert body["request_id"], f"every error carries a request id: {body}"
    assert body["request_id"] == r.headers.get("x-request-id"), "the body's request_id should match X-Request-Id"
    return body


async def test_errors_are_problem_json_with_the_request_id(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/me"), 401)
    assert body["instance"] == "/api/me", body

    body = assert_problem(await client.get("/api/me", headers={"X-Request-Id": "trace-0123456789"}), 401)
    assert body["request_id"] == "trace-0123456789", "a well-formed incoming request id is kept"

    body = assert_problem(await client.get("/api/me", headers={"X-Request-Id": "no good!"}), 401)
    assert body["request_id"] != "no good!", "a malformed incoming request id is replaced"


async def test_routing_errors_are_problem_json_with_the_request_id(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/no/such/page", headers={"X-Request-Id": "trace-abcdefgh"}), 404)
    assert body["request_id"] == "trace-abcdefgh", body
    assert_problem(await client.post("/healthz"), 405)


async def test_metrics_are_prometheus_text_counting_requests_by_route(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/api/accounts/12345")).status_code == 401
    await client.get("/api/status")

    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    content_type = r.headers["content-type"]
    assert content_type.startswith("text/plain") and "version=" in content_type, content_type
    assert content_type.count("charset=") == 1, f"a repeated charset makes Prometheus reject the scrape: {content_type}"
    assert "cheers_http_requests_total" in r.text

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }

    def requests(route: str, status: str) -> float | None:
        return samples.get(("cheers_http_requests_total", (("method", "GET"), ("route", route), ("status", status))))

    assert requests("/healthz", "200") == 2.0, f"two /healthz requests were made: {sorted(samples)}"
    assert requests("/api/accounts/{account_id}", "401") == 1.0, "labelled by route template (bounded labels)"
    assert requests("/api/accounts/12345", "401") is None, "a raw id must never become a label"
    assert ("cheers_worker_heartbeat_age_seconds", ()) in samples, "the worker heartbeat gauge is exported"
    assert samples[("cheers_queue_depth", ())] == 0.0, "the status check records the queue depth"
