"""What the Google twin checks in a v4 localPosts.create body (docs/providers.md#google-local-posts).

Unknown field names fail the way Google's JSON parser fails them, so an adapter typo is caught.
A VIDEO media item answers 500 INTERNAL, as the real API does.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sandbox.google.http import RpcError, invalid_argument
from sandbox.google.posts import PostSettings

TOPIC_TYPES = ("STANDARD", "EVENT", "OFFER", "ALERT")
ACTION_TYPES = ("BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "GET_OFFER", "CALL")
ALERT_TYPES = ("COVID_19",)
SCHEDULE_FIELDS = ("startDate", "startTime", "endDate", "endTime")
# Known names per message, for Google's "Unknown name … Cannot find field." error.
KNOWN_NAMES: dict[str, frozenset[str]] = {
    "local_post": frozenset(
        {
            "name",
            "languageCode",
            "summary",
            "callToAction",
            "createTime",
            "updateTime",
            "event",
            "state",
            "media",
            "searchUrl",
            "topicType",
            "alertType",
            "offer",
        }
    ),
    "local_post.call_to_action": frozenset({"actionType", "url"}),
    "local_post.event": frozenset({"title", "schedule"}),
    "local_post.event.schedule": frozenset(SCHEDULE_FIELDS),
    "local_post.offer": frozenset({"couponCode", "redeemOnlineUrl", "termsConditions"}),
    "local_post.media[]": frozenset({"name", "mediaFormat", "sourceUrl", "description", "locationAssociation"}),
}
DATE_NAMES = frozenset({"year", "month", "day"})
TIME_NAMES = frozenset({"hours", "minutes", "seconds", "nanos"})


def bad_json(detail: str) -> RpcError:
    return RpcError(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. {detail}")


def _names(value: Any, where: str, known: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_json(f"Expected an object at '{where}'.")
    for key in value:
        if key not in known:
            raise bad_json(f"Unknown name \"{key}\" at '{where}': Cannot find field.")
    return value


def _enum(value: Any, field: str, allowed: tuple[str, ...], type_name: str) -> str:
    if value not in allowed:
        raise bad_json(
            f"Invalid value at '{field}' (type.googleapis.com/google.mybusiness.v4.{type_name}), \"{value}\""
        )
    return str(value)


def _moment(schedule: dict[str, Any], day_key: str, time_key: str) -> datetime:
    where = f"local_post.event.schedule.{day_key}"
    day = _names(schedule[day_key], where, DATE_NAMES)
    clock = _names(schedule[time_key], f"local_post.event.schedule.{time_key}", TIME_NAMES)
    try:
        return datetime.combine(
            date(int(day.get("year", 0)), int(day.get("month", 0)), int(day.get("day", 0))),
            time(int(clock.get("hours", 0)), int(clock.get("minutes", 0)), int(clock.get("seconds", 0))),
        )
    except (TypeError, ValueError):
        raise invalid_argument(f"event.schedule.{day_key}", "Invalid date or time") from None


def _event(body: dict[str, Any], topic: str, settings: PostSettings) -> None:
    event = body.get("event")
    if event is None:
        raise invalid_argument("event", f"Event is required for {topic} posts")
    event = _names(event, "local_post.event", KNOWN_NAMES["local_post.event"])
    title = str(event.get("title") or "")
    if not title:
        raise invalid_argument("event.title", "Field is required")
    if len(title) > settings.max_event_title:
        raise invalid_argument("event.title", f"Must be at most {settings.max_event_title} characters")
    schedule = _names(
        event.get("schedule") or {}, "local_post.event.schedule", KNOWN_NAMES["local_post.event.schedule"]
    )
    # GBP events carry no time zone: all four wall-clock fields are needed.
    for name in SCHEDULE_FIELDS:
        if name not in schedule:
            raise invalid_argument(f"event.schedule.{name}", "Field is required")
    if _moment(schedule, "endDate", "endTime") < _moment(schedule, "startDate", "startTime"):
        raise invalid_argument("event.schedule", "The end must not be before the start")


def _call_to_action(body: dict[str, Any], topic: str) -> None:
    raw = body.get("callToAction")
    if raw is None:
        return
    if topic == "OFFER":
        raise invalid_argument("call_to_action", "Call to action is not allowed for OFFER posts")
    cta = _names(raw, "local_post.call_to_action", KNOWN_NAMES["local_post.call_to_action"])
    action = _enum(cta.get("actionType"), "local_post.call_to_action.action_type", ACTION_TYPES, "ActionType")
    if action == "CALL" and cta.get("url"):
        raise invalid_argument("call_to_action.url", "Must be empty for action type CALL")
    if action != "CALL" and not str(cta.get("url") or "").startswith(("https://", "http://")):
        raise invalid_argument("call_to_action.url", "A valid URL is required")


def _media(body: dict[str, Any]) -> None:
    raw = body.get("media") or []
    if not isinstance(raw, list):
        raise bad_json("Expected a list at 'local_post.media'.")
    for i, item in enumerate(raw):
        item = _names(item, f"local_post.media[{i}]", KNOWN_NAMES["local_post.media[]"])
        media_format = item.get("mediaFormat")
        if media_format == "VIDEO":
            raise RpcError(500, "INTERNAL", "Internal error encountered.")  # what Google answers for a video
        _enum(media_format, f"local_post.media[{i}].media_format", ("PHOTO",), "MediaItem.MediaFormat")
        if not str(item.get("sourceUrl") or "").startswith(("https://", "http://")):
            raise invalid_argument(f"media[{i}].source_url", "sourceUrl is the only supported data field")


def validate_local_post(body: Any, settings: PostSettings) -> None:
    """Raise the RpcError Google would answer for this create body; return when it is acceptable."""
    body = _names(body, "local_post", KNOWN_NAMES["local_post"])
    if "topicType" not in body:
        raise invalid_argument("topic_type", "Field is required")
    topic = _enum(body.get("topicType"), "local_post.topic_type", TOPIC_TYPES, "LocalPostTopicType")
    summary = body.get("summary") or ""
    if not isinstance(summary, str):
        raise bad_json("Invalid value at 'local_post.summary' (TYPE_STRING).")
    if len(summary) > settings.max_summary:
        raise invalid_argument("summary", f"Must be at most {settings.max_summary} characters")
    if topic in ("EVENT", "OFFER"):
        _event(body, topic, settings)
    if topic == "ALERT":
        _enum(body.get("alertType"), "local_post.alert_type", ALERT_TYPES, "AlertType")
    if "offer" in body:
        _names(body["offer"], "local_post.offer", KNOWN_NAMES["local_post.offer"])
    _call_to_action(body, topic)
    _media(body)
