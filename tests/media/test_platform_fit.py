"""Which platforms a photo can go to, from its size and the preset table: the numbers in the messages."""

from __future__ import annotations

import pytest

from core.media.imaging.presets import PRESETS
from core.media.platforms import unusable_for, unusable_on
from core.posts.rules import DraftMedia, DraftTarget, check_target
from storage.enums import MediaKind, MediaStatus, Provider

GOOGLE = Provider.google_business


@pytest.mark.parametrize(
    ("size", "what", "crop", "ask"),
    [
        ((600, 200), "too short", "264×198", "at least 252 px tall"),
        ((400, 250), "too short", "332×249", "at least 252 px tall"),  # 250 px tall crops to 249 in whole 4:3 steps
        ((200, 600), "too narrow", "200×150", "at least 336 px wide"),
        ((300, 200), "too small", "264×198", "at least 336×252 px"),
    ],
)
def test_the_google_message_gives_the_crop_and_the_side_that_is_short(
    size: tuple[int, int], what: str, crop: str, ask: str
) -> None:
    short = unusable_on(GOOGLE, "feed", *size)
    assert short is not None
    assert short.reason == (
        f"This {size[0]}×{size[1]} px picture is {what} for Google Business Profile: "
        f"its 4:3 crop would be {crop} px, and Google needs at least 250×250 px."
    )
    assert short.remedy == f"use a photo {ask} (the smallest 4:3 crop we can send is 336×252 px)"


@pytest.mark.parametrize("size", [(336, 252), (600, 252), (336, 1000), (1600, 1200)])
def test_a_photo_whose_crop_reaches_google_minimum_is_usable_everywhere(size: tuple[int, int]) -> None:
    assert unusable_for(*size) == []
    assert PRESETS["google_business"].fitted(*size)[1] >= 250


def test_instagram_and_facebook_take_small_photos_because_they_scale_them_up() -> None:
    # docs/providers.md#instagram-media-rules: Instagram scales widths under 320 up; Facebook publishes no minimum.
    assert [u.provider for u in unusable_for(240, 240)] == [GOOGLE]
    assert unusable_on(Provider.instagram, "story", 600, 200) is None


def test_the_post_rules_refuse_only_the_target_the_photo_is_too_small_for() -> None:
    banner = DraftMedia(7, MediaKind.image, MediaStatus.ready, 600, 200, None, "banner.jpg")
    assert check_target(DraftTarget(Provider.facebook, "Quiz", media=(banner,))) == []
    assert check_target(DraftTarget(Provider.instagram, "Quiz", media=(banner,))) == []
    [problem] = check_target(DraftTarget(GOOGLE, "Quiz", media=(banner,)))
    assert (problem.field, problem.rule) == ("media", "google_business.photo_size")
    assert problem.message.startswith("banner.jpg can't go to Google Business Profile. This 600×200 px picture")
    assert problem.message.endswith("or leave Google Business Profile out of this post.")
    # Its size is only known once it is prepared; until then the delivery waits for it instead.
    pending = DraftMedia(8, MediaKind.image, MediaStatus.pending, None, None, None, "new.jpg")
    assert check_target(DraftTarget(GOOGLE, "Quiz", media=(pending,))) == []
