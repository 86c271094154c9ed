"""Step and ReconcileStep: the engine's and reconciliation's answers keep the strings logs and job results carry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.publishing.outcomes import lease_lost, missed_before_sending, settle_error
from core.publishing.steps import ReconcileStep, Step
from providers.errors import AuthExpired, Permanent, RateLimited, Transient
from storage.models import DeliveryStatus

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("slow down", retry_after=30),
        AuthExpired("token expired"),
        Transient("timeout", sent=True),
        Transient("could not connect", sent=False),
        Permanent("refused"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_settled_outcome_has_a_step_named_as_its_status(error: Exception) -> None:
    settle = settle_error(
        error, label="Facebook Page The Red Lion", now=NOW, cutoff_at=NOW + timedelta(hours=3), retries=0,
        max_retries=5, retry_base=timedelta(seconds=30), anything_sent=True,
    )  # fmt: skip
    assert Step.settled_as(settle.status) == settle.status.value, settle


def test_the_sweeps_settled_outcomes_have_steps_too() -> None:
    for settle in (lease_lost("Instagram @theredlion"), missed_before_sending("Instagram @theredlion", NOW)):
        assert Step.settled_as(settle.status).value == settle.status.value


def test_a_status_that_is_no_step_is_refused_rather_than_invented() -> None:
    with pytest.raises(ValueError, match="cancelled"):
        Step.settled_as(DeliveryStatus.cancelled)


def test_answers_serialise_and_log_as_the_same_strings() -> None:
    assert json.dumps(Step.already_running) == '"already_running"', "the task's JSON answer changed"
    assert f"{Step.not_ours}" == "not_ours" and str(Step.waiting_for_media) == "waiting_for_media"
    counts = {"checked": 2, ReconcileStep.carry_on.value: 1, ReconcileStep.found.value: 1}
    assert json.loads(json.dumps(counts)) == {"checked": 2, "continue": 1, "found": 1}, "the job result changed"
