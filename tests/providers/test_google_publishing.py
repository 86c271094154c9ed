"""GoogleBusinessAdapter.publish over real HTTP against the Google twin: outcomes, faults, no duplicates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from providers.base import StoredCredentials
from providers.errors import (
    ApiDisabled,
    AuthExpired,
    MetadataMissing,
    Permanent,
    PermissionMissing,
    ProviderError,
    RateLimited,
    Transient,
)
from providers.google.adapter import GoogleBusinessAdapter
from providers.google.publish import REJECTED_MESSAGE, VIDEO_MESSAGE
from providers.http import build_http_client
from providers.publishing import GoogleOptions, MediaItem, Pending, Published, PublishRequest, Recorder, StepOutcome
from sandbox.google.twin import POSTS_API, GoogleTwinControl, GoogleTwinState, PostSettings, running_google_twin
from storage.enums import Provider
from tests.providers.google_support import connect, make_adapter
from tests.timing import HELD, IMPATIENT

Twin = tuple[str, GoogleTwinControl, GoogleTwinState]
LOCATION = "accounts/1000/locations/2001"
LIVE_DELAY = PostSettings().live_after_seconds
PHOTO = MediaItem(kind="image", url="https://cdn.example.com/signed/quiz.jpg?sig=abc", content_type="image/jpeg")
VIDEO = MediaItem(kind="video", url="https://cdn.example.com/signed/clip.mp4", content_type="video/mp4")

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
    async with build_http_client() as client:
        yield client


@pytest.fixture
def adapter(twin: Twin, http: httpx.AsyncClient) -> GoogleBusinessAdapter:
    return make_adapter(twin[0], http, twin[2])


@pytest_asyncio.fixture(loop_scope="module")
async def credentials(adapter: GoogleBusinessAdapter, http: httpx.AsyncClient) -> StoredCredentials:
    """A connected location with a fresh access token, as core hands it over."""
    grant = await connect(adapter, http)
    return StoredCredentials(
        provider=Provider.google_business,
        external_id=LOCATION,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        scopes=grant.scopes,
        location_name=LOCATION,
    )


def post(
    text: str = "Quiz night from 8pm, all welcome", *, media: tuple[MediaItem, ...] = (), **google: Any
) -> PublishRequest:
    return PublishRequest(delivery_id=1, text=text, media=media, google=GoogleOptions(**google) if google else None)


@dataclass
class Run:
    """One delivery driven the way core drives it: keep the stage, call again after each Pending."""

    adapter: GoogleBusinessAdapter
    credentials: StoredCredentials
    request: PublishRequest
    recorder: Recorder
    stage: dict[str, Any]

    async def step(self) -> StepOutcome:
        outcome = await self.adapter.publish(self.credentials, self.request, self.stage, self.recorder)
        if isinstance(outcome, Pending):
            self.stage = dict(outcome.stage)
        return outcome


def start(adapter: GoogleBusinessAdapter, credentials: StoredCredentials, request: PublishRequest) -> Run:
    return Run(adapter, credentials, request, Recorder(), {})


async def post_calls(control: GoogleTwinControl) -> list[tuple[str, int]]:
    """(method, status) of every call the twin's localPosts API received."""
    return [(c.method, c.status) for c in (await control.snapshot()).calls if c.host == POSTS_API]


