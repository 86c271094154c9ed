"""The chat grammar: what a person types becomes one command, or an answer naming the closest one with an example."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.commands import (
    KIND_GROUPS,
    AlertsHere,
    AlertsMe,
    AlertsMute,
    AlertsOff,
    ChooseVenue,
    Command,
    CommandUnclear,
    Diagnose,
    Help,
    Link,
    Package,
    Reconnect,
    Retry,
    RunJob,
    Schedule,
    ScheduleForm,
    Status,
    Week,
    parse_command,
)
from core.notifications.kinds import NotificationKind
from storage.enums import Provider

FB, IG, GBP = Provider.facebook, Provider.instagram, Provider.google_business

PARSED: list[tuple[str, Command]] = [
    ('schedule tomorrow 6pm "Quiz night!"', Schedule("tomorrow 6pm", "Quiz night!", None)),
    ('schedule fri 18:00 "Live music" to fb,ig', Schedule("fri 18:00", "Live music", (FB, IG))),
    (
        'schedule 25/12 12:00 "Merry Christmas" to facebook, instagram and google',
        Schedule("25/12 12:00", "Merry Christmas", (FB, IG, GBP)),
    ),
    ("schedule now “Doors open” to gbp", Schedule("now", "Doors open", (GBP,))),
    ('schedule in 2 hours "He said "hi" to us" to ig', Schedule("in 2 hours", 'He said "hi" to us', (IG,))),
    ('/cheers schedule now "x" TO FB fb', Schedule("now", "x", (FB,))),
    ("schedule", ScheduleForm()),
    ("week", Week(next=False)),
    ("week next", Week(next=True)),
    ("status", Status(post_id=None)),
    ("status 42", Status(post_id=42)),
    ("status #42", Status(post_id=42)),
    ("retry 17", Retry(target_id=17)),
    ("/retry@CheersBot 17", Retry(target_id=17)),
    ("/cheers@CheersBot retry 17", Retry(target_id=17)),
    ("RETRY 17", Retry(target_id=17)),
    ("reconnect", Reconnect(platform=None)),
    ("reconnect Instagram", Reconnect(platform=IG)),
    ("diagnose", Diagnose(connection_id=None)),
    ("diagnose 3", Diagnose(connection_id=3)),
    ("package 17", Package(target_id=17)),
    ("alerts here", AlertsHere(kinds=None)),
    ("alerts here failures", AlertsHere(kinds=KIND_GROUPS["failures"])),
    (
        "alerts here connections, publish_failed",
        AlertsHere(kinds=KIND_GROUPS["connections"] + (NotificationKind.publish_failed,)),
    ),
    ("alerts me", AlertsMe(kinds=None)),
    (
        "alerts mute published for 2h",
        AlertsMute(kinds=(NotificationKind.publish_succeeded,), duration=timedelta(hours=2)),
    ),
    ("alerts mute media", AlertsMute(kinds=KIND_GROUPS["media"], duration=None)),
    ("alerts off", AlertsOff()),
    ("venue The Red Lion", ChooseVenue(name="The Red Lion")),
    ('venue "The Crown"', ChooseVenue(name="The Crown")),
    ("link 4F7Q-92KD", Link(code="4F7Q-92KD")),
    ("jobs run reconcile", RunJob(name="reconcile")),
    ("help", Help(topic=None)),
    ("help schedule", Help(topic="schedule")),
    ("", Help(topic=None)),
    ("/cheers", Help(topic=None)),
]


@pytest.mark.parametrize(("typed", "expected"), PARSED, ids=[t or "<empty>" for t, _ in PARSED])
def test_typed_text_becomes_the_command(typed: str, expected: Command) -> None:
    assert parse_command(typed) == expected


REFUSED = [
    # (typed, words the answer must contain, the example's command)
    ('shedule fri 6pm "x"', "Did you mean `schedule`?", "schedule"),
    ("retyr 5", "Did you mean `retry`?", "retry"),
    ("pizza please", "I understand: schedule, week", "schedule"),
    ("retry", "say which delivery", "retry"),
    ("retry seventeen", "'seventeen' is not a delivery number", "retry"),
    ("retry 99999999999999999999999", "is not a delivery number", "retry"),
    ("schedule tomorrow 6pm Quiz night", "put the post's text in quotes", "schedule"),
    ('schedule "Quiz night"', "say when", "schedule"),
    ('schedule now ""', "text is empty", "schedule"),
    ('schedule now "x" to myspace', "'myspace' is not a platform", "schedule"),
    ('schedule now "x" on fb', "I don't understand 'on fb'", "schedule"),
    ("week after", "isn't a week I know", "week"),
    ("reconnect twitter", "'twitter' is not a platform", "reconnect"),
    ("alerts everywhere", "say `alerts here`", "alerts"),
    ("alerts here gossip", "'gossip' is not a kind of alert", "alerts"),
    ("alerts mute", "say which kind to mute", "alerts"),
    ("alerts mute failures for a while", "not a length of time", "alerts"),
    ("alerts off now", "takes nothing after it", "alerts"),
    ("venue", "say the venue's name", "venue"),
    ("link", "say the code", "link"),
    ("jobs reconcile", "say `jobs run NAME`", "jobs"),
    ("help dancing", "I don't know 'dancing'", "schedule"),
]


@pytest.mark.parametrize(("typed", "words", "example_of"), REFUSED, ids=[t for t, _, _ in REFUSED])
def test_unclear_input_names_what_would_work(typed: str, words: str, example_of: str) -> None:
    with pytest.raises(CommandUnclear) as caught:
        parse_command(typed)
    assert words in str(caught.value), f"{typed!r} answered: {caught.value}"
    assert caught.value.example.startswith(example_of), f"{typed!r} offered the example {caught.value.example!r}"
