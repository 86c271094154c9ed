"""What each provider accepts, checked before a post is accepted."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from core.posts.rules import DraftMedia, DraftTarget, Problem, RuleLimits, check_all, check_target
from providers.publishing import GoogleOptions
from storage.enums import MediaKind, MediaStatus, Provider

IG, FB, GBP = Provider.instagram, Provider.facebook, Provider.google_business
START, END = datetime(2026, 12, 24, 19, 0), datetime(2026, 12, 24, 23, 0)


def photo(n: int = 1, **changes: Any) -> DraftMedia:
    base = DraftMedia(n, MediaKind.image, MediaStatus.ready, 1080, 1350, None, f"photo{n}.jpg")
    return replace(base, **changes)


def video(n: int = 1, duration: float | None = 20.0, **changes: Any) -> DraftMedia:
    base = DraftMedia(n, MediaKind.video, MediaStatus.ready, 1080, 1920, duration, f"clip{n}.mp4")
    return replace(base, **changes)


def draft(provider: Provider, caption: str = "Quiz night tonight!", *media: DraftMedia, **changes: Any) -> DraftTarget:
    return replace(DraftTarget(provider, caption, media=media), **changes)


def rules(problems: list[Problem]) -> list[str]:
    return [p.rule for p in problems]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


# Instagram


def test_an_instagram_photo_with_a_caption_is_fine() -> None:
    assert check_target(draft(IG, "Quiz night #pubquiz", photo())) == []


def test_instagram_needs_a_photo_or_a_video() -> None:
    problem = only(check_target(draft(IG)))
    assert (problem.field, problem.rule) == ("media", "instagram.media_required")


def test_instagram_refuses_a_caption_over_2200_characters() -> None:
    problem = only(check_target(draft(IG, "a" * 2201, photo())))
    assert problem.field == "captions.instagram"
    assert problem.message == "Instagram captions can be at most 2200 characters; this one has 2201."


def test_instagram_accepts_a_caption_of_exactly_2200_characters() -> None:
    assert check_target(draft(IG, "a" * 2200, photo())) == []


def test_instagram_counts_hashtags_and_names_both_numbers() -> None:
    caption = " ".join(f"#tag{i}" for i in range(34))
    problem = only(check_target(draft(IG, caption, photo())))
    assert problem.rule == "instagram.hashtags"
    assert problem.message == "Instagram captions can have at most 30 hashtags; this one has 34."


def test_instagram_hashtag_limit_is_configurable() -> None:
    caption = "#quiz #pub #beer #friday #london #ale"
    assert check_target(draft(IG, caption, photo())) == []
    problem = only(check_target(draft(IG, caption, photo()), RuleLimits(instagram_hashtags=5)))
    assert "at most 5 hashtags; this one has 6" in problem.message


def test_instagram_hashtags_may_use_any_alphabet() -> None:
    caption = "#café #пиво #ビール"
    assert "this one has 3" in only(check_target(draft(IG, caption, photo()), RuleLimits(instagram_hashtags=2))).message


def test_a_link_fragment_is_not_a_hashtag() -> None:
    caption = "Menu at https://thepub.example/menu#drinks"
    assert check_target(draft(IG, caption, photo()), RuleLimits(instagram_hashtags=0)) == []


def test_instagram_refuses_more_than_20_mentions() -> None:
    caption = " ".join(f"@friend.{i}" for i in range(21))
    problem = only(check_target(draft(IG, caption, photo())))
    assert problem.rule == "instagram.mentions"
    assert "this one has 21" in problem.message


def test_an_email_address_is_not_a_mention() -> None:
    caption = "Book at bookings@thepub.example"
    assert check_target(draft(IG, caption, photo()), RuleLimits(instagram_mentions=0)) == []


def test_instagram_carousels_allow_videos_and_up_to_ten_items() -> None:
    media = (*[photo(i) for i in range(9)], video(9))
    assert check_target(draft(IG, "Ten", *media)) == []


def test_instagram_refuses_a_carousel_of_eleven() -> None:
    problem = only(check_target(draft(IG, "Too many", *[photo(i) for i in range(11)])))
    assert problem.rule == "instagram.carousel_size"
    assert "at most 10 photos or videos; this one has 11" in problem.message


def test_instagram_feed_images_outside_the_aspect_range_are_left_to_the_crop() -> None:
    tall = photo(width=1080, height=1920)
    wide = photo(width=3000, height=1000)
    assert check_target(draft(IG, "Crop me", tall, wide)) == []


def test_an_instagram_story_takes_exactly_one_item() -> None:
    problem = only(check_target(draft(IG, "", photo(1), photo(2), surface="story")))
    assert problem.rule == "instagram.story_media"
    assert "this one has 2 photos" in problem.message
    assert check_target(draft(IG, "", video(), surface="story")) == []


def test_a_reel_needs_exactly_one_video() -> None:
    problem = only(check_target(draft(IG, "Reel", photo(), surface="reel")))
    assert problem.message == "Reels need exactly one video; this one has 1 photo."
    assert rules(check_target(draft(IG, "Reel", video(1), video(2), surface="reel"))) == ["instagram.reel_media"]
    assert check_target(draft(IG, "Reel", video(), surface="reel")) == []


@pytest.mark.parametrize("seconds", [2.5, 901.0])
def test_instagram_videos_must_last_three_seconds_to_fifteen_minutes(seconds: float) -> None:
    problem = only(check_target(draft(IG, "Reel", video(duration=seconds), surface="reel")))
    assert problem.rule == "instagram.video_duration"
    assert "must last 3 seconds to 15 minutes; clip1.mp4 lasts" in problem.message


def test_instagram_story_videos_are_held_to_a_minute() -> None:
    problem = only(check_target(draft(IG, "", video(duration=75.0), surface="story")))
    assert "Videos in Instagram stories must last 3 seconds to 1 minute" in problem.message


def test_a_video_of_unknown_length_is_not_refused() -> None:
    assert check_target(draft(IG, "Reel", video(duration=None), surface="reel")) == []


# Facebook


def test_a_facebook_text_post_is_fine() -> None:
    assert check_target(draft(FB, "Quiz night tonight!")) == []


@pytest.mark.parametrize(
    "target",
    [draft(FB, "", photo()), draft(FB, "", link="https://thepub.example/quiz")],
)
def test_a_facebook_post_may_be_just_a_photo_or_a_link(target: DraftTarget) -> None:
    assert check_target(target) == []


def test_an_empty_facebook_post_is_refused() -> None:
    problem = only(check_target(draft(FB, "   ")))
    assert (problem.field, problem.rule) == ("captions.facebook", "facebook.empty")


def test_facebook_refuses_text_over_the_limit() -> None:
    problem = only(check_target(draft(FB, "a" * 63207)))
    assert problem.message == "Facebook posts can be at most 63206 characters; this one has 63207."


def test_facebook_posts_go_to_the_feed_only() -> None:
    problem = only(check_target(draft(FB, "Hi", surface="story")))
    assert (problem.field, problem.rule) == ("surface", "facebook.surface")


@pytest.mark.parametrize("link", ["thepub.example", "ftp://thepub.example/x", "javascript:alert(1)", "https://"])
def test_a_facebook_link_must_be_a_web_address(link: str) -> None:
    problem = only(check_target(draft(FB, "Hi", link=link)))
    assert (problem.field, problem.rule) == ("link", "facebook.link")


def test_facebook_takes_several_photos_or_one_video_not_both() -> None:
    assert check_target(draft(FB, "Album", photo(1), photo(2), photo(3))) == []
    problem = only(check_target(draft(FB, "Mixed", photo(), video())))
    assert problem.message.endswith("this one has 1 photo and 1 video.")


# Google Business Profile


def test_a_business_profile_update_with_one_photo_is_fine() -> None:
    assert check_target(draft(GBP, "Quiz night tonight!", photo())) == []


def test_a_business_profile_update_needs_text() -> None:
    problem = only(check_target(draft(GBP, "", photo())))
    assert (problem.field, problem.rule) == ("captions.google_business", "google.summary_required")


def test_business_profile_summary_is_at_most_1500_characters() -> None:
    problem = only(check_target(draft(GBP, "a" * 1501)))
    assert problem.message == "Business Profile posts can be at most 1500 characters; this one has 1501."


def test_business_profile_refuses_video() -> None:
    problem = only(check_target(draft(GBP, "Clip", video())))
    assert (problem.field, problem.rule) == ("media", "google.video")


def test_business_profile_takes_one_photo_at_most() -> None:
    problem = only(check_target(draft(GBP, "Two", photo(1), photo(2))))
    assert problem.message == "Business Profile posts can have at most 1 photo; this one has 2."


def test_business_profile_has_no_stories() -> None:
    assert rules(check_target(draft(GBP, "Hi", surface="story"))) == ["google.surface"]


def event(**changes: Any) -> GoogleOptions:
    return replace(GoogleOptions("EVENT", event_title="Christmas quiz", event_start=START, event_end=END), **changes)


def test_a_complete_event_is_fine_even_without_text() -> None:
    assert check_target(draft(GBP, "", google=event())) == []


def test_an_event_needs_a_title_a_start_and_an_end() -> None:
    options = GoogleOptions("EVENT")
    problems = check_target(draft(GBP, "Quiz", google=options))
    assert [p.field for p in problems] == ["google.event_title", "google.event_start", "google.event_end"]


def test_an_event_title_is_at_most_58_characters() -> None:
    problem = only(check_target(draft(GBP, "Quiz", google=event(event_title="x" * 59))))
    assert problem.field == "google.event_title"
    assert problem.message == "Business Profile event titles can be at most 58 characters; this one has 59."


def test_an_event_must_end_after_it_starts() -> None:
    problem = only(check_target(draft(GBP, "Quiz", google=event(event_end=START))))
    assert (problem.field, problem.rule) == ("google.event_end", "google.event_order")


def test_an_offer_needs_the_event_fields_too() -> None:
    problems = check_target(draft(GBP, "2 for 1", google=GoogleOptions("OFFER", event_title="2 for 1 pizzas")))
    assert rules(problems) == ["google.event_start_required", "google.event_end_required"]
    assert "Offers on Business Profile need a start time." in problems[0].message


def test_an_offer_has_no_button_of_its_own() -> None:
    options = event(topic_type="OFFER", cta_type="BOOK", cta_url="https://thepub.example/book")
    problem = only(check_target(draft(GBP, "2 for 1", google=options)))
    assert (problem.field, problem.rule) == ("google.cta_type", "google.offer_cta")


def test_an_offer_redeem_link_must_be_a_web_address() -> None:
    options = event(topic_type="OFFER", redeem_url="thepub.example/redeem")
    assert rules(check_target(draft(GBP, "2 for 1", google=options))) == ["google.redeem_url"]


def test_an_unknown_post_type_is_refused() -> None:
    options = GoogleOptions(topic_type="ALERT")  # type: ignore[arg-type]
    assert rules(check_target(draft(GBP, "Closed", google=options))) == ["google.topic_type"]


def test_a_call_button_has_no_link() -> None:
    assert check_target(draft(GBP, "Ring us", google=GoogleOptions(cta_type="CALL"))) == []
    options = GoogleOptions(cta_type="CALL", cta_url="https://thepub.example")
    problem = only(check_target(draft(GBP, "Ring us", google=options)))
    assert (problem.field, problem.rule) == ("google.cta_url", "google.call_url")


@pytest.mark.parametrize("url", [None, "", "thepub.example/book"])
def test_other_buttons_need_a_web_address(url: str | None) -> None:
    options = GoogleOptions(cta_type="BOOK", cta_url=url)
    problem = only(check_target(draft(GBP, "Book now", google=options)))
    assert (problem.field, problem.rule) == ("google.cta_url", "google.cta_url")
    assert problem.message.startswith("The Book button needs a web address")


def test_a_button_with_a_web_address_is_fine() -> None:
    options = GoogleOptions(cta_type="LEARN_MORE", cta_url="https://thepub.example/quiz")
    assert check_target(draft(GBP, "Quiz", google=options)) == []


def test_an_unknown_button_type_is_refused() -> None:
    options = GoogleOptions(cta_type="DANCE", cta_url="https://thepub.example")
    assert rules(check_target(draft(GBP, "Quiz", google=options))) == ["google.cta_type"]


def test_a_button_link_without_a_type_is_refused() -> None:
    options = GoogleOptions(cta_url="https://thepub.example")
    assert rules(check_target(draft(GBP, "Quiz", google=options))) == ["google.cta_required"]


# Every provider


@pytest.mark.parametrize("provider", [IG, FB, GBP])
def test_a_failed_file_is_refused_for_every_provider_naming_the_file(provider: Provider) -> None:
    party = photo(filename="party.jpg", status=MediaStatus.failed)
    problem = only(check_target(draft(provider, "Party", party)))
    assert (problem.field, problem.rule) == ("media", "media.failed")
    assert problem.message.startswith("party.jpg couldn't be prepared (its status is failed): see the media library")


@pytest.mark.parametrize("status", [MediaStatus.pending, MediaStatus.processing, MediaStatus.skipped])
def test_files_still_being_prepared_are_not_refused(status: MediaStatus) -> None:
    assert check_target(draft(IG, "Soon", photo(status=status))) == []


def test_check_all_collects_every_target_and_names_a_failed_file_once() -> None:
    party = photo(filename="party.jpg", status=MediaStatus.failed)
    targets = [draft(IG, "Party", party), draft(FB, "Party", party), draft(GBP, "Party", party, video())]
    assert rules(check_all(targets)) == ["media.failed", "google.video"]


def test_check_all_of_good_targets_is_empty() -> None:
    targets = [draft(IG, "Quiz", photo()), draft(FB, "Quiz"), draft(GBP, "Quiz", photo())]
    assert check_all(targets) == []