async def test_a_photo_post_is_pending_then_published_after_the_twins_delay(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    _, control, _ = twin
    run = start(adapter, credentials, post(media=(PHOTO,)))
    first = await run.step()
    assert isinstance(first, Pending), f"a new post is PROCESSING at Google, got {first}"
    assert first.committed, "a PROCESSING post exists: the delivery must never start again from scratch"
    assert first.external_id and first.external_id.startswith(f"{LOCATION}/localPosts/")
    assert first.permalink and "lpsid=" in first.permalink and first.check_after == 30.0
    assert run.stage["local_post"] == first.external_id

    again = await run.step()
    assert isinstance(again, Pending) and again.check_after == 60.0, "still PROCESSING: check again, backing off"
    await control.advance_clock(LIVE_DELAY + 1)
    done = await run.step()
    assert isinstance(done, Published), f"LIVE after the twin's delay, got {done}"
    assert (done.external_id, done.permalink) == (first.external_id, first.permalink)

    assert await control.visible_post_count("2001") == 1
    assert await post_calls(control) == [("POST", 200), ("GET", 200), ("GET", 200)], "status reads never create"
    (body,) = await control.received_post_bodies("2001")
    assert body == {
        "languageCode": "en",
        "summary": "Quiz night from 8pm, all welcome",
        "topicType": "STANDARD",
        "media": [{"mediaFormat": "PHOTO", "sourceUrl": PHOTO.url}],
    }


async def test_an_event_keeps_its_local_wall_clock_times(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    request = post(
        "Quiz night",
        topic_type="EVENT",
        event_title="Big Quiz",
        event_start=datetime(2026, 5, 1, 19, 30),
        event_end=datetime(2026, 5, 2, 0, 15),
        cta_type="BOOK",
        cta_url="https://redlion.example/book",
    )
    assert isinstance(await start(adapter, credentials, request).step(), Pending)
    (body,) = await twin[1].received_post_bodies("2001")
    assert body["event"] == {
        "title": "Big Quiz",
        "schedule": {
            "startDate": {"year": 2026, "month": 5, "day": 1},
            "startTime": {"hours": 19, "minutes": 30, "seconds": 0, "nanos": 0},
            "endDate": {"year": 2026, "month": 5, "day": 2},
            "endTime": {"hours": 0, "minutes": 15, "seconds": 0, "nanos": 0},
        },
    }, "GBP has no time zones: the venue's local times must arrive unchanged"
    assert body["callToAction"] == {"actionType": "BOOK", "url": "https://redlion.example/book"}


async def test_offer_call_and_link_buttons(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    offer = post(
        "Two for one",
        topic_type="OFFER",
        event_title="2 for 1 pints",
        event_start=datetime(2026, 5, 1, 12, 0),
        event_end=datetime(2026, 5, 7, 23, 0),
        coupon_code="PINT",
        terms="One per table",
        cta_type="BOOK",
        cta_url="https://redlion.example/book",
    )
    call = post("Ring us", cta_type="CALL", cta_url="https://ignored.example")
    linked = PublishRequest(delivery_id=3, text="New menu", link="https://redlion.example/menu")
    for request in (offer, call, linked):
        assert isinstance(await start(adapter, credentials, request).step(), Pending), request
    bodies = await twin[1].received_post_bodies("2001")
    assert bodies[0]["offer"] == {"couponCode": "PINT", "termsConditions": "One per table"}
    assert "callToAction" not in bodies[0], "an OFFER with an explicit button is invalid at Google"
    assert bodies[1]["callToAction"] == {"actionType": "CALL"}, "CALL never carries a URL"
    assert bodies[2]["callToAction"] == {"actionType": "LEARN_MORE", "url": "https://redlion.example/menu"}


async def test_a_phone_number_in_the_text_ends_rejected(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    _, control, _ = twin
    run = start(adapter, credentials, post("Book on 0117 496 0123"))
    assert isinstance(await run.step(), Pending)
    await control.advance_clock(LIVE_DELAY + 1)
    with pytest.raises(Permanent) as caught:
        await run.step()
    assert caught.value.message == REJECTED_MESSAGE and caught.value.code == "REJECTED"
    assert caught.value.remedy and "phone numbers" in caught.value.remedy
    assert await control.visible_post_count("2001") == 0


async def test_an_immediate_answer_is_published_or_rejected_in_one_step(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    _, control, _ = twin
    await control.configure_posts(PostSettings(live_after_seconds=0))
    done = await start(adapter, credentials, post()).step()
    assert isinstance(done, Published) and done.external_id.startswith(LOCATION)
    await control.reject_posts()
    with pytest.raises(Permanent, match="content policy"):
        await start(adapter, credentials, post("fine text")).step()


async def test_a_summary_over_1500_is_permanent_and_names_the_rule(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    with pytest.raises(Permanent) as caught:
        await start(adapter, credentials, post("x" * 1501)).step()
    assert "summary: Must be at most 1500 characters" in caught.value.message, caught.value.message
    assert caught.value.http_status == 400
    assert await twin[1].visible_post_count("2001") == 0


async def test_video_and_a_bare_location_name_are_refused_before_anything_is_sent(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    run = start(adapter, credentials, post(media=(VIDEO, PHOTO)))
    with pytest.raises(Permanent) as caught:
        await run.step()
    assert caught.value.message == VIDEO_MESSAGE
    bare = replace(credentials, location_name="locations/2001", external_id="locations/2001")
    with pytest.raises(MetadataMissing):  # v1's name: v4 would answer 404
        await start(adapter, bare, post()).step()
    assert await post_calls(twin[1]) == [], "neither may reach Google (a video answers 500)"
    assert run.recorder.exchanges == []


async def test_an_access_token_expired_mid_run_is_auth_expired(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    run = start(adapter, credentials, post())
    assert isinstance(await run.step(), Pending)
    await twin[1].expire_access_tokens(credentials.access_token)
    with pytest.raises(AuthExpired):
        await run.step()
    assert await twin[1].visible_post_count("2001") == 1


async def test_429_with_retry_after_is_rate_limited(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    await twin[1].rate_limit(1, retry_after=17, apis=[POSTS_API])
    with pytest.raises(RateLimited) as caught:
        await start(adapter, credentials, post()).step()
    assert caught.value.retry_after == 17.0 and caught.value.http_status == 429
    assert await twin[1].visible_post_count("2001") == 0


async def test_ten_creates_a_minute_per_location_then_wait_a_minute(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    _, control, _ = twin
    for i in range(10):
        assert isinstance(await start(adapter, credentials, post(f"post {i}")).step(), Pending)
    with pytest.raises(RateLimited) as caught:
        await start(adapter, credentials, post("eleventh")).step()
    assert caught.value.retry_after == 60.0, "Google sends no Retry-After; its edit quota is per minute"
    assert await control.visible_post_count("2001") == 10
    await control.advance_clock(61)
    assert isinstance(await start(adapter, credentials, post("next minute")).step(), (Pending, Published))


async def test_a_5xx_on_create_may_have_posted(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    await twin[1].server_error(1, status=503, apis=[POSTS_API])
    with pytest.raises(Transient) as caught:
        await start(adapter, credentials, post()).step()
    assert caught.value.sent is True, "after a create was sent, a 5xx must not be retried blindly"
    assert caught.value.http_status == 503 and "recent posts" in caught.value.message


async def test_commit_then_500_leaves_exactly_one_post_that_reconciliation_finds(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    _, control, _ = twin
    await control.commit_then_error()
    with pytest.raises(Transient) as caught:
        await start(adapter, credentials, post("Ghost post")).step()
    assert caught.value.sent is True and caught.value.http_status == 500
    assert await control.visible_post_count("2001") == 1, "counted at the twin: the 500 came after the commit"
    recent = await adapter.recent_posts(credentials, limit=5)
    assert [(p["summary"], p["state"]) for p in recent] == [("Ghost post", "PROCESSING")]
    assert set(recent[0]) == {"name", "summary", "createTime", "state", "searchUrl"}


async def test_commit_then_hang_is_a_sent_timeout(twin: Twin, credentials: StoredCredentials) -> None:
    url, control, state = twin
    await control.commit_then_hang(seconds=HELD)
    async with build_http_client(read_timeout=IMPATIENT) as impatient:
        with pytest.raises(Transient) as caught:
            await start(make_adapter(url, impatient, state), credentials, post()).step()
    assert caught.value.sent is True and caught.value.code == "ReadTimeout"
    assert await control.visible_post_count("2001") == 1


async def test_a_failed_status_read_is_safe_to_repeat(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    _, control, _ = twin
    run = start(adapter, credentials, post())
    assert isinstance(await run.step(), Pending)
    await control.server_error(1, status=500, apis=[POSTS_API])
    with pytest.raises(Transient) as caught:
        await run.step()
    assert caught.value.sent is False, "reading a status cannot publish anything"
    await control.advance_clock(LIVE_DELAY + 1)
    assert isinstance(await run.step(), Published)
    assert await control.visible_post_count("2001") == 1


async def test_a_stuck_post_keeps_pending_with_a_capped_backoff(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    await twin[1].stick_posts()
    run = start(adapter, credentials, post())
    waits = []
    for _ in range(7):
        outcome = await run.step()
        assert isinstance(outcome, Pending) and outcome.committed
        waits.append(outcome.check_after)
    assert waits == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0]


async def test_recent_posts_are_newest_first_across_pages(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    await twin[1].configure_posts(PostSettings(edits_per_minute=200))
    for i in range(105):
        await start(adapter, credentials, post(f"post {i}")).step()
    recent = await adapter.recent_posts(credentials, limit=103)
    assert [p["summary"] for p in recent[:2]] == ["post 104", "post 103"] and len(recent) == 103
    assert recent[-1]["summary"] == "post 2"


async def test_snapshots_keep_bodies_and_statuses_but_never_a_token(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin
) -> None:
    _, control, state = twin
    run = start(adapter, credentials, post(media=(PHOTO,)))
    await run.step()
    await control.rate_limit(1, retry_after=5, apis=[POSTS_API])
    with pytest.raises(RateLimited):
        await run.step()
    await control.expire_access_tokens()
    with pytest.raises(AuthExpired):
        await run.step()
    snapshots = run.recorder.snapshots()
    assert [(s["step"], s["status"]) for s in snapshots] == [
        ("create_local_post", 200),
        ("local_post_status", 429),
        ("local_post_status", 401),
    ]
    assert snapshots[0]["request"]["media"] == [{"mediaFormat": "PHOTO", "sourceUrl": PHOTO.url}]
    assert snapshots[0]["response"]["state"] == "PROCESSING"
    assert snapshots[1]["headers"]["retry-after"] == "5"
    dumped = json.dumps(snapshots)
    leaked = [t.kind for t in state.tokens() if t.token in dumped]
    assert not leaked and "ya29." not in dumped and "Bearer" not in dumped, f"a token leaked: {leaked}"


async def test_a_create_slower_than_the_client_is_a_sent_timeout(twin: Twin, credentials: StoredCredentials) -> None:
    url, control, state = twin
    await control.delay(1, seconds=HELD, apis=[POSTS_API])
    async with build_http_client(read_timeout=IMPATIENT) as impatient:
        with pytest.raises(Transient) as caught:
            await start(make_adapter(url, impatient, state), credentials, post()).step()
    assert caught.value.sent is True, "after a read timeout the adapter cannot know: reconcile, never retry"
    await asyncio.sleep(0.5)
    # The plain delay fault holds the request before the twin reads it, so nothing was committed;
    # commit_then_hang is the variant where the post exists.
    assert await control.visible_post_count("2001") == 0


REFUSALS: dict[str, tuple[Callable[[GoogleTwinControl], Awaitable[None]], type[ProviderError], str]] = {
    "quota_zero": (lambda c: c.set_quota_zero(POSTS_API), ApiDisabled, "no quota"),
    "service_disabled": (lambda c: c.disable_service(POSTS_API), ApiDisabled, "is not enabled"),
    "no_access": (lambda c: c.remove_location_access("2001"), PermissionMissing, "no longer manages"),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
async def test_refusals_name_what_to_fix(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, twin: Twin, refusal: str
) -> None:
    arm, expected, says = REFUSALS[refusal]
    await arm(twin[1])
    with pytest.raises(expected, match=says) as caught:
        await start(adapter, credentials, post()).step()
    assert caught.value.remedy, "a refusal must say what to do"
    assert await twin[1].visible_post_count("2001") == 0
