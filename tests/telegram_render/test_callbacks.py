"""Button data: every offer and flow step fits Telegram's 64 bytes, reads back the same, and foreign data is None."""

from __future__ import annotations

import pytest

from bot.telegram.callbacks import MAX_BYTES, Step, offer_data, parse_data, step_data
from core.notifications.actions import (
    INCIDENT_ACTIONS,
    LABELS,
    LINK_ACTIONS,
    NOTIFICATION_ACTIONS,
    POST_ACTIONS,
    Action,
    Offer,
    offer,
)
from core.notifications.kinds import KINDS, NotificationKind

BIG = 10**18 - 1  # the largest id of 18 digits


@pytest.mark.parametrize("action", [a for a in Action if a not in LINK_ACTIONS])
def test_every_action_round_trips_with_the_largest_ids(action: Action) -> None:
    if action in INCIDENT_ACTIONS:
        original = offer(action, incident_id=BIG)
    elif action in POST_ACTIONS:
        original = offer(action, post_id=BIG)
    elif action in NOTIFICATION_ACTIONS:
        original = offer(action, notification_id=BIG)
    else:
        original = offer(action, target_id=BIG, connection_id=BIG)
    data = offer_data(original)
    assert data.startswith("o1:")
    assert len(data.encode()) <= MAX_BYTES
    assert parse_data(data) == original


@pytest.mark.parametrize("kind", [k for k in NotificationKind if KINDS[k].offers])
def test_every_kinds_offers_round_trip(kind: NotificationKind) -> None:
    for action in KINDS[kind].offers:
        # A post's offer carries only the post's id; Approve all is bound to its message when shown.
        if action in POST_ACTIONS:
            o = offer(action, post_id=5)
        elif action in NOTIFICATION_ACTIONS:
            o = offer(action).bound_to(9)
        else:
            o = offer(action, target_id=17, connection_id=3).bound_to(9)
        assert parse_data(offer_data(o)) == o


def test_an_offer_with_one_id_leaves_the_other_empty() -> None:
    assert offer_data(offer(Action.retry, target_id=17)) == "o1:r:17:"
    assert offer_data(offer(Action.reconnect, connection_id=3)) == "o1:c::3"
    assert parse_data("o1:c::3") == Offer(Action.reconnect, LABELS[Action.reconnect], connection_id=3)


def test_the_label_read_back_is_the_actions_usual_one() -> None:
    custom = Offer(Action.retry, "Try once more", target_id=5)
    assert parse_data(offer_data(custom)) == Offer(Action.retry, "Retry", target_id=5)


def test_step_round_trips_and_keeps_colons_in_the_choice() -> None:
    data = step_data(42, 3, "pick:7")
    assert data == "f1:42:3:pick:7"
    assert parse_data(data) == Step(conversation_id=42, version=3, choice="pick:7")


def test_step_with_large_ids_and_a_30_byte_choice_fits() -> None:
    data = step_data(BIG, 10**9, "x" * 30)
    assert len(data.encode()) <= MAX_BYTES
    assert parse_data(data) == Step(BIG, 10**9, "x" * 30)


def test_step_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64"):
        step_data(BIG, BIG, "é" * 20)  # 40 bytes of choice


@pytest.mark.parametrize("bad", [(-1, 0, "x"), (1, -1, "x"), (1, 0, "")])
def test_step_data_refuses_what_no_step_holds(bad: tuple[int, int, str]) -> None:
    with pytest.raises(ValueError):
        step_data(*bad)


def test_step_is_frozen() -> None:
    step = Step(1, 2, "done")
    with pytest.raises(AttributeError):
        step.version = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "retry t=17",  # Slack's button value
        "o0:r:17:",  # an older version
        "o2:r:17:",  # a newer one
        "o1:r:17",  # a field short
        "o1:r:17::",  # a field too many
        "o1:z:17:",  # no such action
        "o1:r::3",  # retry without its target
        "o1:c:3:",  # reconnect without its connection
        "o1:r:+17:",
        "o1:r:-17:",
        "o1:r:1e3:",
        "o1:r:١٧:",  # Arabic-Indic digits: int() would read them
        "o1:r:1234567890123456789:",  # 19 digits
        "f1:42:3:",  # a step without a choice
        "f1:42::done",
        "f1:x:3:done",
        "f2:42:3:done",
        "f1:1:1:" + "x" * 60,  # over 64 bytes: never ours
    ],
)
def test_foreign_or_old_data_reads_as_none(data: str | None) -> None:
    assert parse_data(data) is None


def test_a_post_or_message_offer_carries_its_one_id_and_an_unbound_approve_all_is_refused() -> None:
    assert offer_data(offer(Action.approve, post_id=42)) == "o1:y:42"
    assert parse_data("o1:w:7") == offer(Action.approve_all, notification_id=7)
    assert parse_data("o1:x:42") == offer(Action.reject, post_id=42)
    with pytest.raises(ValueError, match="not bound"):
        offer_data(offer(Action.approve_all))
    assert parse_data("o1:y:") is None and parse_data("o1:y:4:2") is None and parse_data("o1:r:17") is None


def test_a_link_offer_is_no_callback_button() -> None:
    with pytest.raises(ValueError, match="link"):
        offer_data(offer(Action.ops_runbook, url="https://cheers.test/ops/runbook#incident-job-failing"))
