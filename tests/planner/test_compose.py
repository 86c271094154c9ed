"""The planner's composer: per-platform captions with the rules' limits, media from the library with the version each
platform gets, targets, the time in the venue's zone (the clocks' changes explained first), the cutoff and approval;
the post goes through the API's own create_post, and a refused one comes back with why and everything as typed."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from core.media.imaging.presets import PRESETS
from core.posts.rules import RuleLimits
from core.runtime import Runtime
from storage.models import (
    Account,
    MediaAsset,
    MediaDerivative,
    MediaKind,
    MediaStatus,
    Post,
    PostTarget,
    Provider,
    Role,
)
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies, sign_in

LONDON = ZoneInfo("Europe/London")
HTMX = {"HX-Request": "true"}


def wall(runtime: Runtime, days: int = 2, hour: int = 19) -> str:
    """A datetime-local value `days` ahead at `hour`:30 in the venue's zone."""
    day = runtime.clock.now().astimezone(LONDON).date() + timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:30"


def clocks_change(runtime: Runtime, month: int) -> date:
    """The next last Sunday of `month` (March: the clocks go forward in London; October: back), months ahead."""
    year = runtime.clock.now().year + 1
    last = date(year, month, 31)
    return last - timedelta(days=(last.weekday() + 1) % 7)


async def photo(
    runtime: Runtime, venue_id: int, *, width: int = 3000, height: int = 2000, status: MediaStatus = MediaStatus.ready,
    presets: tuple[str, ...] = ("instagram_square", "facebook_feed", "google_business"), name: str = "quiz.jpg",
    kind: MediaKind = MediaKind.image,
) -> int:  # fmt: skip
    """A library photo (or video) with the derivatives `presets` made (a photo's sizes as the engine makes them)."""
    async with runtime.uow() as uow:
        asset = MediaAsset(
            account_id=venue_id, kind=kind, filename=name, content_type="image/jpeg", size=1000,
            sha256=f"{name}-{width}x{height}".ljust(64, "0")[:64], blob_key=f"media/{venue_id}/{name}",
            width=width, height=height, status=status,
        )  # fmt: skip
        uow.session.add(asset)
        await uow.session.flush()
        for preset in presets:
            w, h = PRESETS[preset].fitted(width, height) if preset in PRESETS else (width, height)
            uow.session.add(
                MediaDerivative(
                    asset_id=asset.id, preset=preset, blob_key=f"media/{venue_id}/{asset.id}/{preset}.jpg", width=w,
                    height=h, byte_size=100, content_type="image/jpeg",
                )
            )  # fmt: skip
        await uow.commit()
        return asset.id


async def posts(runtime: Runtime) -> list[Post]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(Post).order_by(Post.id))).scalars())


async def test_the_page_shows_each_platforms_limits_from_the_rules_and_the_venues_targets(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    await factories.connection(runtime, signed_in.venue_id, access_token="t", provider=Provider.facebook)
    await factories.connection(runtime, signed_in.venue_id, access_token="t", provider=Provider.instagram)
    r = await signed_in.get("/planner/compose")
    assert r.status_code == 200, r.text
    limits = RuleLimits(instagram_hashtags=runtime.settings.cheers_instagram_hashtag_limit)
    for what, maximum in (("characters", limits.instagram_caption), ("hashtags", limits.instagram_hashtags),
                          ("mentions", limits.instagram_mentions), ("characters", limits.facebook_text)):  # fmt: skip
        assert f'data-what="{what}" data-max="{maximum}"' in r.text, f"the {what} limit {maximum} is not on the page"
    assert 'name="captions.google_business"' not in r.text, "a platform the venue has no connection to is offered"
    assert r.text.count('name="connection_ids"') == 2, "the venue's two connections should be the targets"
    assert f'value="{runtime.settings.cheers_post_freshness_minutes}"' in r.text, "the default cutoff is missing"
    assert "Europe/London" in r.text and 'type="datetime-local"' in r.text, "the time is not asked in the venue's zone"
    assert '<script src="/static/compose.js" defer>' in r.text, "the live counter script is not included"
    assert (await signed_in.get("/static/compose.js")).status_code == 200, "compose.js is not served"


async def test_a_viewer_is_refused_and_sees_no_new_post_link_while_an_owner_does(
    signed_in: SignedIn, runtime: Runtime
) -> None:
    week = await signed_in.get("/planner/week")
    assert 'href="/planner/compose"' in week.text, "the owner should see New post on the week and in the nav"
    viewer = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.viewer, name="Vic Viewer")
    async with factories.app_client(runtime) as other:
        await sign_in(other, runtime, viewer)
        refused = await other.get("/planner/compose")
        assert refused.status_code == 403, refused.text
        assert "editor" in refused.text, "the refusal should say which role is needed"
        week = await other.get("/planner/week")
        assert '<a href="/planner/week"' in week.text, "the viewer's nav is missing"
        assert 'href="/planner/compose"' not in week.text, "a viewer is offered New post (in the nav or on the week)"


