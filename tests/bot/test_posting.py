"""Posts from chat: schedule with typed times, the week, a post's status, retry and the manual package, each as the
linked person with their own role, and another venue's ids "not found"."""

from __future__ import annotations

import pytest

from core.notifications.actions import Action
from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import ConnectionStatus, DeliveryStatus, Provider, Role
from tests import factories
from tests.bot.conftest import Pub
from tests.bot.support import link, say, shown, turn
from tests.publishing.conftest import Drain
from tests.publishing.support import deliveries, delivery

ASKED = [
    ('schedule tomorrow 6pm "Quiz night from 8!"', "Scheduled for Thu 26 Nov 18:00 GMT"),
    ('schedule fri 18:00 "Live music"', "Scheduled for Fri 27 Nov 18:00 GMT"),
    ('schedule in 2 hours "Happy hour"', "Scheduled for Wed 25 Nov 14:00 GMT"),
    ('schedule 25/12 12:00 "Merry Christmas" to fb', "Scheduled for Fri 25 Dec 12:00 GMT"),
    ('/cheers schedule now "Doors open"', "Scheduled for now"),
]


async def _member(runtime: Runtime, pub: Pub, role: Role, user: str) -> factories.Person:
    """A person with `role` at the pub, linked as chat user `user`."""
    who = await factories.person(runtime, venue_id=pub.id, role=role)
    await link(runtime, who, turn(user))
    return who


async def _failed_delivery(runtime: Runtime, pub: Pub, drain: Drain) -> int:
    pub.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    editor = await _member(runtime, pub, Role.editor, "U-setup")
    answer = await say(runtime, turn("U-setup"), 'schedule now "Quiz night"')
    assert answer.title.startswith("Post "), shown(answer)
    await drain()
    post_id = int(answer.title.split()[1])
    [target] = await deliveries(runtime, post_id)
    assert target.status is DeliveryStatus.failed and editor
    return target.id


@pytest.mark.parametrize(("typed", "answer"), ASKED)
async def test_schedule_reads_the_time_in_the_venues_zone_and_answers_like_the_api(
    runtime: Runtime, pub: Pub, typed: str, answer: str
) -> None:
    await _member(runtime, pub, Role.editor, "U1")

    said = await say(runtime, turn("U1"), typed)

    assert said.lines[0].startswith(answer), shown(said)
    assert "on Facebook Page" in said.lines[0] and said.title.startswith("Post "), shown(said)
    assert "scheduled" in said.items[0].text and not said.private, shown(said)


@pytest.mark.parametrize(
    ("typed", "asked_back"),
    [
        ('schedule 6 "Quiz"', "'6am' or '6pm'"),
        ('schedule 11am "Brunch"', "Thu 26 Nov 11:00"),
        ('schedule fri "Quiz"', "What time on Fri 27 Nov"),
        ('schedule 31/02 10am "Quiz"', "not a real date"),
        (
            'schedule 2027-03-28 01:30 "Quiz"',
            "Did you mean: Sun 28 Mar 00:59 (UTC+0000) or Sun 28 Mar 02:00 (UTC+0100)?",
        ),
    ],
)
async def test_an_unclear_or_past_time_is_asked_back_and_nothing_is_scheduled(
    runtime: Runtime, pub: Pub, typed: str, asked_back: str
) -> None:
    editor = await _member(runtime, pub, Role.editor, "U1")

    said = await say(runtime, turn("U1"), typed)

    assert said.title == "When should it go out?" and asked_back in shown(said), shown(said)
    assert said.private, "a question back is for the person who typed"
    listed = await say(runtime, turn("U1"), "week")
    assert "nothing scheduled" in listed.title and editor, shown(listed)


async def test_schedule_without_to_goes_everywhere_it_can_and_says_what_was_left_out_and_what_waits(
    runtime: Runtime, pub: Pub
) -> None:
    await factories.connection(runtime, pub.id, access_token="ig", provider=Provider.instagram)
    await factories.connection(
        runtime, pub.id, access_token="g", provider=Provider.google_business, status=ConnectionStatus.needs_reconnect
    )
    await _member(runtime, pub, Role.editor, "U1")

    said = await say(runtime, turn("U1"), 'schedule tomorrow 6pm "Quiz night"')

    text = shown(said)
    assert "Facebook Page" in said.lines[0] and "Google Business Profile location" in said.lines[0], text
    assert "Not sent to Instagram account" in text, f"the text-only post should skip Instagram, saying so: {text}"
    assert "needs reconnecting, so this post will wait" in text, f"the API's warning is missing: {text}"
    refused = await say(runtime, turn("U1"), 'schedule tomorrow 6pm "Quiz night" to ig')
    assert refused.title == "That didn't work" and "Instagram" in shown(refused), shown(refused)


