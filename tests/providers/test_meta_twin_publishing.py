"""The Meta twin's publishing protocol over raw HTTP: feed, photos, videos, containers, quota, faults, control."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from sandbox.meta.state import MetaTwinState
from sandbox.meta.twin import DEFAULT_APP_ID, DEFAULT_APP_SECRET, MetaTwinControl, running_meta_twin
from sandbox.server import TwinServer, free_port
from tests.timing import HELD, IMPATIENT

RED_LION, IG = "109000000000001", "17841400000000001"
REDIRECT = "http://127.0.0.1:8000/cb"
SCOPES = "pages_show_list,pages_manage_posts,pages_read_engagement,instagram_basic,instagram_content_publish"


@dataclass
class Twin:
    url: str
    control: MetaTwinControl
    state: MetaTwinState
    http: httpx.AsyncClient
    user: str = ""
    page: str = ""

    async def call(self, method: str, path: str, token: str | None = None, **values: Any) -> httpx.Response:
        """Graph as a client would call it: token in the header, parameters as form (POST) or query (GET)."""
        headers = {"Authorization": f"Bearer {token if token is not None else self.page}"}
        if method == "GET":
            return await self.http.get(f"{self.url}/v25.0/{path}", params=values, headers=headers)
        return await self.http.post(f"{self.url}/v25.0/{path}", data=values, headers=headers)

    async def ok(self, method: str, path: str, token: str | None = None, **values: Any) -> dict[str, Any]:
        response = await self.call(method, path, token, **values)
        assert response.status_code == 200, f"{method} {path} failed: {response.text}"
        body: dict[str, Any] = response.json()
        return body

    async def error(
        self, method: str, path: str, token: str | None = None, **values: Any
    ) -> tuple[int, dict[str, Any]]:
        response = await self.call(method, path, token, **values)
        assert response.status_code >= 400, f"{method} {path} should have failed: {response.text}"
        error: dict[str, Any] = response.json()["error"]
        assert error["type"] == "OAuthException" and error["fbtrace_id"]
        return response.status_code, error

    async def login(self, scope: str = SCOPES) -> None:
        """Consent, code exchange, long-lived exchange, then the Red Lion's Page token."""
        dialog = {"client_id": DEFAULT_APP_ID, "redirect_uri": REDIRECT, "state": "s", "scope": scope}
        location = (await self.http.get(f"{self.url}/v25.0/dialog/oauth", params=dialog)).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        app = {"client_id": DEFAULT_APP_ID, "client_secret": DEFAULT_APP_SECRET}
        short = await self.http.post(
            f"{self.url}/oauth/access_token", data={**app, "redirect_uri": REDIRECT, "code": code}
        )
        exchange = {**app, "grant_type": "fb_exchange_token", "fb_exchange_token": short.json()["access_token"]}
        self.user = (await self.http.post(f"{self.url}/oauth/access_token", data=exchange)).json()["access_token"]
        accounts = await self.ok("GET", "me/accounts", self.user)
        self.page = next(p["access_token"] for p in accounts["data"] if p["id"] == RED_LION)

    async def container(self, **values: Any) -> str:
        return str((await self.ok("POST", f"{IG}/media", **values))["id"])

    async def status(self, container_id: str) -> dict[str, Any]:
        return await self.ok("GET", container_id, fields="status_code,status")


@pytest.fixture
async def twin() -> AsyncIterator[Twin]:
    async with running_meta_twin() as (url, control, state), httpx.AsyncClient(timeout=5.0) as http:
        twin = Twin(url, control, state, http)
        await twin.login()
        yield twin


# -- Facebook Page -------------------------------------------------------------------------------


