"""What happens to a delivery after a provider answers: the error taxonomy mapped to states and plain words.

Pure functions: given the delivery, what went wrong and the time, return the next state. The caller
(core.publishing.settle) writes it and records the notifications it names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.notifications.kinds import NotificationKind
from providers.errors import (
    ApiDisabled,
    AuthExpired,
    MetadataMissing,
    Permanent,
    PermissionMissing,
    ProviderError,
    RateLimited,
    Transient,
)
from storage.models import AttemptOutcome, DeliveryStatus

DEFAULT_RATE_WAIT = timedelta(seconds=60)
RETRY_CAP = timedelta(minutes=30)
IN_DOUBT_REMEDY = (
    "CheersAI is checking the account for it and will mark it published, or send it again only once the "
    "platform shows it is not there. If it cannot tell, it asks you: 'Mark as published' or 'Publish again'."
)
PACKAGE_REMEDY = "You can also download the manual package and post it by hand."
# A refusal the platform gave no remedy for (Graph's code 100 "Invalid parameter"): what a manager can still do.
NO_REMEDY = "Check the post against what the platform said, edit it if needed, then press Retry."


def _with_package(remedy: str) -> str:
    """The remedy, ending with the manual package (once: some remedies already offer it)."""
    return remedy if PACKAGE_REMEDY in remedy else f"{remedy} {PACKAGE_REMEDY}"


@dataclass(frozen=True)
class Settle:
    """The next state of a delivery and why, in the words a venue manager reads."""

    status: DeliveryStatus
    attempt_outcome: AttemptOutcome
    note: str
    error: str | None = None
    error_code: str | None = None
    remedy: str | None = None
    due_at: datetime | None = None  # for retrying
    count_retry: bool = False
    pace_until: datetime | None = None
    reconnect: bool = False  # flag the connection as needing a reconnect (one alert per connection)
    notify: NotificationKind | None = None  # publish_failed, publish_missed or publish_in_doubt


@dataclass(frozen=True)
class Hold:
    """Why a paced connection's other waiting deliveries wait until `until`, in the venue's words."""

    until: datetime
    note: str  # for a delivery that goes out after the pause
    note_past_cutoff: str  # for one whose cutoff comes first: the sweep marks it missed then


def held_by_rate_limit(label: str, until: datetime) -> Hold:
    """The provider refused a call with a Retry-After (or its quota ran out): the connection pauses until then."""
    return _hold(f"{label} asked us to slow down", until)


def held_by_usage(label: str, usage: int, until: datetime) -> Hold:
    """Meta's usage headers say the connection is near its call allowance: we pause it ourselves."""
    return _hold(f"{label} has used {usage} % of its call allowance, so we are pausing calls to it", until)


def _hold(reason: str, until: datetime) -> Hold:
    return Hold(
        until,
        f"Waiting: {reason}; next try after {until:%H:%M:%S} UTC.",
        f"Waiting: {reason} until {until:%H:%M:%S} UTC, after this post's cutoff; it will be marked missed.",
    )