async def test_a_viewer_cannot_schedule_and_is_told_why(runtime: Runtime, pub: Pub) -> None:
    await _member(runtime, pub, Role.viewer, "U1")

    said = await say(runtime, turn("U1"), 'schedule tomorrow 6pm "Quiz night"')

    assert said.title == "You can't do that" and "needs the editor role" in shown(said), shown(said)
    assert "nothing scheduled" in (await say(runtime, turn("U1"), "week")).title


async def test_week_lists_the_posts_with_their_deliveries_and_next_week_is_separate(runtime: Runtime, pub: Pub) -> None:
    await _member(runtime, pub, Role.editor, "U1")
    await say(runtime, turn("U1"), 'schedule fri 18:00 "Live music"')
    await say(runtime, turn("U1"), 'schedule 2026-12-02 19:00 "Next week quiz"')

    this_week = await say(runtime, turn("U1"), "week")
    next_week = await say(runtime, turn("U1"), "week next")

    assert this_week.title == "This week at The Red Lion: 1 post", shown(this_week)
    assert "Fri 27 Nov 18:00 GMT · Live music" in this_week.items[0].text, shown(this_week)
    assert "Facebook Page" in this_week.items[0].text and ": scheduled" in this_week.items[0].text
    assert "Next week quiz" in shown(next_week) and "Live music" not in shown(next_week), shown(next_week)


async def test_status_shows_each_delivery_and_the_offers_that_fix_it(runtime: Runtime, pub: Pub, drain: Drain) -> None:
    target_id = await _failed_delivery(runtime, pub, drain)
    await _member(runtime, pub, Role.viewer, "U1")
    post_id = await deliveries_post(runtime, target_id)

    said = await say(runtime, turn("U1"), f"status {post_id}")

    assert said.title == f"Post {post_id}: failed", shown(said)
    [item] = said.items
    assert "(#100) bad link" in item.text, item.text
    assert [(o.action, o.target_id) for o in item.offers] == [
        (Action.retry, target_id),
        (Action.manual_package, target_id),
    ]
    overview = await say(runtime, turn("U1"), "status")
    assert overview.title == "The Red Lion: 1 problem this week", shown(overview)


async def test_retry_of_a_failed_delivery_sends_it_again_for_an_editor_only(
    runtime: Runtime, pub: Pub, drain: Drain
) -> None:
    target_id = await _failed_delivery(runtime, pub, drain)
    await _member(runtime, pub, Role.viewer, "U-viewer")
    await _member(runtime, pub, Role.editor, "U-editor")

    refused = await say(runtime, turn("U-viewer"), f"retry {target_id}")
    assert refused.title == "You can't do that" and refused.private, shown(refused)
    assert "needs the editor role" in shown(refused) and "you are viewer" in shown(refused), shown(refused)
    assert (await _status(runtime, target_id)) is DeliveryStatus.failed, "a refused retry changed the delivery"

    done = await say(runtime, turn("U-editor"), f"retry {target_id}")

    assert done.title.startswith("Sending to Facebook Page"), shown(done)
    await drain()
    assert (await _status(runtime, target_id)) is DeliveryStatus.published
    assert len(pub.publisher.calls) == 2


async def test_a_person_from_another_venue_gets_not_found_for_its_ids(runtime: Runtime, pub: Pub, drain: Drain) -> None:
    target_id = await _failed_delivery(runtime, pub, drain)
    post_id = await deliveries_post(runtime, target_id)
    elsewhere = await factories.venue(runtime, name="The Crown")
    outsider = await factories.person(runtime, venue_id=elsewhere, role=Role.owner)
    await link(runtime, outsider, turn("U-out"))

    for typed in (f"retry {target_id}", f"package {target_id}", f"status {post_id}", f"retry {target_id + 100}"):
        said = await say(runtime, turn("U-out"), typed)
        assert said.title == "Not found" and "not found" in said.lines[0], (typed, shown(said))
    assert (await _status(runtime, target_id)) is DeliveryStatus.failed


async def test_package_gives_a_private_download_link_to_any_member(runtime: Runtime, pub: Pub, drain: Drain) -> None:
    target_id = await _failed_delivery(runtime, pub, drain)
    await _member(runtime, pub, Role.viewer, "U1")

    said = await say(runtime, turn("U1"), f"package {target_id}")

    assert said.private and said.links, shown(said)
    assert said.links[0].url.startswith("http://testserver.local/packages/"), said.links
    assert "cheers-post-" in said.links[0].label


async def _status(runtime: Runtime, target_id: int) -> DeliveryStatus:
    return (await delivery(runtime, target_id)).status


async def deliveries_post(runtime: Runtime, target_id: int) -> int:
    return (await delivery(runtime, target_id)).post_id
