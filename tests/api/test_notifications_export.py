"""The notification export: a venue's whole history as JSON lines or CSV, oldest first, streamed."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from core.clock import FrozenClock
from core.notifications.kinds import NotificationKind
from core.notifications.outbox import EXPORT_FIELDS
from core.runtime import Runtime
from storage.models import Role, Severity
from tests import factories
from tests.api.notifications_support import EXPORT, assert_problem


async def test_jsonl_export_streams_everything_oldest_first(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue, role=Role.viewer)
    created = await factories.notifications_batch(
        runtime, venue, 1200, kind=NotificationKind.publish_failed, severity=Severity.error
    )

    r = await client.get(EXPORT, params={"format": "jsonl"}, headers=me.headers)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert r.headers["content-disposition"] == f'attachment; filename="notifications-venue-{venue}.jsonl"'
    lines = r.text.splitlines()
    assert len(lines) == 1200, f"the export should hold all 1200 notifications, not {len(lines)} (a page?)"
    records = [json.loads(line) for line in lines]
    assert [rec["id"] for rec in records] == created, "the export should be every notification, oldest first"
    assert list(records[0]) == EXPORT_FIELDS
    assert records[7]["payload"] == {"i": 7} and records[7]["kind"] == "publish_failed"
    assert records[7]["severity"] == "error" and records[7]["dedup_key"] is None


async def test_csv_export_streams_everything_with_a_header(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    created = await factories.notifications_batch(runtime, venue, 1200)

    r = await client.get(EXPORT, params={"format": "csv"}, headers=me.headers)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="notifications-venue-{venue}.csv"'
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == EXPORT_FIELDS, f"the first CSV row should be the header, got {rows[0]}"
    data = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(data) == 1200, f"the CSV should hold all 1200 notifications, not {len(data)}"
    assert [int(d["id"]) for d in data] == created, "the CSV should be every notification, oldest first"
    assert json.loads(data[42]["payload"]) == {"i": 42} and json.loads(data[42]["subject"]) == {}
    assert data[42]["dedup_key"] == "", "a missing dedup key should be an empty cell"


async def test_export_defaults_to_jsonl(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 2)
    r = await client.get(EXPORT, headers=me.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson"), r.headers
    assert len(r.text.splitlines()) == 2


async def test_export_of_an_empty_venue(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    jsonl = await client.get(EXPORT, params={"format": "jsonl"}, headers=me.headers)
    assert jsonl.status_code == 200 and jsonl.text == "", "an empty venue exports no lines"
    csv_r = await client.get(EXPORT, params={"format": "csv"}, headers=me.headers)
    assert list(csv.reader(io.StringIO(csv_r.text))) == [EXPORT_FIELDS], "an empty CSV export is just the header"


@pytest.mark.parametrize("fmt", ["xml", "CSV", "json", ""])
async def test_export_with_a_bad_format_answers_422(runtime: Runtime, client: httpx.AsyncClient, fmt: str) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    body = assert_problem(await client.get(EXPORT, params={"format": fmt}, headers=me.headers), 422)
    assert body.get("field") == "format" and "csv or jsonl" in body["detail"], body


async def test_export_never_includes_another_venue(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine)
    my_ids: list[int] = []
    for _ in range(3):
        my_ids += await factories.notifications_batch(runtime, mine, 2)
        await factories.notifications_batch(runtime, theirs, 2)
    r = await client.get(EXPORT, headers=me.headers)
    assert [json.loads(line)["id"] for line in r.text.splitlines()] == my_ids, "the export leaked another venue"
    assert_problem(await client.get(EXPORT, params={"account": theirs}, headers=me.headers), 404)


async def test_export_filters_by_kind_and_since(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 2, kind=NotificationKind.publish_failed)
    clock.advance(hours=1)
    cut = clock.now()
    later_failed = await factories.notifications_batch(runtime, venue, 3, kind=NotificationKind.publish_failed)
    await factories.notifications_batch(runtime, venue, 2, kind=NotificationKind.queue_stalled)

    r = await client.get(EXPORT, params={"kind": "publish_failed", "since": cut.isoformat()}, headers=me.headers)
    assert r.status_code == 200, r.text
    assert [json.loads(line)["id"] for line in r.text.splitlines()] == later_failed

    naive = await client.get(EXPORT, params={"since": "2026-11-25T11:00:00"}, headers=me.headers)
    assert_problem(naive, 422)


async def test_feed_and_export_filter_by_severity(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.notifications_batch(runtime, venue, 2, severity=Severity.info)
    errors = await factories.notifications_batch(
        runtime, venue, 2, kind=NotificationKind.publish_failed, severity=Severity.error
    )
    warnings = await factories.notifications_batch(
        runtime, venue, 1, kind=NotificationKind.publish_missed, severity=Severity.warning
    )

    r = await client.get(EXPORT, params={"severity": ["error", "warning"]}, headers=me.headers)
    assert r.status_code == 200, r.text
    assert [json.loads(line)["id"] for line in r.text.splitlines()] == errors + warnings
    feed = await client.get("/api/notifications", params={"severity": "error"}, headers=me.headers)
    assert [i["id"] for i in feed.json()["items"]] == errors[::-1], feed.text

    for url in (EXPORT, "/api/notifications"):
        body = assert_problem(await client.get(url, params={"severity": "loud"}, headers=me.headers), 400)
        assert "unknown severity 'loud'" in body["detail"], body