async def test_feed_post_is_visible_listed_and_read_back(twin: Twin) -> None:
    created = await twin.ok("POST", f"{RED_LION}/feed", message="Quiz night", fields="id,permalink_url")
    post_id = created["id"]
    assert post_id.startswith(f"{RED_LION}_") and created["permalink_url"].endswith(post_id.split("_")[1])
    assert "permalink_url" not in await twin.ok("POST", f"{RED_LION}/feed", message="Second")
    for edge in ("feed", "published_posts"):
        listed = (await twin.ok("GET", f"{RED_LION}/{edge}", fields="id,message,created_time,permalink_url"))["data"]
        assert [p["message"] for p in listed] == ["Second", "Quiz night"], f"{edge} lists newest first"
        assert listed[1]["created_time"].endswith("+0000") and listed[1]["permalink_url"]
    page_one = await twin.ok("GET", f"{RED_LION}/feed", limit="1")
    assert len(page_one["data"]) == 1 and page_one["paging"]["cursors"]["after"]
    future = str(int(twin.state.now().timestamp()) + 60)
    assert (await twin.ok("GET", f"{RED_LION}/feed", since=future))["data"] == []
    assert (await twin.ok("GET", post_id, fields="message,permalink_url"))["message"] == "Quiz night"
    assert [p["message"] for p in await twin.control.visible_posts(RED_LION)] == ["Quiz night", "Second"]


async def test_unpublished_photos_are_invisible_until_attached_to_one_post(twin: Twin) -> None:
    ids = []
    for n in range(2):
        upload = await twin.ok("POST", f"{RED_LION}/photos", url=f"https://x.example/{n}.jpg", published="false")
        ids.append(upload["id"])
    assert await twin.control.visible_posts() == [], "an unpublished photo is not a post"
    form = {f"attached_media[{i}]": f'{{"media_fbid":"{pid}"}}' for i, pid in enumerate(ids)}
    await twin.ok("POST", f"{RED_LION}/feed", message="Album", **form)
    [album] = await twin.control.visible_posts(RED_LION)
    assert (album["kind"], album["attached_media"]) == ("album", ids)
    _, reused = await twin.error("POST", f"{RED_LION}/feed", message="Again", **form)
    assert reused["code"] == 100 and "media_fbid" in reused["message"]