async def test_a_post_is_scheduled_through_create_post_and_lands_on_its_page_with_a_toast(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    page = await factories.connection(runtime, signed_in.venue_id, access_token="t", provider=Provider.facebook)
    insta = await factories.connection(runtime, signed_in.venue_id, access_token="t", provider=Provider.instagram)
    asset = await photo(runtime, signed_in.venue_id)
    when = wall(runtime)
    r = await signed_in.post_form(
        "/planner/compose",
        {"text": "Quiz night tonight", "captions.instagram": "Quiz night #quiz", "connection_ids": [str(page),
         str(insta)], "media_ids": str(asset), "when": when, "freshness_minutes": "90", "link": ""},  # type: ignore[dict-item]
    )  # fmt: skip
    [saved] = await posts(runtime)
    assert (r.status_code, r.headers["location"]) == (303, f"/planner/posts/{saved.id}"), r.text
    assert saved.captions == {"instagram": "Quiz night #quiz"} and saved.freshness_minutes == 90, saved
    local = saved.scheduled_at.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
    assert local == when, f"scheduled at {local}, asked for {when} in London"
    carry_cookies(signed_in.client, r)
    shown = await signed_in.get(r.headers["location"])
    assert "Scheduled for" in shown.text and "toast-ok" in shown.text, "the outcome toast is missing on the post"
    [entry] = await factories.audit_entries(runtime, "post_created")
    assert entry.actor_user_id == signed_in.person.user_id and entry.channel == "web", entry


async def test_a_refused_post_comes_back_with_why_beside_the_field_and_everything_as_typed(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    insta = await factories.connection(runtime, signed_in.venue_id, access_token="t", provider=Provider.instagram)
    limit = runtime.settings.cheers_instagram_hashtag_limit
    tags = " ".join(f"#tag{n}" for n in range(limit + 1))
    r = await signed_in.post_form(
        "/planner/compose",
        {"text": "Kept text", "captions.instagram": tags, "connection_ids": str(insta), "when": wall(runtime)},
    )
    assert r.status_code == 422, r.text
    assert f"at most {limit} hashtags; this one has {limit + 1}" in r.text, "the hashtag rule's words are missing"
    assert 'id="error-captions-instagram"' in r.text, "the problem is not shown beside the Instagram caption"
    assert "Instagram posts need a photo or a video" in r.text, "every problem should be listed, not just the first"
    assert ">Kept text</textarea>" in r.text and f">{tags}</textarea>" in r.text, "what was typed was lost"
    assert re.search(rf'value="{insta}"\s+data-provider="instagram" checked', r.text), "the target was unticked"
    assert f"{limit + 1}</span> of {limit} hashtags (too many)" in r.text, "the count without JS is missing"
    assert await posts(runtime) == [], "a refused post was saved"


async def test_the_time_check_explains_the_clocks_going_forward_and_the_form_asks_which_of_a_repeated_time(
    signed_in: SignedIn,
) -> None:
    runtime = signed_in.runtime
    page = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    spring, autumn = clocks_change(runtime, 3), clocks_change(runtime, 10)
    gap = await signed_in.get(f"/planner/compose/time-check?when={spring.isoformat()}T01:30", headers=HTMX)
    assert "does not exist" in gap.text and "notice-error" in gap.text, gap.text
    fine = await signed_in.get(f"/planner/compose/time-check?when={wall(runtime)}", headers=HTMX)
    assert "Goes out" in fine.text and "notice-error" not in fine.text, fine.text
    twice = f"{autumn.isoformat()}T01:30"
    asked = await signed_in.post_form(
        "/planner/compose", {"text": "Late one", "connection_ids": str(page), "when": twice}
    )
    assert asked.status_code == 422 and 'name="fold" value="earlier"' in asked.text, "no choice for a repeated time"
    assert "BST" in asked.text and "GMT" in asked.text, "the two readings should be named by their zones"
    done = await signed_in.post_form(
        "/planner/compose", {"text": "Late one", "connection_ids": str(page), "when": twice, "fold": "later"}
    )
    assert done.status_code == 303, done.text
    [saved] = await posts(runtime)
    assert saved.scheduled_at.astimezone(LONDON).tzname() == "GMT", "the second 01:30 (GMT) was chosen"


async def test_media_shows_the_version_each_platform_gets_and_its_state(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    for provider in (Provider.facebook, Provider.instagram, Provider.google_business):
        await factories.connection(runtime, signed_in.venue_id, access_token="t", provider=provider)
    await photo(runtime, signed_in.venue_id, name="ready.jpg")
    await photo(runtime, signed_in.venue_id, name="waiting.jpg", status=MediaStatus.pending, presets=())
    await photo(runtime, signed_in.venue_id, name="banner.jpg", width=600, height=200, presets=("instagram_square",))
    await photo(
        runtime, signed_in.venue_id, name="clip.mp4", width=1280, height=720, kind=MediaKind.video,
        presets=("video", "poster"),
    )  # fmt: skip
    r = await signed_in.get("/planner/compose")
    assert r.status_code == 200, r.text
    assert 'alt="ready.jpg as Facebook feed (4:5)"' in r.text, "the ready Facebook version's image is not shown"
    assert 'data-preset="facebook_feed"' in r.text and 'data-preset="google_business"' in r.text, "presets missing"
    assert "1080×1350 px, crop 4:5 (preset facebook_feed)" in r.text, "the Facebook version's size and crop are missing"
    assert "Waiting to be prepared" in r.text, "a photo still being prepared should say so"
    assert "This 600×200 px picture is too short for Google Business Profile" in r.text, (
        "the banner's problem is missing"
    )
    assert "/media/" in r.text, "thumbnails should use the signed media links"
    assert 'alt="clip.mp4 as MP4 video"' in r.text, "the video's poster is not shown"
    assert "include a video; choose a photo instead" in r.text, "the rules' refusal of a Google video is missing"


async def test_an_editor_in_a_venue_that_asks_for_approval_is_told_who_approves_and_the_post_waits(
    signed_in: SignedIn, runtime: Runtime
) -> None:
    async with runtime.uow() as uow:
        await uow.session.execute(
            update(Account).where(Account.id == signed_in.venue_id).values(approve_editor_posts=True)
        )
        await uow.commit()
    page = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    editor = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor, name="Eddie Editor")
    assert "approval" not in (await signed_in.get("/planner/compose")).text.split("<main", 1)[1].split("Submit")[0]
    async with factories.app_client(runtime) as other:
        browser = await sign_in(other, runtime, editor)
        shown = await other.get("/planner/compose")
        assert "This post will wait for approval by Olive Owner" in shown.text, "the approver is not named"
        assert "Submit for approval" in shown.text, shown.text
        r = await other.post(
            "/planner/compose",
            data={
                "csrf_token": browser.csrf,
                "text": "Needs a yes",
                "connection_ids": str(page),
                "when": wall(runtime),
            },
        )
        assert r.status_code == 303, r.text
    [saved] = await posts(runtime)
    assert saved.approval == "pending", "the editor's post should wait for approval"


async def test_a_new_post_from_a_week_cell_keeps_its_time_and_a_post_without_the_csrf_token_is_refused(
    signed_in: SignedIn,
) -> None:
    runtime = signed_in.runtime
    page = await factories.connection(runtime, signed_in.venue_id, access_token="t")
    when = wall(runtime, days=3, hour=12)
    r = await signed_in.get(f"/planner/compose?when={when}")
    assert f'value="{when}"' in r.text, "the time from the week was not filled in"
    assert 'value=""' in (await signed_in.get("/planner/compose?when=nonsense")).text.split('id="when"', 1)[1][:80]
    forged = await signed_in.client.post("/planner/compose", data={"connection_ids": str(page), "when": when})
    assert forged.status_code == 403, forged.text
    assert await posts(runtime) == [], "a post without the CSRF token was saved"


async def test_another_venues_connection_is_refused_on_the_form_and_nothing_is_saved(
    signed_in: SignedIn, runtime: Runtime
) -> None:
    elsewhere = await factories.venue(runtime, name="The Anchor")
    theirs = await factories.connection(runtime, elsewhere, access_token="t")
    r = await signed_in.post_form(
        "/planner/compose", {"text": "Hi", "connection_ids": str(theirs), "when": wall(runtime)}
    )
    assert r.status_code == 422 and f"Connection {theirs} not found" in r.text, r.text
    async with runtime.uow() as uow:
        assert (await uow.session.execute(select(PostTarget))).first() is None, "a delivery was created"
    assert "has no connected" in r.text, "the venue has no connection of its own: the page should say so"


async def test_without_a_time_the_form_says_so(signed_in: SignedIn) -> None:
    page = await factories.connection(signed_in.runtime, signed_in.venue_id, access_token="t")
    r = await signed_in.post_form("/planner/compose", {"text": "When?", "connection_ids": str(page)})
    assert r.status_code == 422 and "Choose a date and time" in r.text, r.text
    assert 'id="error-when"' in r.text, "the problem should sit beside the time"
