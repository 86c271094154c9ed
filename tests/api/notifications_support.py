"""What the notification feed and export tests share: the endpoints, paging through the feed, problem checks."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories

FEED = "/api/notifications"
EXPORT = "/api/notifications/export"
PROBLEM_JSON = "application/problem+json"


async def get_page(client: httpx.AsyncClient, who: factories.Person, **params: Any) -> dict[str, Any]:
    r = await client.get(FEED, params=params, headers=who.headers)
    assert r.status_code == 200, f"feed request {params} failed: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


async def walk(client: httpx.AsyncClient, who: factories.Person, **params: Any) -> list[list[int]]:
    """Follow next_cursor from the first page to the end; the ids of each page."""
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        body = await get_page(client, who, **params, **({"cursor": cursor} if cursor else {}))
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "pagination never ended"


def flat(pages: list[list[int]]) -> list[int]:
    return [i for page in pages for i in page]


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM_JSON), f"expected problem+json, got {r.headers['content-type']}"
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"], f"problem body incomplete: {body}"
    return body


# --- the feed -------------------------------------------------------------------------------------------------------
