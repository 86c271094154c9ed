"""Publishing to Google Business Profile: one v4 localPosts.create, then status reads until LIVE or REJECTED.

The create is the only committing step: once it was sent, a lost answer (5xx, timeout) means the post
may exist, so it raises `Transient(sent=True)` and core reconciles with `recent_local_posts` instead of
retrying. Status reads never create anything: their failures are `Transient(sent=False)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from providers.base import StoredCredentials
from providers.errors import AuthExpired, MetadataMissing, Permanent, RateLimited, Transient
from providers.google.errors import PROVIDER, RECONNECT_REMEDY, redact
from providers.publishing import GoogleOptions, Pending, Published, PublishRequest, Recorder, StepOutcome, ymd

if TYPE_CHECKING:
    from providers.google.adapter import GoogleBusinessAdapter

LOCATION_NAME = re.compile(r"accounts/[^/?#]+/locations/([^/?#]+)")
POST_NAME = re.compile(r"accounts/[^/?#]+/locations/([^/?#]+)/localPosts/[^/?#]+")
LANGUAGE_CODE = "en"  # what Postiz sends; the post's language, not the venue's locale
# Google reviews a post in seconds to minutes [UNVERIFIED]: look after 30 s, then back off to 10 min so a
# post stuck in PROCESSING costs a handful of reads per hour against the 300-a-minute quota.
FIRST_CHECK_SECONDS = 30.0
MAX_CHECK_SECONDS = 600.0
# Every Business Profile quota is per minute; Google's 429s usually carry no Retry-After.
QUOTA_WINDOW_SECONDS = 60.0
RECENT_PAGE_MAX = 100
MAX_PAGES = 20
RECENT_FIELDS = ("name", "summary", "createTime", "state", "searchUrl")
POLICY_URL = "https://support.google.com/business/answer/7213077"
REJECTED_MESSAGE = "Google rejected the post under its content policy; phone numbers in the text are a common cause."
REJECTED_REMEDY = (
    f"Edit the text (take out phone numbers and anything else against Google's rules for posts, {POLICY_URL}), "
    "then publish it again."
)
VIDEO_MESSAGE = "Google Business Profile posts can't include video"


def record_exchange(
    recorder: Recorder,
    step: str,
    method: str,
    url: str,
    sent: Mapping[str, Any] | None,
    hidden: list[str],
    started: float,
    response: httpx.Response | None,
    error: str | None,
) -> None:
    """Keep one call in the recorder with every body redacted (token-named keys, token shapes, `hidden`)."""
    answer: Any = None
    if response is not None and response.content:
        try:
            answer = response.json()
        except ValueError:
            answer = response.text[:500]
    recorder.record(
        step=step,
        method=method,
        url=url,
        request=redact(dict(sent or {}), hidden),
        status=response.status_code if response is not None else None,
        headers=dict(response.headers) if response is not None else None,
        response=redact(answer, hidden),
        error=error,
        started=started,
    )


def build_local_post(request: PublishRequest) -> dict[str, Any]:
    """The localPosts.create body; a video is refused here, before anything is sent."""
    if any(m.kind == "video" for m in request.media):
        raise Permanent(
            VIDEO_MESSAGE, provider=PROVIDER, remedy="Choose a photo for this location, or leave the video out."
        )
    options = request.google or GoogleOptions()
    body: dict[str, Any] = {"languageCode": LANGUAGE_CODE, "summary": request.text, "topicType": options.topic_type}
    if options.topic_type in ("EVENT", "OFFER"):
        body["event"] = _event(options)
    if options.topic_type == "OFFER":
        # Google treats an OFFER's button as its own: an explicit callToAction makes the post invalid.
        pairs = (
            ("couponCode", options.coupon_code),
            ("redeemOnlineUrl", options.redeem_url),
            ("termsConditions", options.terms),
        )
        if offer := {k: v for k, v in pairs if v}:
            body["offer"] = offer
    elif cta := _call_to_action(options, request.link):
        body["callToAction"] = cta
    # Google shows one photo per post; the rest would be dropped silently by Google anyway.
    if photo := next((m for m in request.media if m.kind == "image"), None):
        body["media"] = [{"mediaFormat": "PHOTO", "sourceUrl": photo.url}]
    return body


def _time_of_day(moment: datetime) -> dict[str, int]:
    return {"hours": moment.hour, "minutes": moment.minute, "seconds": moment.second, "nanos": 0}


def _event(options: GoogleOptions) -> dict[str, Any]:
    """Title and the four wall-clock schedule fields; GBP has no time zones, so tzinfo is ignored."""
    start, end, title = options.event_start, options.event_end, options.event_title
    if start is None or end is None or not title:
        raise Permanent(
            f"A Google {options.topic_type.lower()} post needs a title, a start and an end.",
            provider=PROVIDER,
            remedy="Add the title, start and end, then publish again.",
        )
    schedule = {
        "startDate": ymd(start.date()),
        "startTime": _time_of_day(start),
        "endDate": ymd(end.date()),
        "endTime": _time_of_day(end),
    }
    return {"title": title, "schedule": schedule}


def _call_to_action(options: GoogleOptions, link: str | None) -> dict[str, str] | None:
    """The button: CALL never carries a URL; a bare link becomes LEARN_MORE (GBP summaries have no links)."""
    if options.cta_type == "CALL":
        return {"actionType": "CALL"}
    url = options.cta_url or link
    if options.cta_type:
        if not url:
            raise Permanent(
                f"The Google post's {options.cta_type} button needs a link.",
                provider=PROVIDER,
                remedy="Add a link for the button, or choose no button.",
            )
        return {"actionType": options.cta_type, "url": url}
    return {"actionType": "LEARN_MORE", "url": url} if url else None


def location_name(credentials: StoredCredentials) -> str:
    """The full v4 `accounts/{a}/locations/{l}` name; a bare v1 `locations/{l}` would 404 on v4."""
    name = credentials.location_name or credentials.external_id or ""
    if not LOCATION_NAME.fullmatch(name):
        raise MetadataMissing(
            "This Google connection does not know its full location name (accounts/…/locations/…).",
            provider=PROVIDER,
            remedy="Connect Google Business Profile again and pick the location.",
        )
    return name


def _token(credentials: StoredCredentials) -> str:
    if not credentials.access_token:
        raise AuthExpired("No Google access token is available; reconnect.", provider=PROVIDER, remedy=RECONNECT_REMEDY)
    return credentials.access_token


def _read_failed(exc: Transient, what: str) -> Transient:
    """A failed read: nothing it did can publish, so it is safe to repeat (`sent=False`)."""
    return Transient(
        f"Could not read {what} from Google: {exc.message}",
        sent=False,
        provider=PROVIDER,
        http_status=exc.http_status,
        code=exc.code,
        subcode=exc.subcode,
        raw=exc.raw,
    )


def _with_quota_window(exc: RateLimited) -> None:
    if exc.retry_after is None:
        exc.retry_after = QUOTA_WINDOW_SECONDS


def _outcome(answer: Mapping[str, Any], name: str, search_url: str | None, checks: int) -> StepOutcome:
    """LIVE → Published; REJECTED → Permanent; anything else (PROCESSING…) → Pending, committed."""
    state = str(answer.get("state") or "LOCAL_POST_STATE_UNSPECIFIED")
    found = POST_NAME.fullmatch(name)
    location_id = found.group(1) if found else ""
    permalink = answer.get("searchUrl") or search_url or f"https://business.google.com/locations/{location_id}"
    if state == "LIVE":
        return Published(external_id=name, permalink=permalink, details={"state": state})
    if state == "REJECTED":
        raise Permanent(
            REJECTED_MESSAGE,
            provider=PROVIDER,
            code="REJECTED",
            remedy=REJECTED_REMEDY,
            raw={"local_post": name, "state": state},
        )
    # The post exists (PROCESSING, or a state this code does not know): never start it again.
    return Pending(
        stage={"local_post": name, "search_url": permalink, "checks": checks + 1},
        check_after=min(FIRST_CHECK_SECONDS * 2**checks, MAX_CHECK_SECONDS),
        note=f"Google is reviewing the post ({state}).",
        committed=True,
        external_id=name,
        permalink=permalink,
    )


async def publish_local_post(
    adapter: GoogleBusinessAdapter,
    credentials: StoredCredentials,
    request: PublishRequest,
    stage: Mapping[str, Any],
    recorder: Recorder,
) -> StepOutcome:
    """One step: create the post (empty stage) or read its state (stage from the previous Pending)."""
    if stage.get("local_post"):
        return await _check_local_post(adapter, _token(credentials), stage, recorder)
    location = location_name(credentials)
    body = build_local_post(request)
    token = _token(credentials)
    try:
        answer = await adapter.send(
            "POST",
            f"{adapter.posts_url}/v4/{location}/localPosts",
            token=token,
            json=body,
            recorder=recorder,
            step="create_local_post",
        )
    except RateLimited as exc:
        _with_quota_window(exc)
        raise
    except Transient as exc:
        if not exc.sent:
            raise
        raise Transient(
            f"Google did not confirm the post ({exc.message.rstrip('.')}); it may exist, so CheersAI checks "
            "the location's recent posts instead of posting again.",
            sent=True,
            provider=PROVIDER,
            http_status=exc.http_status,
            code=exc.code,
            subcode=exc.subcode,
            raw=exc.raw,
        ) from exc
    name = answer.get("name")
    if not isinstance(name, str) or not POST_NAME.fullmatch(name):
        # A 200 means Google took the post; without its name only reconciliation can find it.
        raise Transient("Google accepted the post but did not say its name.", sent=True, provider=PROVIDER)
    return _outcome(answer, name, None, 0)


async def _check_local_post(
    adapter: GoogleBusinessAdapter, token: str, stage: Mapping[str, Any], recorder: Recorder
) -> StepOutcome:
    name = str(stage["local_post"])
    if not POST_NAME.fullmatch(name):
        raise Permanent(f"The stored Google post name is not valid: {name!r}.", provider=PROVIDER)
    try:
        answer = await adapter.send(
            "GET", f"{adapter.posts_url}/v4/{name}", token=token, recorder=recorder, step="local_post_status"
        )
    except Transient as exc:
        raise _read_failed(exc, "the post's status") from exc
    except RateLimited as exc:
        _with_quota_window(exc)
        raise
    except MetadataMissing as exc:
        raise Permanent(
            "Google no longer has this post: it, or its location, was removed in Business Profile.",
            provider=PROVIDER,
            http_status=exc.http_status,
            code=exc.code,
            remedy="Check the location in Business Profile; publish again if the post should be there.",
            raw=exc.raw,
        ) from exc
    search_url = stage.get("search_url")
    checks = stage.get("checks")
    return _outcome(answer, name, str(search_url) if search_url else None, checks if isinstance(checks, int) else 1)


async def recent_local_posts(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, *, limit: int, recorder: Recorder | None
) -> list[dict[str, Any]]:
    """The location's newest local posts (every state), newest first; each keeps RECENT_FIELDS."""
    url = f"{adapter.posts_url}/v4/{location_name(credentials)}/localPosts"
    token = _token(credentials)
    if limit < 1:
        return []
    posts: list[dict[str, Any]] = []
    page_token: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"pageSize": min(limit - len(posts), RECENT_PAGE_MAX)}
        if page_token:
            params["pageToken"] = page_token
        try:
            body = await adapter.send("GET", url, token=token, params=params, recorder=recorder, step="recent_posts")
        except Transient as exc:
            raise _read_failed(exc, "the location's recent posts") from exc
        except RateLimited as exc:
            _with_quota_window(exc)
            raise
        items = body.get("localPosts")
        posts += [{k: p.get(k) for k in RECENT_FIELDS} for p in items or [] if isinstance(p, dict)]
        page_token = body.get("nextPageToken") or None
        if not page_token or len(posts) >= limit:
            break
    return posts[:limit]
