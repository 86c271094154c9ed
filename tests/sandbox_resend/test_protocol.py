"""The Resend twin speaks Resend's POST /emails: the API key, the fields, the Idempotency-Key, error shapes,
faults on demand, the JSON listing and the HTML inbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.clock import FrozenClock
from tests.sandbox_resend.conftest import ResendTwin

MAIL: dict[str, Any] = {
    "from": "CheersAI <alerts@cheersai.app>",
    "to": ["sam@example.com"],
    "subject": "Job failing",
    "text": "media-derivatives failed 3 times",
    "html": "<p>media-derivatives failed 3 times</p>",
}


async def post(
    twin: ResendTwin, body: Any = None, *, key: str | None = None, auth: str | None = "default", wait: float = 10.0
) -> httpx.Response:
    headers = {}
    if auth == "default":
        headers["Authorization"] = f"Bearer {twin.api_key}"
    elif auth is not None:
        headers["Authorization"] = auth
    if key is not None:
        headers["Idempotency-Key"] = key
    async with httpx.AsyncClient(timeout=wait, trust_env=False) as client:
        return await client.post(f"{twin.url}/emails", json=MAIL if body is None else body, headers=headers)


async def test_an_email_is_stored_and_listed(resend: ResendTwin) -> None:
    response = await post(resend)
    assert response.status_code == 200, response.text
    email_id = response.json()["id"]
    [stored] = await resend.control.emails()
    assert stored["id"] == email_id
    assert (stored["to"], stored["subject"], stored["text"], stored["html"]) == (
        ["sam@example.com"], "Job failing", MAIL["text"], MAIL["html"]
    ), "the twin keeps what was sent"  # fmt: skip
    async with httpx.AsyncClient(trust_env=False) as client:
        got = await client.get(f"{resend.url}/emails/{email_id}", headers={"Authorization": f"Bearer {resend.api_key}"})
    assert got.status_code == 200 and got.json()["subject"] == "Job failing", got.text


async def test_the_api_key_is_required_and_checked(resend: ResendTwin) -> None:
    missing = await post(resend, auth=None)
    assert missing.status_code == 401 and missing.json()["name"] == "missing_api_key", missing.text
    wrong = await post(resend, auth="Bearer re_wrong")
    assert wrong.status_code == 403 and wrong.json()["name"] == "invalid_api_key", wrong.text
    assert await resend.control.emails() == [], "nothing is sent without a valid key"


async def test_missing_or_bad_fields_are_refused_with_422(resend: ResendTwin) -> None:
    no_to = await post(resend, {k: v for k, v in MAIL.items() if k != "to"})
    assert no_to.status_code == 422 and no_to.json()["name"] == "missing_required_field", no_to.text
    assert "to" in no_to.json()["message"]
    bad = await post(resend, {**MAIL, "to": ["not an address"]})
    assert bad.status_code == 422 and bad.json()["name"] == "validation_error", bad.text
    assert set(bad.json()) == {"statusCode", "name", "message"}, "Resend's error shape"
    await resend.control.refuse("sam@example.com")
    refused = await post(resend)
    assert refused.status_code == 422, refused.text
    assert await resend.control.emails() == []


async def test_the_same_idempotency_key_and_body_give_the_same_id_and_one_email(resend: ResendTwin) -> None:
    first = await post(resend, key="k-1")
    second = await post(resend, key="k-1")
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"], "a repeated key is answered with the first e-mail's id"
    assert len(await resend.control.emails()) == 1, "no second e-mail for a repeated key"
    assert [r["replayed"] for r in await resend.control.requests()] == [False, True]
    other = await post(resend, {**MAIL, "subject": "Something else"}, key="k-1")
    assert other.status_code == 409 and other.json()["name"] == "invalid_idempotent_request", other.text
    too_long = await post(resend, key="x" * 257)
    assert too_long.status_code == 400 and too_long.json()["name"] == "invalid_idempotency_key", too_long.text


async def test_the_idempotency_window_is_24_hours(resend: ResendTwin, clock: FrozenClock) -> None:
    first = await post(resend, key="k-day")
    clock.advance(hours=25)
    later = await post(resend, key="k-day")
    assert first.json()["id"] != later.json()["id"], "after 24 h the key is forgotten, as at Resend"
    assert len(await resend.control.emails()) == 2


async def test_fail_next_answers_500_and_stores_nothing(resend: ResendTwin) -> None:
    await resend.control.fail_next(2)
    statuses = [(await post(resend, key="k")).status_code for _ in range(3)]
    assert statuses == [500, 500, 200], "two failures, then it works"
    assert len(await resend.control.emails()) == 1


async def test_rate_limit_answers_429_with_retry_after(resend: ResendTwin) -> None:
    await resend.control.rate_limit(retry_after=7)
    limited = await post(resend)
    assert limited.status_code == 429, limited.text
    assert limited.headers["retry-after"] == "7"
    assert limited.json()["name"] == "rate_limit_exceeded"
    assert (await post(resend)).status_code == 200


async def test_a_lost_answer_stores_the_email_and_the_retry_gets_its_id(resend: ResendTwin) -> None:
    await resend.control.lose_answer(seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        await post(resend, key="k-lost", wait=0.3)
    [stored] = await resend.control.emails()
    retry = await post(resend, key="k-lost")
    assert retry.status_code == 200 and retry.json()["id"] == stored["id"], retry.text
    assert len(await resend.control.emails()) == 1, "the retry with the same key sent nothing new"


async def test_a_hang_outlasts_the_client_and_stores_nothing(resend: ResendTwin) -> None:
    await resend.control.hang(seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        await post(resend, key="k-hang", wait=0.3)
    assert await resend.control.emails() == []
    await resend.control.clear_faults()


async def test_the_inbox_page_lists_emails_newest_first_escaped(resend: ResendTwin) -> None:
    await post(resend, {**MAIL, "subject": "First <one>"})
    await post(resend, {**MAIL, "subject": "Second", "html": "<script>alert(1)</script><p>hi</p>"})
    async with httpx.AsyncClient(trust_env=False) as client:
        page = await client.get(f"{resend.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert body.index("Second") < body.index("First &lt;one&gt;"), "newest first, subjects escaped"
    assert "<script>alert(1)</script>" not in body, "an e-mail's HTML never runs in the inbox"
    assert "sam@example.com" in body and "media-derivatives failed 3 times" in body


async def test_reset_empties_the_twin(resend: ResendTwin) -> None:
    await post(resend, key="k")
    await resend.control.reset()
    assert await resend.control.emails() == [] and await resend.control.requests() == []
    assert (await resend.control.state())["idempotency_keys"] == 0
