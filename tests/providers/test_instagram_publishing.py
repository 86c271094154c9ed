"""InstagramAdapter.publish over real HTTP against the Meta twin: container → status → media_publish, and failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.base import StoredCredentials
from providers.errors import AuthExpired, Permanent, PermissionMissing, RateLimited, Transient
from providers.meta.publish import DAILY_LIMIT, QUOTA_RETRY_AFTER
from providers.publishing import Pending, Published, PublishRequest, Recorder
from tests.providers.meta_publish_support import (
    IG_RED_LION,
    MetaSession,
    Run,
    assert_no_secrets,
    clip,
    meta_session,
    photo,
    post,
)
from tests.timing import HELD, IMPATIENT

DAY = 86400.0


@pytest.fixture
async def meta() -> AsyncIterator[MetaSession]:
    async with meta_session() as session:
        yield session


@pytest.fixture
async def account(meta: MetaSession) -> StoredCredentials:
    return await meta.connect(meta.instagram)


async def step(
    meta: MetaSession, account: StoredCredentials, request: PublishRequest, stage: dict[str, Any] | None = None
) -> Run:
    """Exactly one publish call (no clock moves), secrets checked."""
    run = await meta.publish(meta.instagram, account, request, max_steps=1, stage=stage)
    assert_no_secrets(meta, run, account.access_token, account.user_token)
    return run


def pending(run: Run) -> Pending:
    assert isinstance(run.last, Pending), f"expected Pending, got {run.last!r}"
    return run.last


async def all_the_way(meta: MetaSession, account: StoredCredentials, request: PublishRequest) -> tuple[Published, Run]:
    run = await meta.publish(meta.instagram, account, request)
    assert isinstance(run.last, Published), f"expected Published, got {run.last!r}"
    assert_no_secrets(meta, run, account.access_token, account.user_token)
    return run.last, run


async def containers(meta: MetaSession) -> list[dict[str, Any]]:
    return list((await meta.control.state())["content"]["containers"])


async def raised(meta: MetaSession, account: StoredCredentials, request: PublishRequest, **kwargs: Any) -> Run:
    """Publish expecting an exception (wrap in pytest.raises); every step is still checked for secrets."""
    run = Run()
    try:
        await meta.publish(meta.instagram, account, request, run=run, **kwargs)
    finally:
        assert_no_secrets(meta, run, account.access_token, account.user_token)
    return run


# -- each kind, all the way through --------------------------------------------------------------


async def test_image_is_a_container_first_then_published(meta: MetaSession, account: StoredCredentials) -> None:
    first = pending(await step(meta, account, post("Sunday roast", photo())))
    assert set(first.stage) >= {"container_id", "created_at"} and not first.committed
    assert meta.graph_calls("media_publish") == [], "creating the container must not publish anything"
    assert await meta.control.instagram_media() == []
    result, run = await all_the_way(meta, account, post("Sunday roast", photo()))
    [media] = await meta.control.instagram_media(IG_RED_LION)
    assert (result.external_id, result.permalink) == (media["id"], media["permalink"])
    assert media["caption"] == "Sunday roast" and media["media_product_type"] == "FEED"
    assert run.steps == ["create container", "container status", "read publishing limit", "publish", "read permalink"]


async def test_instagram_container_in_progress_returns_pending_without_publishing(
    meta: MetaSession, account: StoredCredentials
) -> None:
    await meta.control.publishing(image_processing_seconds=60)
    first = pending(await step(meta, account, post("Slow", photo())))
    waits = []
    stage = first.stage
    for _ in range(3):
        later = pending(await step(meta, account, post("Slow", photo()), stage))
        assert later.stage["container_id"] == first.stage["container_id"]
        waits.append(later.check_after)
        stage = later.stage
    assert waits == sorted(waits) and waits[0] < waits[-1], f"check_after should grow, got {waits}"
    assert meta.graph_calls("media_publish") == []
    await meta.control.advance_clock(60)
    done = await step(meta, account, post("Slow", photo()), stage)
    assert isinstance(done.last, Published)


async def test_reel_waits_longer_and_sends_the_cover(meta: MetaSession, account: StoredCredentials) -> None:
    first = pending(await step(meta, account, post("Band tonight", clip())))
    assert first.check_after >= 20, "a video is checked later than a photo"
    [container] = await containers(meta)
    assert (container["media_type"], container["cover_url"]) == ("REELS", "https://media.example/clip1-cover.jpg")
    result, _ = await all_the_way(meta, account, post("Band tonight", clip()))
    assert result.permalink and "/reel/" in result.permalink


async def test_story_is_published_without_a_caption(meta: MetaSession, account: StoredCredentials) -> None:
    await all_the_way(meta, account, post("Not shown on stories", photo(), surface="story"))
    [container] = await containers(meta)
    [media] = await meta.control.instagram_media(IG_RED_LION)
    assert (container["media_type"], container["caption"]) == ("STORIES", "")
    assert media["media_product_type"] == "STORY"


async def test_carousel_creates_items_then_the_carousel_then_publishes_once(
    meta: MetaSession, account: StoredCredentials
) -> None:
    request = post("Three new ales", photo(1), photo(2), photo(3))
    first = pending(await step(meta, account, request))
    assert len(first.stage["children"]) == 3 and first.stage["container_id"], "image items finish at once"
    result, _ = await all_the_way(meta, account, request)
    made = await containers(meta)
    assert sum(c["is_carousel_item"] for c in made) == 6 and sum(c["media_type"] == "CAROUSEL" for c in made) == 2
    media = await meta.control.instagram_media(IG_RED_LION)
    assert [m["media_type"] for m in media] == ["CAROUSEL_ALBUM"] and media[0]["id"] == result.external_id


async def test_carousel_with_a_video_waits_for_its_items(meta: MetaSession, account: StoredCredentials) -> None:
    request = post("Photo and clip", photo(), clip())
    first = pending(await step(meta, account, request))
    assert "container_id" not in first.stage and len(first.stage["children"]) == 2
    result, run = await all_the_way(meta, account, request)
    assert isinstance(run.outcomes[1], Pending) and result.details["kind"] == "carousel"
    item_forms = [s["request"]["form"] for s in run.snapshots() if s["step"].startswith("create carousel item")]
    assert {"media_type": "VIDEO", "video_url": "https://media.example/clip1.mp4", "is_carousel_item": "true"} in (
        item_forms
    )


# -- containers that do not finish ---------------------------------------------------------------


async def test_container_error_is_permanent_with_a_plain_reason(meta: MetaSession, account: StoredCredentials) -> None:
    await meta.control.container_fault("error", subcode=2207009)
    with pytest.raises(Permanent) as caught:
        await raised(meta, account, post("Odd shape", photo(width=1080, height=2400)))
    assert "4:5" in caught.value.message and caught.value.remedy and caught.value.subcode == 2207009
    assert meta.graph_calls("media_publish") == []


async def test_processing_error_on_a_photo_gives_a_photo_remedy_not_video_advice(
    meta: MetaSession, account: StoredCredentials
) -> None:
    await meta.control.container_fault("error", subcode=2207082)  # the subcode Instagram gives for either kind
    with pytest.raises(Permanent) as caught:
        await raised(meta, account, post("Sunday roast", photo()))
    words = f"{caught.value.message} {caught.value.remedy}"
    assert "video" not in words.lower() and "MP4" not in words, f"a photo post was told about video: {words}"
    assert "photo" in caught.value.message and "JPEG" in (caught.value.remedy or ""), words


async def test_processing_error_on_a_video_keeps_the_mp4_advice(meta: MetaSession, account: StoredCredentials) -> None:
    await meta.control.container_fault("error", subcode=2207085, media_type="REELS")
    with pytest.raises(Permanent) as caught:
        await raised(meta, account, post("Quiz clip", clip()))
    assert "process the video" in caught.value.message, caught.value.message
    assert "MP4" in (caught.value.remedy or ""), f"a video post lost the MP4 advice: {caught.value.remedy}"


@pytest.mark.parametrize(("media_type", "number", "kind"), [("IMAGE", 1, "photo"), ("VIDEO", 2, "video")])
async def test_carousel_item_error_speaks_of_that_items_kind(
    meta: MetaSession, account: StoredCredentials, media_type: str, number: int, kind: str
) -> None:
    await meta.control.container_fault("error", subcode=2207082, media_type=media_type)
    with pytest.raises(Permanent) as caught:
        await raised(meta, account, post("Roast and clip", photo(), clip()))
    expected = f"Item {number} of the carousel: Instagram could not process the {kind}"
    assert caught.value.message.startswith(expected), caught.value.message


async def test_container_stuck_in_progress_then_error(meta: MetaSession, account: StoredCredentials) -> None:
    await meta.control.container_fault("error", subcode=2207082, after_seconds=3600, media_type="REELS")
    stage = pending(await step(meta, account, post("Long clip", clip()))).stage
    for _ in range(4):
        await meta.control.advance_clock(600)
        stage = pending(await step(meta, account, post("Long clip", clip()), stage)).stage
    await meta.control.advance_clock(1200)
    with pytest.raises(Permanent) as caught:
        await step(meta, account, post("Long clip", clip()), stage)
    assert "process the video" in caught.value.message and "MP4" in (caught.value.remedy or "")


async def test_expired_container_is_recreated_then_published(meta: MetaSession, account: StoredCredentials) -> None:
    await meta.control.container_fault("expired")
    first = pending(await step(meta, account, post("Late", photo())))
    await meta.control.advance_clock(DAY + 1)
    again = pending(await step(meta, account, post("Late", photo()), first.stage))
    assert again.stage["container_id"] != first.stage["container_id"] and again.stage["containers"] == 2
    done = await meta.publish(meta.instagram, account, post("Late", photo()), stage=again.stage)
    assert isinstance(done.last, Published) and len(await meta.control.instagram_media()) == 1


async def test_media_publish_not_ready_returns_pending(meta: MetaSession, account: StoredCredentials) -> None:
    stage = pending(await step(meta, account, post("Race", photo()))).stage
    await meta.control.graph_error(
        9007, subcode=2207027, message="Media ID is not available", path_contains="media_publish"
    )
    later = pending(await step(meta, account, post("Race", photo()), stage))
    assert later.stage["container_id"] == stage["container_id"] and "not ready" in later.note
    assert isinstance((await step(meta, account, post("Race", photo()), later.stage)).last, Published)


# -- quota, throttles, faults --------------------------------------------------------------------


async def test_quota_exhausted_is_rate_limited_without_calling_media_publish(
    meta: MetaSession, account: StoredCredentials
) -> None:
    stage = pending(await step(meta, account, post("Too many", photo()))).stage
    await meta.control.exhaust_quota(IG_RED_LION)
    with pytest.raises(RateLimited) as caught:
        await step(meta, account, post("Too many", photo()), stage)
    assert (caught.value.code, caught.value.subcode, caught.value.retry_after) == (9, DAILY_LIMIT, QUOTA_RETRY_AFTER)
    assert "50 posts per 24 hours" in caught.value.message
    assert meta.graph_calls("media_publish") == [], "the quota was read first, so nothing was spent on a refusal"


async def test_quota_refusal_from_media_publish_is_rate_limited_too(
    meta: MetaSession, account: StoredCredentials
) -> None:
    await meta.control.graph_error(9, subcode=DAILY_LIMIT, path_contains="media_publish")
    with pytest.raises(RateLimited) as caught:
        await raised(meta, account, post("Raced the quota", photo()))
    assert caught.value.retry_after == QUOTA_RETRY_AFTER and await meta.control.instagram_media() == []


async def test_instagram_throttle_uses_the_regain_time(meta: MetaSession, account: StoredCredentials) -> None:
    await meta.control.rate_limit(code=80002, regain_minutes=3, path_contains="/media")
    run = Run()
    with pytest.raises(RateLimited) as caught:
        await meta.publish(meta.instagram, account, post("Busy", photo()), run=run)
    assert caught.value.retry_after == 180 and run.snapshots()[0]["usage_percent"] == 100


async def test_transient_during_container_create_is_not_sent(meta: MetaSession, account: StoredCredentials) -> None:
    await meta.control.server_error(path_contains="/media")
    with pytest.raises(Transient) as caught:
        await raised(meta, account, post("Retry me", photo()))
    assert caught.value.sent is False, "a container is invisible: creating it again cannot duplicate a post"


async def test_timeout_on_a_status_read_is_not_sent() -> None:
    async with meta_session(read_timeout=IMPATIENT) as meta:
        account = await meta.connect(meta.instagram)
        stage = pending(await step(meta, account, post("Slow read", photo()))).stage
        await meta.control.delay(HELD, path_contains=str(stage["container_id"]))
        with pytest.raises(Transient) as caught:
            await step(meta, account, post("Slow read", photo()), stage)
        assert caught.value.sent is False


async def test_server_error_on_media_publish_is_sent(meta: MetaSession, account: StoredCredentials) -> None:
    await meta.control.server_error(code=1, path_contains="media_publish")
    with pytest.raises(Transient) as caught:
        await raised(meta, account, post("Maybe out", photo()))
    assert caught.value.sent is True and caught.value.http_status == 500


async def test_ghost_publish_is_found_again_instead_of_posting_twice(
    meta: MetaSession, account: StoredCredentials
) -> None:
    stage = pending(await step(meta, account, post("Ghost ale", photo()))).stage
    await meta.control.commit_then_error(code=2, path_contains="media_publish")
    with pytest.raises(Transient) as caught:
        await step(meta, account, post("Ghost ale", photo()), stage)
    assert caught.value.sent is True
    [media] = await meta.control.instagram_media(IG_RED_LION)
    publishes = len(meta.graph_calls("media_publish"))
    again = await step(meta, account, post("Ghost ale", photo()), stage)
    assert isinstance(again.last, Published) and again.last.external_id == media["id"]
    assert again.last.permalink == media["permalink"] and again.last.details["found_after_lost_answer"]
    assert len(meta.graph_calls("media_publish")) == publishes, "a PUBLISHED container is never published again"
    assert len(await meta.control.instagram_media()) == 1


async def test_expired_token_mid_run_is_auth_expired(meta: MetaSession, account: StoredCredentials) -> None:
    stage = pending(await step(meta, account, post("Lapsed", photo()))).stage
    await meta.control.expire_token(token=account.access_token)
    with pytest.raises(AuthExpired) as caught:
        await step(meta, account, post("Lapsed", photo()), stage)
    assert caught.value.subcode == 463 and caught.value.remedy


async def test_missing_content_publish_permission_is_permission_missing(
    meta: MetaSession, account: StoredCredentials
) -> None:
    await meta.control.drop_scope("instagram_content_publish")
    with pytest.raises(PermissionMissing) as caught:
        await raised(meta, account, post("No right", photo()))
    assert caught.value.scopes == ["instagram_content_publish"] and caught.value.http_status == 403


@pytest.mark.parametrize(
    ("code", "subcode", "kind", "words"),
    [
        (36003, 2207009, Permanent, "4:5"),
        (100, 2207010, Permanent, "2,200"),
        (9004, 2207052, Transient, "download"),
    ],
)
async def test_container_create_errors_become_plain_words(
    meta: MetaSession, account: StoredCredentials, code: int, subcode: int, kind: type[Exception], words: str
) -> None:
    await meta.control.graph_error(code, subcode=subcode, message="Graph's own words", path_contains="/media")
    with pytest.raises(kind) as caught:
        await raised(meta, account, post("Bad media", photo()))
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (post("Nothing to show"), "needs a photo or video"),
        (post("Reel of a photo", photo(), surface="reel"), "needs exactly one video"),
        (post("Two stories", photo(1), photo(2), surface="story"), "one photo or video"),
        (post("x" * 2201, photo()), "2,200"),
        (post("Eleven", *[photo(n) for n in range(11)]), "at most 10"),
    ],
)
async def test_what_instagram_cannot_take_is_refused_without_a_call(
    meta: MetaSession, account: StoredCredentials, request_: PublishRequest, words: str
) -> None:
    recorder = Recorder()
    with pytest.raises(Permanent) as caught:
        await meta.instagram.publish(account, request_, {}, recorder)
    assert words in caught.value.message and caught.value.remedy and recorder.exchanges == []
