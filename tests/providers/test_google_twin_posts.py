"""The Google twin's v4 local posts speak Google's protocol: checked with plain httpx, no adapter involved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio

from sandbox.google.twin import POSTS_API, GoogleTwinControl, GoogleTwinState, PostSettings, running_google_twin
from tests.providers.google_support import (
    BUSINESS_MANAGE,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    follow_consent,
    pkce_pair,
)
from tests.timing import HELD, IMPATIENT

Twin = tuple[str, GoogleTwinControl, GoogleTwinState]
LOCATION = "accounts/1000/locations/2001"
OTHER_LOCATION = "accounts/1000/locations/2002"
PHOTO = {"mediaFormat": "PHOTO", "sourceUrl": "https://cdn.example.com/quiz.jpg"}
SCHEDULE = {
    "startDate": {"year": 2026, "month": 5, "day": 1},
    "startTime": {"hours": 19, "minutes": 30, "seconds": 0, "nanos": 0},
    "endDate": {"year": 2026, "month": 5, "day": 1},
    "endTime": {"hours": 23, "minutes": 0, "seconds": 0, "nanos": 0},
}

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running_twin() -> AsyncIterator[Twin]:
    async with running_google_twin() as running:
        yield running


@pytest.fixture
def twin(running_twin: Twin) -> Twin:
    running_twin[2].reset()
    return running_twin


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def auth(twin: Twin, http: httpx.AsyncClient) -> dict[str, str]:
    """An Authorization header for the default owner, from a real consent and code exchange."""
    url = twin[0]
    verifier, challenge = pkce_pair()
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": BUSINESS_MANAGE,
        "access_type": "offline",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    callback = await follow_consent(http, f"{url}/o/oauth2/v2/auth?{urlencode(query)}")
    form = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code_verifier": verifier,
    }
    answer = await http.post(f"{url}/token", data=form)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def post_body(summary: str = "Quiz night from 8pm", **extra: Any) -> dict[str, Any]:
    return {"languageCode": "en", "summary": summary, "topicType": "STANDARD", **extra}


async def create(
    http: httpx.AsyncClient, twin: Twin, auth: dict[str, str], body: Any, location: str = LOCATION
) -> httpx.Response:
    return await http.post(f"{twin[0]}/{POSTS_API}/v4/{location}/localPosts", json=body, headers=auth)


async def created(http: httpx.AsyncClient, twin: Twin, auth: dict[str, str], body: Any) -> dict[str, Any]:
    response = await create(http, twin, auth, body)
    assert response.status_code == 200, f"create should succeed: {response.text}"
    resource: dict[str, Any] = response.json()
    return resource


async def read(http: httpx.AsyncClient, twin: Twin, auth: dict[str, str], path: str, **query: Any) -> httpx.Response:
    return await http.get(f"{twin[0]}/{POSTS_API}/v4/{path}", params=query, headers=auth)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def error_text(response: httpx.Response) -> str:
    """Status, message and field violations of a google.rpc.Status answer, as one line."""
    error = error_of(response)
    details = error.get("details", [])
    violations = [f"{v['field']}: {v['description']}" for d in details for v in d.get("fieldViolations", [])]
    return " | ".join([error["status"], error["message"], *violations])


async def test_a_new_post_is_processing_then_live_after_the_delay(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    _, control, _ = twin
    post = await created(http, twin, auth, post_body(media=[PHOTO]))
    assert post["name"].startswith(f"{LOCATION}/localPosts/"), post["name"]
    assert post["state"] == "PROCESSING" and post["createTime"] == post["updateTime"]
    assert post["createTime"].endswith("Z") and "lpsid=" in post["searchUrl"]
    assert post["media"][0]["sourceUrl"] == PHOTO["sourceUrl"] and post["media"][0]["googleUrl"]

    still = await read(http, twin, auth, post["name"])
    assert still.json()["state"] == "PROCESSING", "a post must not go live before the twin's delay"
    await control.advance_clock(PostSettings().live_after_seconds + 1)
    live = (await read(http, twin, auth, post["name"])).json()
    assert live["state"] == "LIVE" and live["updateTime"] > live["createTime"]
    assert await control.visible_post_count("2001") == 1


async def test_list_is_newest_first_and_pages_by_twenty(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    _, control, _ = twin
    await control.configure_posts(PostSettings(edits_per_minute=100))
    names = [(await created(http, twin, auth, post_body(f"post {i}")))["name"] for i in range(23)]
    first = (await read(http, twin, auth, f"{LOCATION}/localPosts")).json()
    assert [p["name"] for p in first["localPosts"]] == names[::-1][:20], "default page is the newest 20"
    rest = (await read(http, twin, auth, f"{LOCATION}/localPosts", pageToken=first["nextPageToken"])).json()
    assert [p["name"] for p in rest["localPosts"]] == names[::-1][20:] and "nextPageToken" not in rest
    too_big = await read(http, twin, auth, f"{LOCATION}/localPosts", pageSize=101)
    assert too_big.status_code == 400, "pageSize is capped at 100"
    assert (await read(http, twin, auth, f"{OTHER_LOCATION}/localPosts")).json() == {}


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (post_body("x" * 1501), 400, "Must be at most 1500 characters"),
        ({"summary": "no topic"}, 400, "topic_type"),
        (post_body(topicType="NEWS"), 400, "Invalid value at 'local_post.topic_type'"),
        (post_body(topicType="EVENT"), 400, "Event is required for EVENT posts"),
        (post_body(topicType="OFFER"), 400, "Event is required for OFFER posts"),
        (
            post_body(
                topicType="EVENT",
                event={"title": "Quiz", "schedule": {**SCHEDULE, "endDate": {"year": 2026, "month": 2, "day": 30}}},
            ),
            400,
            "Invalid date or time",
        ),
        (
            post_body(topicType="EVENT", event={"title": "Quiz", "schedule": {"startDate": SCHEDULE["startDate"]}}),
            400,
            "event.schedule.startTime",
        ),
        (post_body(topicType="EVENT", event={"title": "Q" * 59, "schedule": SCHEDULE}), 400, "at most 58 characters"),
        (post_body(callToAction={"actionType": "CALL", "url": "https://x.example"}), 400, "Must be empty for action"),
        (
            post_body(
                topicType="OFFER",
                event={"title": "2 for 1", "schedule": SCHEDULE},
                callToAction={"actionType": "LEARN_MORE", "url": "https://x.example"},
            ),
            400,
            "not allowed for OFFER",
        ),
        (post_body(media=[{"mediaFormat": "VIDEO", "sourceUrl": "https://x.example/v.mp4"}]), 500, "INTERNAL"),
        (post_body(media=[{"mediaFormat": "PHOTO"}]), 400, "sourceUrl"),
        (post_body(scheduledFor="tomorrow"), 400, 'Unknown name "scheduledFor"'),
    ],
    ids=[
        "summary-1501",
        "no-topic",
        "unknown-topic",
        "event-without-event",
        "offer-without-event",
        "event-bad-time",
        "event-missing-schedule-fields",
        "event-title-59",
        "call-with-url",
        "offer-with-cta",
        "video-is-500",
        "photo-without-source",
        "unknown-field",
    ],
)
async def test_invalid_posts_are_refused_and_nothing_is_created(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], status: int, expected: str
) -> None:
    _, control, _ = twin
    response = await create(http, twin, auth, body)
    assert response.status_code == status, response.text
    assert expected in error_text(response), f"the error should name the rule: {response.text}"
    assert await control.visible_post_count("2001") == 0, "a refused create must not leave a post"
    assert await control.received_post_bodies("2001") == [body], "the twin keeps every body it received"


async def test_event_and_offer_posts_echo_their_schedule(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    event = {"title": "Quiz night", "schedule": SCHEDULE}
    post = await created(http, twin, auth, post_body(topicType="EVENT", event=event))
    assert post["event"] == event
    offer = await created(
        http,
        twin,
        auth,
        post_body(topicType="OFFER", event={"title": "2 for 1", "schedule": SCHEDULE}, offer={"couponCode": "PINT"}),
    )
    assert offer["offer"] == {"couponCode": "PINT"} and "callToAction" not in offer


async def test_a_phone_number_gets_the_post_rejected(twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    _, control, _ = twin
    post = await created(http, twin, auth, post_body("Book on 0117 496 0123 tonight"))
    dated = await created(http, twin, auth, post_body("Quiz on 2026-05-01 at 19:30"))
    await control.advance_clock(60)
    assert (await read(http, twin, auth, post["name"])).json()["state"] == "REJECTED"
    assert (await read(http, twin, auth, dated["name"])).json()["state"] == "LIVE", "a date is not a phone number"
    assert await control.visible_post_count("2001") == 1, "a REJECTED post is not visible"


async def test_a_bare_v1_location_name_is_not_found_on_v4(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    _, control, _ = twin
    assert (await create(http, twin, auth, post_body(), location="locations/2001")).status_code == 404
    listed = await read(http, twin, auth, "locations/2001/localPosts")
    assert listed.status_code == 404 and error_of(listed)["status"] == "NOT_FOUND"
    assert (await read(http, twin, auth, f"{LOCATION}/localPosts/123")).status_code == 404
    assert (await create(http, twin, auth, post_body(), location="accounts/1000/locations/9999")).status_code == 404
    assert await control.local_posts() == []


async def test_ten_creates_a_minute_per_location(twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    _, control, _ = twin
    for i in range(10):
        await created(http, twin, auth, post_body(f"post {i}"))
    eleventh = await create(http, twin, auth, post_body("one too many"))
    assert eleventh.status_code == 429 and error_of(eleventh)["status"] == "RESOURCE_EXHAUSTED"
    assert "Edits per minute per location" in error_of(eleventh)["message"]
    assert (await create(http, twin, auth, post_body(), location=OTHER_LOCATION)).status_code == 200, (
        "the edit limit is per location"
    )
    await control.advance_clock(61)
    assert (await create(http, twin, auth, post_body("next minute"))).status_code == 200
    assert await control.visible_post_count("2001") == 11


async def test_three_hundred_requests_a_minute_per_api(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    _, control, _ = twin
    assert PostSettings().requests_per_minute == 300
    await control.configure_posts(PostSettings(requests_per_minute=5))
    statuses = [(await read(http, twin, auth, f"{LOCATION}/localPosts")).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    accounts = await http.get(f"{twin[0]}/v1/accounts", headers=auth)
    assert accounts.status_code == 200, "each API has its own per-minute quota"
    await control.advance_clock(60)
    assert (await read(http, twin, auth, f"{LOCATION}/localPosts")).status_code == 200


async def test_quota_zero_refuses_everything(twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    _, control, _ = twin
    await control.set_quota_zero(POSTS_API)
    for response in (
        await create(http, twin, auth, post_body()),
        await read(http, twin, auth, f"{LOCATION}/localPosts"),
    ):
        assert response.status_code == 429, response.text
        assert error_of(response)["details"][0]["metadata"]["quota_limit_value"] == "0"
    assert await control.local_posts() == []


async def test_expired_unknown_and_unauthorised_callers(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    _, control, _ = twin
    unknown = await create(http, twin, {"Authorization": "Bearer ya29.not-a-token"}, post_body())
    assert unknown.status_code == 401 and error_of(unknown)["status"] == "UNAUTHENTICATED"
    await control.remove_location_access("2001")
    denied = await create(http, twin, auth, post_body())
    assert denied.status_code == 403 and error_of(denied)["status"] == "PERMISSION_DENIED"
    await control.restore_location_access("2001")
    await control.disable_service(POSTS_API)
    disabled = await create(http, twin, auth, post_body())
    assert disabled.status_code == 403 and error_of(disabled)["details"][1]["reason"] == "SERVICE_DISABLED"
    await control.disable_service(POSTS_API, disabled=False)
    assert await control.expire_access_tokens() == 1
    expired = await create(http, twin, auth, post_body())
    assert expired.status_code == 401, "an access token expired mid-run is refused"
    assert await control.local_posts() == []


async def test_commit_then_500_leaves_the_post_behind(
    twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    _, control, _ = twin
    await control.commit_then_error()
    failed = await create(http, twin, auth, post_body("ghost"))
    assert failed.status_code == 500 and error_of(failed)["status"] == "INTERNAL"
    assert await control.visible_post_count("2001") == 1, "the post was committed before the 500"
    listed = (await read(http, twin, auth, f"{LOCATION}/localPosts")).json()["localPosts"]
    assert [p["summary"] for p in listed] == ["ghost"]
    assert (await create(http, twin, auth, post_body("after"))).status_code == 200, "the fault is used up"


async def test_commit_then_hang_outlasts_the_client(twin: Twin, auth: dict[str, str]) -> None:
    _, control, _ = twin
    await control.commit_then_hang(seconds=HELD)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=IMPATIENT)) as impatient:  # only the answer is late
        with pytest.raises(httpx.ReadTimeout):
            await create(impatient, twin, auth, post_body("slow"))
    assert await control.visible_post_count("2001") == 1, "the post exists although the client gave up"


async def test_stuck_and_rejected_faults(twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    _, control, _ = twin
    await control.stick_posts()
    stuck = await created(http, twin, auth, post_body("stuck"))
    await control.reject_posts()
    rejected = await created(http, twin, auth, post_body("fine text"))
    normal = await created(http, twin, auth, post_body("normal"))
    await control.advance_clock(1800)  # far past the delay, still inside the access token's hour
    states = [(await read(http, twin, auth, p["name"])).json()["state"] for p in (stuck, rejected, normal)]
    assert states == ["PROCESSING", "REJECTED", "LIVE"]
    posts = await control.local_posts("2001")
    assert [(p.name, p.state) for p in posts] == [
        (stuck["name"], "PROCESSING"),
        (rejected["name"], "REJECTED"),
        (normal["name"], "LIVE"),
    ]
    assert posts[0].body == post_body("stuck") and posts[0].resource["state"] == "PROCESSING"


async def test_post_calls_are_logged_with_their_host(twin: Twin, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    _, control, _ = twin
    await created(http, twin, auth, post_body())
    calls = [c for c in (await control.snapshot()).calls if c.host == POSTS_API]
    assert [(c.method, c.path, c.status) for c in calls] == [("POST", f"/v4/{LOCATION}/localPosts", 200)]
    assert calls[0].authorization