async def test_feed_accepts_attached_media_in_a_json_body(twin: Twin) -> None:
    photo_id = (await twin.ok("POST", f"{RED_LION}/photos", url="https://x.example/1.jpg", published="false"))["id"]
    body = {"message": "JSON album", "attached_media": [{"media_fbid": photo_id}]}
    headers = {"Authorization": f"Bearer {twin.page}"}
    response = await twin.http.post(f"{twin.url}/{RED_LION}/feed", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert (await twin.control.visible_posts())[0]["attached_media"] == [photo_id]


async def test_published_photo_answers_its_post_id(twin: Twin) -> None:
    photo = await twin.ok("POST", f"{RED_LION}/photos", url="https://x.example/p.jpg", caption="Roast")
    [live] = await twin.control.visible_posts(RED_LION)
    assert (photo["post_id"], live["object_id"], live["message"]) == (live["id"], photo["id"], "Roast")
    _, missing = await twin.error("POST", f"{RED_LION}/photos", caption="No file")
    assert missing["code"] == 324


async def test_video_processes_on_the_twin_clock(twin: Twin) -> None:
    await twin.control.publishing(fb_video_processing_seconds=45)
    video = await twin.ok("POST", f"{RED_LION}/videos", file_url="https://x.example/v.mp4", description="Band")
    video_id = video["id"]
    assert (await twin.ok("GET", video_id, fields="status"))["status"]["video_status"] == "processing"
    await twin.control.advance_clock(45)
    read = await twin.ok("GET", video_id, fields="status,permalink_url")
    assert read["status"]["video_status"] == "ready" and read["permalink_url"].endswith(f"/videos/{video_id}/")


async def test_scheduled_posts_follow_the_window(twin: Twin) -> None:
    now = int(twin.state.now().timestamp())
    await twin.ok(
        "POST", f"{RED_LION}/feed", message="Later", published="false", scheduled_publish_time=str(now + 3600)
    )
    assert await twin.control.visible_posts() == []
    for bad in (now + 60, now + 31 * 86400):
        _, error = await twin.error(
            "POST", f"{RED_LION}/feed", message="Bad time", published="false", scheduled_publish_time=str(bad)
        )
        assert error["code"] == 100, f"{bad - now} s ahead should be refused"
    _, both = await twin.error("POST", f"{RED_LION}/feed", message="Both", scheduled_publish_time=str(now + 3600))
    assert both["code"] == 100
    await twin.control.advance_clock(3600)
    assert [p["message"] for p in await twin.control.visible_posts()] == ["Later"]


@pytest.mark.parametrize(("setting", "expected"), [(506, 506), (368, 368), (0, None)])
async def test_duplicate_messages_follow_the_setting(twin: Twin, setting: int, expected: int | None) -> None:
    await twin.control.publishing(duplicate_code=setting)
    await twin.ok("POST", f"{RED_LION}/feed", message="Same")
    second = await twin.call("POST", f"{RED_LION}/feed", message="Same")
    if expected is None:
        assert second.status_code == 200 and len(await twin.control.visible_posts()) == 2
        return
    assert second.status_code == 400 and second.json()["error"]["code"] == expected
    await twin.control.advance_clock(86401)
    assert (await twin.call("POST", f"{RED_LION}/feed", message="Same")).status_code == 200, "the window passed"


async def test_publishing_needs_a_page_token_both_scopes_and_a_content_task(twin: Twin) -> None:
    status, error = await twin.error("POST", f"{RED_LION}/feed", twin.user, message="As a user")
    assert (status, error["code"]) == (403, 200) and "pages_manage_posts" in error["message"]
    await twin.control.drop_scope("pages_manage_posts")
    assert (await twin.error("POST", f"{RED_LION}/feed", message="No scope"))[0] == 403
    await twin.control.scenario(
        [{"name": "Bar staff", "pages": [{"id": RED_LION, "name": "Pub", "tasks": ["ANALYZE"]}]}]
    )
    await twin.login()
    assert (await twin.error("POST", f"{RED_LION}/feed", message="No task"))[0] == 403


# -- Instagram -----------------------------------------------------------------------------------


async def test_container_lifecycle_and_publish_once(twin: Twin) -> None:
    await twin.control.publishing(image_processing_seconds=10)
    container_id = await twin.container(image_url="https://x.example/i.jpg", caption="Hello")
    assert (await twin.status(container_id))["status_code"] == "IN_PROGRESS"
    _, early = await twin.error("POST", f"{IG}/media_publish", creation_id=container_id)
    assert (early["code"], early["error_subcode"]) == (9007, 2207027) and early["error_user_title"]
    await twin.control.advance_clock(10)
    assert (await twin.status(container_id))["status_code"] == "FINISHED"
    media_id = (await twin.ok("POST", f"{IG}/media_publish", creation_id=container_id))["id"]
    again = (await twin.ok("POST", f"{IG}/media_publish", creation_id=container_id))["id"]
    assert again == media_id and (await twin.status(container_id))["status_code"] == "PUBLISHED"
    assert [m["id"] for m in await twin.control.instagram_media(IG)] == [media_id], "no duplicate"
    limit = await twin.ok("GET", f"{IG}/content_publishing_limit", fields="quota_usage,config")
    assert limit["data"] == [{"quota_usage": 1, "config": {"quota_total": 50, "quota_duration": 86400}}]
    assert (await twin.ok("GET", media_id, fields="permalink"))["permalink"].startswith("https://www.instagram.com/p/")
    assert (await twin.ok("GET", f"{IG}/media", fields="id,caption"))["data"] == [{"id": media_id, "caption": "Hello"}]


async def test_unpublished_container_expires_after_a_day(twin: Twin) -> None:
    container_id = await twin.container(image_url="https://x.example/i.jpg")
    await twin.control.advance_clock(86400)
    assert (await twin.status(container_id))["status_code"] == "EXPIRED"
    _, error = await twin.error("POST", f"{IG}/media_publish", creation_id=container_id)
    assert error["error_subcode"] == 2207008


async def test_container_faults_end_in_error_or_never_finish(twin: Twin) -> None:
    await twin.control.container_fault("error", subcode=2207082, after_seconds=600, media_type="REELS")
    await twin.control.container_fault("expired")
    reel = await twin.container(media_type="REELS", video_url="https://x.example/v.mp4", caption="Band")
    stuck = await twin.container(image_url="https://x.example/i.jpg")
    await twin.control.advance_clock(599)
    assert (await twin.status(reel))["status_code"] == "IN_PROGRESS"
    await twin.control.advance_clock(1)
    assert await twin.status(reel) == {
        "id": reel,
        "status_code": "ERROR",
        "status": "Error: Media upload has failed with error code 2207082",
    }
    await twin.control.advance_clock(86400)
    assert (await twin.status(stuck))["status_code"] == "EXPIRED"


async def test_video_containers_take_the_video_processing_time(twin: Twin) -> None:
    await twin.control.publishing(video_processing_seconds=90)
    story = await twin.container(media_type="STORIES", video_url="https://x.example/s.mp4")
    await twin.control.advance_clock(89)
    assert (await twin.status(story))["status_code"] == "IN_PROGRESS"
    await twin.control.advance_clock(1)
    assert (await twin.status(story))["status_code"] == "FINISHED"


async def test_quota_is_a_rolling_window(twin: Twin) -> None:
    await twin.control.publishing(quota_total=2)
    for n in range(2):
        await twin.ok("POST", f"{IG}/media_publish", creation_id=await twin.container(image_url=f"https://x/{n}.jpg"))
    status, error = await twin.error(
        "POST", f"{IG}/media_publish", creation_id=await twin.container(image_url="https://x/3.jpg")
    )
    assert (status, error["code"], error["error_subcode"]) == (400, 9, 2207042)
    assert (await twin.ok("GET", f"{IG}/content_publishing_limit"))["data"] == [{"quota_usage": 2}]
    await twin.control.advance_clock(86401)
    assert (await twin.ok("GET", f"{IG}/content_publishing_limit"))["data"] == [{"quota_usage": 0}]
    await twin.control.exhaust_quota(IG)
    assert (await twin.ok("GET", f"{IG}/content_publishing_limit"))["data"] == [{"quota_usage": 2}]


async def test_carousel_needs_two_to_ten_items_of_this_account(twin: Twin) -> None:
    items = [await twin.container(image_url=f"https://x/{n}.jpg", is_carousel_item="true") for n in range(2)]
    _, one = await twin.error("POST", f"{IG}/media", media_type="CAROUSEL", children=items[0])
    assert one["error_subcode"] == 2207028
    plain = await twin.container(image_url="https://x/plain.jpg")
    _, not_item = await twin.error("POST", f"{IG}/media", media_type="CAROUSEL", children=f"{items[0]},{plain}")
    assert not_item["error_subcode"] == 2207028
    parent = await twin.container(media_type="CAROUSEL", children=",".join(items), caption="Two")
    media_id = (await twin.ok("POST", f"{IG}/media_publish", creation_id=parent))["id"]
    assert (await twin.ok("GET", media_id, fields="media_type"))["media_type"] == "CAROUSEL_ALBUM"
    assert [(await twin.status(i))["status_code"] for i in items] == ["PUBLISHED", "PUBLISHED"]


async def test_instagram_writes_need_content_publish(twin: Twin) -> None:
    await twin.control.drop_scope("instagram_content_publish")
    status, error = await twin.error("POST", f"{IG}/media", image_url="https://x/i.jpg")
    assert (status, error["code"]) == (403, 200) and "instagram_content_publish" in error["message"]
    assert (await twin.ok("GET", f"{IG}/content_publishing_limit"))["data"][0]["quota_usage"] == 0


# -- faults and control --------------------------------------------------------------------------


async def test_commit_then_error_creates_the_post_then_answers_500(twin: Twin) -> None:
    await twin.control.commit_then_error(code=1, path_contains="/feed")
    await twin.ok("GET", f"{RED_LION}/feed")  # reads are never hit by a commit fault
    status, error = await twin.error("POST", f"{RED_LION}/feed", message="Ghost")
    assert (status, error["code"], error["is_transient"]) == (500, 1, True)
    assert [p["message"] for p in await twin.control.visible_posts()] == ["Ghost"]


async def test_commit_then_hang_creates_the_post_then_holds_the_answer(twin: Twin) -> None:
    await twin.control.commit_then_hang(HELD, path_contains="media_publish")
    container_id = await twin.container(image_url="https://x/i.jpg")
    with pytest.raises(httpx.ReadTimeout):
        await twin.http.post(
            f"{twin.url}/{IG}/media_publish",
            data={"creation_id": container_id},
            headers={"Authorization": f"Bearer {twin.page}"},
            timeout=httpx.Timeout(5.0, read=IMPATIENT),
        )
    assert len(await twin.control.instagram_media(IG)) == 1


async def test_graph_error_fault_and_retry_after_header(twin: Twin) -> None:
    await twin.control.graph_error(100, subcode=1366046, message="(#100) Photo too big", path_contains="/photos")
    status, error = await twin.error("POST", f"{RED_LION}/photos", url="https://x/big.jpg")
    assert (status, error["error_subcode"]) == (400, 1366046) and await twin.control.visible_posts() == []
    await twin.control.rate_limit(code=4, retry_after=90)
    throttled = await twin.call("POST", f"{RED_LION}/feed", message="Throttled")
    assert throttled.headers["retry-after"] == "90" and throttled.json()["error"]["code"] == 4


async def test_clear_faults_also_clears_container_faults_and_state_shows_content(twin: Twin) -> None:
    await twin.control.container_fault("expired")
    await twin.control.clear_faults()
    container_id = await twin.container(image_url="https://x/i.jpg")
    assert (await twin.status(container_id))["status_code"] == "FINISHED"
    content = (await twin.control.state())["content"]
    assert [c["status_code"] for c in content["containers"]] == ["FINISHED"] and content["container_faults"] == []
    assert content["settings"]["quota_total"] == 50 and content["settings"]["fetch_media"] is False


async def image_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A tiny ASGI server of PNGs: /{w}x{h}.png answers an image of that size, anything else 404."""
    name = str(scope["path"]).strip("/").removesuffix(".png")
    try:
        width, height = (int(v) for v in name.split("x"))
    except ValueError:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, "PNG")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"image/png")]})
    await send({"type": "http.response.body", "body": buffer.getvalue()})


async def test_fetch_media_checks_reachability_and_aspect_ratio(twin: Twin) -> None:
    images = TwinServer(image_app)
    base = await images.start()
    try:
        await twin.control.publishing(fetch_media=True)
        assert await twin.container(image_url=f"{base}/1080x1350.png")
        _, tall = await twin.error("POST", f"{IG}/media", image_url=f"{base}/1080x1920.png")
        assert (tall["code"], tall["error_subcode"]) == (36003, 2207009) and "0.56" in tall["message"]
        _, gone = await twin.error("POST", f"{IG}/media", image_url=f"{base}/missing.png")
        assert (gone["code"], gone["error_subcode"]) == (9004, 2207052) and gone["error_user_msg"]
        story = await twin.container(media_type="STORIES", image_url=f"{base}/1080x1920.png")
        assert story, "stories are 9:16; only feed images are held to 4:5..1.91:1"
        _, photo = await twin.error("POST", f"{RED_LION}/photos", url=f"http://127.0.0.1:{free_port()}/x.png")
        assert photo["code"] == 324
    finally:
        await images.stop()