def backoff(retries: int, base: timedelta, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with 'equal jitter': between half and all of min(cap, base x 2^retries)."""
    ceiling: timedelta = min(RETRY_CAP, base * 2 ** max(0, retries))
    return ceiling * (0.5 + (rng or random).random() / 2)


def code_of(exc: ProviderError) -> str | None:
    if exc.code is None:
        return None
    return f"{exc.code}/{exc.subcode}" if exc.subcode is not None else str(exc.code)


def settle_error(
    exc: BaseException,
    *,
    label: str,
    now: datetime,
    cutoff_at: datetime,
    retries: int,
    max_retries: int,
    retry_base: timedelta,
    anything_sent: bool,
    rng: random.Random | None = None,
) -> Settle:
    """Map one failed attempt onto the delivery's next state (docs/architecture.md#the-delivery-state-machine)."""
    if isinstance(exc, RateLimited):
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after else DEFAULT_RATE_WAIT
        due = now + wait
        if due > cutoff_at:
            return _missed(
                label,
                f"{label} asked us to slow down until {due:%H:%M} UTC, after this post's cutoff.",
                AttemptOutcome.rate_limited,
            )
        return Settle(
            DeliveryStatus.retrying,
            AttemptOutcome.rate_limited,
            f"{label} asked us to slow down; trying again at {due:%H:%M:%S} UTC.",
            error=exc.message,
            error_code=code_of(exc),
            due_at=due,
            pace_until=due,
        )
    if isinstance(exc, AuthExpired | PermissionMissing):
        return Settle(
            DeliveryStatus.needs_reconnect,
            AttemptOutcome.auth_expired,
            f"Waiting for {label} to be reconnected; it goes out as soon as it is (until its cutoff).",
            error=exc.message,
            error_code=code_of(exc),
            remedy=exc.remedy or "Reconnect it from CheersAI (Connections → Reconnect).",
            reconnect=True,
        )
    if isinstance(exc, Transient):
        if exc.sent and anything_sent:
            return _in_doubt(label, exc.message, code_of(exc))
        if retries + 1 > max_retries:
            return _failed(
                label,
                f"{label} kept having trouble: {exc.message} We gave up after {retries + 1} tries.",
                code_of(exc),
                f"Try again later with 'Retry'. {PACKAGE_REMEDY}",
                AttemptOutcome.transient,
            )
        due = now + backoff(retries, retry_base, rng)
        if due > cutoff_at:
            return _missed(
                label,
                f"{label} had a passing problem and the next try would be after the cutoff.",
                AttemptOutcome.transient,
            )
        return Settle(
            DeliveryStatus.retrying,
            AttemptOutcome.transient,
            f"{label} had a passing problem ({exc.message}); trying again at {due:%H:%M:%S} UTC.",
            error=exc.message,
            error_code=code_of(exc),
            due_at=due,
            count_retry=True,
        )
    if isinstance(exc, MetadataMissing):
        return _failed(label, exc.message, code_of(exc), exc.remedy, AttemptOutcome.metadata_missing)
    if isinstance(exc, ApiDisabled):
        remedy = exc.remedy or f"Enable {exc.api or 'the API'} in the Google Cloud project, then press Retry."
        return _failed(label, exc.message, code_of(exc), remedy, AttemptOutcome.permanent)
    if isinstance(exc, Permanent | ProviderError):
        return _failed(label, exc.message, code_of(exc), exc.remedy, AttemptOutcome.permanent)
    # Our own bug or an unexpected library error: if nothing reached the provider it is safe to try again.
    message = f"Something went wrong on our side ({type(exc).__name__})."
    if anything_sent:
        return _in_doubt(label, message, type(exc).__name__)
    due = now + backoff(retries, retry_base, rng)
    if retries + 1 > max_retries or due > cutoff_at:
        return _failed(label, message, type(exc).__name__, f"Press Retry. {PACKAGE_REMEDY}", AttemptOutcome.transient)
    return Settle(
        DeliveryStatus.retrying,
        AttemptOutcome.transient,
        f"{message} Nothing was sent; trying again at {due:%H:%M:%S} UTC.",
        error=message,
        error_code=type(exc).__name__,
        due_at=due,
        count_retry=True,
    )


def _failed(label: str, message: str, code: str | None, remedy: str | None, outcome: AttemptOutcome) -> Settle:
    return Settle(
        DeliveryStatus.failed,
        outcome,
        f"Not published on {label}: {message}",
        error=message,
        error_code=code,
        remedy=_with_package(remedy or NO_REMEDY),
        notify=NotificationKind.publish_failed,
    )


def _missed(label: str, message: str, outcome: AttemptOutcome = AttemptOutcome.waiting) -> Settle:
    return Settle(
        DeliveryStatus.missed,
        outcome,
        f"Missed on {label}: {message}",
        error=message,
        remedy=f"Press Retry to send it now anyway, or edit the post. {PACKAGE_REMEDY}",
        notify=NotificationKind.publish_missed,
    )


def _in_doubt(label: str, message: str, code: str | None) -> Settle:
    return Settle(
        DeliveryStatus.in_doubt,
        AttemptOutcome.in_doubt,
        f"{label} may have published it: the request was sent but the answer was lost ({message}).",
        error=message,
        error_code=code,
        remedy=IN_DOUBT_REMEDY,
        notify=NotificationKind.publish_in_doubt,
    )


def missed_before_sending(label: str, cutoff_at: datetime) -> Settle:
    """A delivery whose freshness cutoff passed before it could go out."""
    return _missed(label, f"it could not go out before its cutoff ({cutoff_at:%d %b %H:%M} UTC).")


NOT_APPROVED = "not approved before its time"


def missed_unapproved(label: str, cutoff_at: datetime) -> Settle:
    """A delivery whose post was still waiting for approval at its cutoff: never sent (approval, not the provider)."""
    return Settle(
        DeliveryStatus.missed,
        AttemptOutcome.waiting,
        f"Missed on {label}: {NOT_APPROVED} (its cutoff was {cutoff_at:%d %b %H:%M} UTC); nothing was sent.",
        error=f"{NOT_APPROVED}: no admin or owner approved the post by its cutoff",
        error_code="not_approved",
        remedy="An admin or owner of the venue can approve the post, then press Retry to send it late; or edit the "
        f"post to a new time (it waits for approval again). {PACKAGE_REMEDY}",
        notify=NotificationKind.publish_missed,
    )


def lease_lost(label: str) -> Settle:
    """The worker holding the delivery stopped answering mid-call: the provider may have it."""
    return _in_doubt(label, "the worker publishing it stopped before it could record the answer", "lease_expired")
