"""What one step of publishing did to a delivery, as the engine and reconciliation answer it.

The values are the strings logs, job results and the `publish-delivery` task's answer have always carried, so
a StrEnum changes none of them.
"""

from __future__ import annotations

from enum import StrEnum

from storage.models import DeliveryStatus


class Step(StrEnum):
    """The answer of `core.publishing.engine.run_delivery`."""

    # the provider answered
    published = "published"
    pending = "pending"  # the provider is still processing; checked again later
    retrying = "retrying"
    needs_reconnect = "needs_reconnect"
    failed = "failed"
    in_doubt = "in_doubt"
    missed = "missed"
    # put back before calling the provider
    paced = "paced"
    waiting_for_media = "waiting_for_media"
    # nothing done: not this run's to do
    not_ours = "not_ours"  # a duplicate hand-off, or the lease moved on
    lease_expired = "lease_expired"
    already_running = "already_running"  # a redelivered hand-off while its first run is still calling
    gone = "gone"  # the delivery was deleted

    @classmethod
    def settled_as(cls, status: DeliveryStatus) -> Step:
        """The step for a delivery settled into `status` (retrying, needs_reconnect, failed, in_doubt, missed)."""
        return cls(status.value)


class ReconcileStep(StrEnum):
    """The answer of `core.publishing.reconcile.reconcile_one`, counted per run by `reconcile_in_doubt`."""

    found = "found"
    absent = "absent"  # sent again
    absent_missed = "absent_missed"  # not there, and past its cutoff
    carry_on = "continue"  # the engine carries on from the provider's stage
    not_yet = "not_yet"
    unsure = "unsure"  # a person decides
    waiting_for_reconnect = "waiting_for_reconnect"
    auth_expired = "auth_expired"
    rate_limited = "rate_limited"
    error = "error"  # the check failed; tried again with backoff
    superseded = "superseded"  # a person decided, or a late answer settled it
    gone = "gone"
