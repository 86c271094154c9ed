"""The planner's Alerts page: filters, read marks, the metadata diff, paging, the export and venue isolation."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.planner import alerts
from core.notifications.kinds import NotificationKind
from core.notifications.outbox import EXPORT_BATCH, EXPORT_FIELDS
from core.runtime import Runtime
from storage.models import Role, Severity
from tests import factories
from tests.planner.conftest import carry_cookies, sign_in

ALERTS = "/planner/alerts"


@dataclass
class Page:
    client: httpx.AsyncClient
    venue_id: int
    person: factories.Person
    csrf: str

    async def read(self, data: dict[str, str]) -> httpx.Response:
        """The read-mark form's post, keeping the flash cookie for the next page as a browser would."""
        r = await self.client.post(f"{ALERTS}/read", data={"csrf_token": self.csrf, **data})
        carry_cookies(self.client, r)
        return r


@pytest.fixture
async def page(runtime: Runtime, client: httpx.AsyncClient) -> Page:
    """An editor of "The Crown" signed in to the planner through a real login link."""
    venue = await factories.venue(runtime, name="The Crown")
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor, name="Eddie Editor")
    browser = await sign_in(client, runtime, editor)
    return Page(client, venue, editor, browser.csrf)


def alert_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="alert-(\d+)"', html)]


