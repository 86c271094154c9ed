"""FacebookAdapter.publish over real HTTP against the Meta twin: each kind of post, and every way it can fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.base import StoredCredentials
from providers.errors import AuthExpired, Permanent, PermissionMissing, RateLimited, Transient
from providers.meta.facebook import FacebookAdapter
from providers.meta.publish import DUPLICATE
from providers.publishing import Pending, Published, PublishRequest, Recorder
from sandbox.server import free_port
from tests.providers.meta_publish_support import (
    RED_LION,
    MetaSession,
    Run,
    assert_no_secrets,
    clip,
    config_for,
    meta_session,
    photo,
    post,
)
from tests.timing import HELD, IMPATIENT


@pytest.fixture
async def meta() -> AsyncIterator[MetaSession]:
    async with meta_session() as session:
        yield session


@pytest.fixture
async def page(meta: MetaSession) -> StoredCredentials:
    return await meta.connect(meta.facebook, external_id=RED_LION)


async def published(meta: MetaSession, page: StoredCredentials, request: PublishRequest) -> tuple[Published, Run]:
    run = await meta.publish(meta.facebook, page, request)
    assert isinstance(run.last, Published), f"expected Published, got {run.last!r}"
    assert_no_secrets(meta, run, page.access_token, page.user_token)
    return run.last, run


async def visible(meta: MetaSession) -> list[dict[str, Any]]:
    return await meta.control.visible_posts(RED_LION)


async def failing(meta: MetaSession, page: StoredCredentials, request: PublishRequest) -> Run:
    """Publish expecting an exception; the caller inspects it with pytest.raises around this."""
    run = Run()
    try:
        await meta.publish(meta.facebook, page, request, run=run)
    finally:
        assert_no_secrets(meta, run, page.access_token, page.user_token)
    return run


# -- each kind of post ---------------------------------------------------------------------------


async def test_text_post_goes_to_the_feed_with_its_permalink(meta: MetaSession, page: StoredCredentials) -> None:
    result, run = await published(meta, page, post("Quiz night Thursday, 8pm"))
    [live] = await visible(meta)
    assert (result.external_id, live["kind"], live["message"]) == (live["id"], "status", "Quiz night Thursday, 8pm")
    assert result.permalink == f"https://www.facebook.com/{RED_LION}/posts/{live['id'].split('_')[1]}"
    assert run.steps == ["create post"], "the permalink came with the feed answer, so no second call"
    [exchange] = run.snapshots()
    assert exchange["request"]["form"] == {"message": "Quiz night Thursday, 8pm"}
    assert exchange["status"] == 200 and exchange["url"].endswith(f"/{RED_LION}/feed")


async def test_link_post_carries_the_link(meta: MetaSession, page: StoredCredentials) -> None:
    result, _ = await published(meta, page, post("New menu", link="https://redlion.example/menu"))
    [live] = await visible(meta)
    assert (live["kind"], live["link"], result.details["kind"]) == ("link", "https://redlion.example/menu", "link")


async def test_single_photo_becomes_a_photo_post_and_its_permalink_is_read_after(
    meta: MetaSession, page: StoredCredentials
) -> None:
    result, run = await published(meta, page, post("Sunday roast", photo(), link="https://redlion.example"))
    [live] = await visible(meta)
    assert (live["kind"], live["id"], result.external_id) == ("photo", result.external_id, live["id"])
    assert live["message"] == "Sunday roast\n\nhttps://redlion.example", "a photo post carries the link in its text"
    assert result.details["photo_id"] == live["object_id"] and result.permalink
    assert run.steps == ["create photo post", "read permalink"]
    assert run.snapshots()[0]["request"]["form"]["published"] == "true"


async def test_several_photos_are_uploaded_unpublished_then_posted_once(
    meta: MetaSession, page: StoredCredentials
) -> None:
    request = post("Beer garden open", photo(1), photo(2), photo(3))
    first = await meta.publish(meta.facebook, page, request, max_steps=1)
    upload = first.last
    assert isinstance(upload, Pending) and len(upload.stage["photo_ids"]) == 3 and not upload.committed
    assert first.steps == ["upload photo 1", "upload photo 2", "upload photo 3"]
    assert all(s["request"]["form"]["published"] == "false" for s in first.snapshots())
    assert await visible(meta) == [], "unpublished photos must not be visible posts"
    run = await meta.publish(meta.facebook, page, request, stage=upload.stage)
    assert isinstance(run.last, Published) and run.steps == ["create post"], "staged photo ids are reused"
    [album] = await visible(meta)
    assert (album["kind"], album["attached_media"]) == ("album", upload.stage["photo_ids"])
    assert_no_secrets(meta, run, page.access_token, page.user_token)


async def test_video_is_published_with_its_id_and_permalink(meta: MetaSession, page: StoredCredentials) -> None:
    result, run = await published(meta, page, post("Live music tonight", clip()))
    [live] = await visible(meta)
    assert (live["kind"], live["object_id"]) == ("video", result.external_id)
    assert result.permalink == f"https://www.facebook.com/{RED_LION}/videos/{result.external_id}/"
    assert run.snapshots()[0]["request"]["form"] == {
        "file_url": "https://media.example/clip1.mp4",
        "description": "Live music tonight",
    }


async def test_a_failed_permalink_read_does_not_fail_the_publish(meta: MetaSession, page: StoredCredentials) -> None:
    await meta.control.rate_limit(code=32, path_contains="_")  # only the post id has an underscore
    result, run = await published(meta, page, post("Pie and a pint", photo()))
    assert result.permalink is None and len(await visible(meta)) == 1
    assert run.snapshots()[-1]["status"] == 400, "the failed read is still recorded"


# -- refusals before anything is sent ------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (post("Story", photo(), surface="story"), "feed"),
        (post("Reel", clip(), surface="reel"), "feed"),
        (post("Mixed", photo(), clip()), "not both"),
        (post("Two videos", clip(1), clip(2)), "one video"),
    ],
)
async def test_what_facebook_cannot_take_is_refused_without_a_call(
    meta: MetaSession, page: StoredCredentials, request_: PublishRequest, words: str
) -> None:
    recorder = Recorder()
    with pytest.raises(Permanent) as caught:
        await meta.facebook.publish(page, request_, {}, recorder)
    assert words in caught.value.message and caught.value.remedy
    assert recorder.exchanges == [] and meta.graph_calls(RED_LION, "POST") == []


# -- failures ------------------------------------------------------------------------------------


async def test_server_error_on_the_feed_is_transient_and_sent(meta: MetaSession, page: StoredCredentials) -> None:
    await meta.control.server_error(code=2, path_contains="/feed")
    with pytest.raises(Transient) as caught:
        await failing(meta, page, post())
    assert caught.value.sent is True, "a 5xx after sending the feed post may hide a real post"
    assert (caught.value.http_status, caught.value.code) == (500, 2)


async def test_ghost_success_leaves_the_post_at_the_twin_and_a_sent_transient(
    meta: MetaSession, page: StoredCredentials
) -> None:
    await meta.control.commit_then_error(code=2, path_contains="/feed")
    with pytest.raises(Transient) as caught:
        await failing(meta, page, post("Ghost quiz"))
    assert caught.value.sent is True
    assert [p["message"] for p in await visible(meta)] == ["Ghost quiz"], "the twin kept the post it answered 500 for"


async def test_commit_then_hang_times_out_as_sent() -> None:
    async with meta_session(read_timeout=IMPATIENT) as impatient:
        credentials = await impatient.connect(impatient.facebook, external_id=RED_LION)
        await impatient.control.commit_then_hang(HELD, path_contains="/photos")
        with pytest.raises(Transient) as caught:
            await impatient.publish(impatient.facebook, credentials, post("Hung photo", photo()))
        assert caught.value.sent is True and "in time" in caught.value.message
        assert len(await impatient.control.visible_posts(RED_LION)) == 1


@pytest.mark.parametrize("fault", ["server_error", "timeout"])
async def test_unpublished_photo_upload_failures_are_not_sent(fault: str) -> None:
    async with meta_session(read_timeout=IMPATIENT) as meta:
        page = await meta.connect(meta.facebook, external_id=RED_LION)
        if fault == "server_error":
            await meta.control.server_error(path_contains="/photos")
        else:
            await meta.control.delay(HELD, path_contains="/photos")
        with pytest.raises(Transient) as caught:
            await meta.publish(meta.facebook, page, post("Album", photo(1), photo(2)))
        assert caught.value.sent is False, "an unpublished photo cannot become a post, so retrying is safe"
        assert await meta.control.visible_posts(RED_LION) == []


async def test_connection_refused_is_not_sent(meta: MetaSession, page: StoredCredentials) -> None:
    nowhere = FacebookAdapter(config_for(f"http://127.0.0.1:{free_port()}"), meta.http)
    with pytest.raises(Transient) as caught:
        await nowhere.publish(page, post(), {}, Recorder())
    assert caught.value.sent is False


async def test_expired_page_token_is_auth_expired(meta: MetaSession, page: StoredCredentials) -> None:
    await meta.control.expire_token(token=page.access_token)
    with pytest.raises(AuthExpired) as caught:
        await failing(meta, page, post())
    assert caught.value.subcode == 463 and "expired" in caught.value.message and caught.value.remedy
    assert page.access_token and page.access_token not in str(caught.value.raw)


async def test_missing_publish_permission_is_permission_missing(meta: MetaSession, page: StoredCredentials) -> None:
    await meta.control.drop_scope("pages_manage_posts")
    with pytest.raises(PermissionMissing) as caught:
        await failing(meta, page, post())
    assert caught.value.http_status == 403 and "pages_manage_posts" in caught.value.scopes
    assert await visible(meta) == []


@pytest.mark.parametrize("code", [506, 368])
async def test_duplicate_text_is_refused_in_plain_words(meta: MetaSession, page: StoredCredentials, code: int) -> None:
    await meta.control.publishing(duplicate_code=code)
    await published(meta, page, post("Same words"))
    with pytest.raises(Permanent) as caught:
        await failing(meta, page, post("Same words"))
    assert (caught.value.message, caught.value.code) == (DUPLICATE, code) and caught.value.remedy
    assert len(await visible(meta)) == 1


async def test_page_throttle_is_rate_limited_with_usage_from_the_headers(
    meta: MetaSession, page: StoredCredentials
) -> None:
    await meta.control.rate_limit(code=32, regain_minutes=7, path_contains="/feed")
    run = Run()
    with pytest.raises(RateLimited) as caught:
        await meta.publish(meta.facebook, page, post(), run=run)
    assert caught.value.retry_after == 7 * 60 and caught.value.code == 32
    [exchange] = run.snapshots()
    assert exchange["usage_percent"] == 100 and "x-business-use-case-usage" in exchange["headers"]
    assert run.recorders[0].highest_usage == 100


async def test_retry_after_header_wins_over_the_default_wait(meta: MetaSession, page: StoredCredentials) -> None:
    await meta.control.rate_limit(code=4, retry_after=120, path_contains="/feed")
    with pytest.raises(RateLimited) as caught:
        await failing(meta, page, post())
    assert caught.value.retry_after == 120


@pytest.mark.parametrize(
    ("subcode", "kind", "words"),
    [
        (1366046, Permanent, "4 MB"),
        (1404078, PermissionMissing, "Page Publishing Authorization"),
        (1390008, RateLimited, "too fast"),
    ],
)
async def test_facebook_subcodes_become_plain_words(
    meta: MetaSession, page: StoredCredentials, subcode: int, kind: type[Exception], words: str
) -> None:
    code = 368 if subcode == 1390008 else 100
    await meta.control.graph_error(code, subcode=subcode, message="(#100) Graph's own words", path_contains="/photos")
    with pytest.raises(kind) as caught:
        await failing(meta, page, post("Photo", photo()))
    assert words in str(caught.value)