async def note(
    runtime: Runtime,
    venue: int,
    kind: NotificationKind,
    severity: Severity,
    *,
    title: str | None = None,
    subject: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """One notification recorded through the outbox; its id."""
    recorded = await factories.record_notification(
        runtime, venue, kind=kind, severity=severity, title=title, subject=subject, payload=payload
    )
    assert recorded is not None, "the notification was de-duplicated away"
    return recorded.id


async def test_the_page_lists_the_venues_alerts_newest_first_and_is_in_the_nav(runtime: Runtime, page: Page) -> None:
    ids = await factories.notifications_batch(runtime, page.venue_id, 3)
    r = await page.client.get(ALERTS)
    assert r.status_code == 200, r.text
    assert alert_ids(r.text) == ids[::-1], "the page should show every alert, newest first"
    assert '<a href="/planner/alerts" aria-current="page">Alerts</a>' in r.text, "Alerts should be in the nav"
    assert r.text.count("alert-unread") == 3, "a fresh alert is unread"


async def test_filters_by_kind_severity_and_unread(runtime: Runtime, page: Page) -> None:
    failed = await note(runtime, page.venue_id, NotificationKind.publish_failed, Severity.error, title="Failed one")
    missed = await note(runtime, page.venue_id, NotificationKind.publish_missed, Severity.warning)
    ok = await note(runtime, page.venue_id, NotificationKind.publish_succeeded, Severity.info)

    by_kind = await page.client.get(ALERTS, params={"kind": "publish_failed"})
    assert alert_ids(by_kind.text) == [failed], by_kind.text
    assert '<option value="publish_failed" selected>' in by_kind.text, "the chosen kind stays selected"
    by_severity = await page.client.get(ALERTS, params={"severity": ["warning", "error"]})
    assert alert_ids(by_severity.text) == [missed, failed]
    any_kind = await page.client.get(ALERTS, params={"kind": "", "severity": ""})
    assert alert_ids(any_kind.text) == [ok, missed, failed], "the form's empty choices mean any"

    assert (await page.read({"id": str(missed)})).status_code == 303
    unread = await page.client.get(ALERTS, params={"unread": "true"})
    assert alert_ids(unread.text) == [ok, failed], "a read alert leaves the unread filter"

    bad = await page.client.get(ALERTS, params={"kind": "nonsense"})
    assert bad.status_code == 400 and "unknown notification kind" in bad.text, bad.text
    assert "<html" in bad.text and 'name="kind"' in bad.text, "a bad filter is explained above the filter form"


async def test_read_marks_one_then_all_with_csrf(runtime: Runtime, page: Page) -> None:
    first, second, third = await factories.notifications_batch(runtime, page.venue_id, 3)

    refused = await page.client.post(f"{ALERTS}/read", data={"id": str(first)})
    assert refused.status_code == 403, "a read mark without the CSRF token must be refused"

    one = await page.read({"id": str(first), "next": f"{ALERTS}?unread=true"})
    assert one.status_code == 303 and one.headers["location"] == f"{ALERTS}?unread=true", one.headers
    shown = await page.client.get(one.headers["location"])
    assert alert_ids(shown.text) == [third, second] and "Marked read." in shown.text, shown.text

    every = await page.read({"all": "true"})
    assert every.status_code == 303
    after = await page.client.get(ALERTS)
    assert "Marked 2 alerts read." in after.text and "alert-unread" not in after.text, after.text

    htmx = await page.client.post(
        f"{ALERTS}/read", data={"all": "true"}, headers={"HX-Request": "true", "X-CSRF-Token": page.csrf}
    )
    assert htmx.status_code == 200 and "Nothing left unread." in htmx.text, "htmx gets the toast itself"


async def test_metadata_update_is_shown_as_a_before_after_diff(runtime: Runtime, page: Page) -> None:
    diff = {
        "display_name": ["Crown (old)", "The Crown"],
        "scopes": [["pages_show_list"], ["pages_show_list", "business_management"]],
        "user_token_expires_at": [None, "2027-01-04T10:00:00+00:00"],
    }
    await note(
        runtime,
        page.venue_id,
        NotificationKind.connection_metadata_updated,
        Severity.info,
        title="Facebook Page The Crown reconnected",
        subject={"connection_id": 7},
        payload={"diff": diff, "source": "backfill"},
    )
    html = (await page.client.get(ALERTS)).text
    assert "What changed (filled in by the metadata backfill)" in html, html
    rows = re.findall(r'<th scope="row">(.*?)</th>\s*<td><del>(.*?)</del></td>\s*<td><ins>(.*?)</ins>', html)
    assert rows == [
        ("Name", "Crown (old)", "The Crown"),
        ("Permissions", "pages_show_list", "pages_show_list, business_management"),
        ("Login expires", "(none)", "2027-01-04T10:00:00+00:00"),
    ], rows
    assert "added: business_management" in html and "{&#39;diff" not in html and "'diff'" not in html


async def test_pages_beyond_the_latest_50(runtime: Runtime, page: Page) -> None:
    ids = await factories.notifications_batch(runtime, page.venue_id, 120, kind=NotificationKind.publish_failed)
    seen: list[int] = []
    url: str | None = f"{ALERTS}?kind=publish_failed"
    pages = 0
    while url is not None:
        r = await page.client.get(url)
        assert r.status_code == 200, r.text
        shown = alert_ids(r.text)
        assert len(shown) <= alerts.PAGE_SIZE
        seen += shown
        pages += 1
        older = re.search(r'<a class="button secondary" href="([^"]+)" rel="next">', r.text)
        url = older.group(1).replace("&amp;", "&") if older else None
        assert url is None or "kind=publish_failed" in url, "paging keeps the filters"
        assert pages < 10, "paging never ended"
    assert pages == 3 and seen == ids[::-1], f"all 120 alerts over 3 pages, newest first; got {len(seen)}"


async def test_export_downloads_every_alert_in_both_formats(runtime: Runtime, page: Page) -> None:
    count = EXPORT_BATCH + 20  # more than one batch from the database
    ids = await factories.notifications_batch(runtime, page.venue_id, count)
    html = (await page.client.get(ALERTS)).text
    links = {m.group(1): m.group(0) for m in re.finditer(r'href="(/api/notifications/export\?[^"]+)"', html)}
    csv_link = next(u for u in links if "format=csv" in u).replace("&amp;", "&")
    jsonl_link = next(u for u in links if "format=jsonl" in u).replace("&amp;", "&")

    jsonl = await page.client.get(jsonl_link)
    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert jsonl.headers["content-disposition"] == f'attachment; filename="notifications-venue-{page.venue_id}.jsonl"'
    assert [json.loads(line)["id"] for line in jsonl.text.splitlines()] == ids, "every alert, oldest first"

    as_csv = await page.client.get(csv_link)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == f'attachment; filename="notifications-venue-{page.venue_id}.csv"'
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == EXPORT_FIELDS and [int(r[0]) for r in rows[1:]] == ids, f"{len(rows) - 1} rows, not {count}"


async def test_another_venues_alerts_are_never_shown(runtime: Runtime, page: Page) -> None:
    theirs = await factories.venue(runtime, name="The Anchor")
    hidden = await note(runtime, theirs, NotificationKind.publish_failed, Severity.error, title="Anchor secret")
    mine = await note(runtime, page.venue_id, NotificationKind.publish_failed, Severity.error)

    html = (await page.client.get(ALERTS)).text
    assert alert_ids(html) == [mine] and "Anchor secret" not in html
    other = await page.client.get(ALERTS, params={"venue": theirs})
    assert other.status_code == 404 and "Anchor secret" not in other.text, other.status_code
    marked = await page.read({"id": str(hidden)})
    shown = await page.client.get(marked.headers["location"])
    assert "It was read already." in shown.text, "marking another venue's alert must change nothing"
    export = await page.client.get("/api/notifications/export", params={"account": theirs})
    assert export.status_code == 404 and "Anchor secret" not in export.text
