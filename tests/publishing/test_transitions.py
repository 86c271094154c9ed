"""core.publishing.transitions: the table is the state machine the code follows, illegal moves are refused with
the row untouched, and nothing outside it writes a delivery's status (checked on the syntax tree)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.publishing import transitions
from core.publishing.actions import ALREADY_QUEUED, MARKABLE
from core.publishing.outcomes import lease_lost, missed_before_sending
from core.publishing.transitions import ALLOWED, IllegalTransition, allowed
from storage.models import DeliveryStatus, PostTarget
from storage.models.posts import CLAIMABLE, EDITABLE, RETRYABLE

S = DeliveryStatus
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]

# Every move the code makes today, and who makes it. The table must be exactly this: a move missing from the
# table would raise in production; one the code never makes would let a bug through silently.
MOVES: dict[tuple[DeliveryStatus, DeliveryStatus], str] = {
    **{(s, S.claimed): "the dispatcher claims it when due" for s in (S.scheduled, S.retrying, S.processing)},
    **{
        (s, S.missed): "the sweep: past its cutoff, nothing visible"
        for s in (S.scheduled, S.retrying, S.processing, S.needs_reconnect)
    },
    **{(s, S.scheduled): "a person edits the post" for s in (S.scheduled, S.retrying, S.processing)},
    **{
        (s, S.cancelled): "a person cancels the post"
        for s in (S.scheduled, S.retrying, S.processing, S.needs_reconnect, S.failed, S.missed)
    },
    (S.claimed, S.published): "the provider published it",
    (S.claimed, S.processing): "the provider is still processing; or put back with its stage",
    (S.claimed, S.retrying): "a passing failure or a rate limit; or put back after retries",
    (S.claimed, S.scheduled): "put back (paced, media not ready); or the sweep requeues a claim never started",
    (S.claimed, S.needs_reconnect): "the connection lost its access",
    (S.claimed, S.failed): "a permanent refusal, a disconnected connection, a broken file",
    (S.claimed, S.in_doubt): "sent, answer lost; or the sweep finds its lease expired mid-call",
    (S.claimed, S.missed): "its cutoff passed before it could go out",
    (S.needs_reconnect, S.scheduled): "resumed after the reconnect; or a retry or edit",
    (S.needs_reconnect, S.processing): "resumed after the reconnect, keeping the provider's stage",
    (S.needs_reconnect, S.needs_reconnect): "a retry or edit while the connection still waits",
    **{(s, S.scheduled): "a person retries it (publish again)" for s in RETRYABLE},
    **{(s, S.needs_reconnect): "a person retries it while its connection waits" for s in RETRYABLE},
    (S.in_doubt, S.processing): "reconciliation: the provider holds it part-way, carry on",
    (S.in_doubt, S.missed): "reconciliation: absent, and past its cutoff",
    (S.in_doubt, S.needs_attention): "reconciliation cannot tell: a person decides",
    **{
        (s, S.published): "the provider's word (a late answer, a found post) or a person's"
        for s in S
        if s not in (S.published, S.pending_approval)  # never sent, so never found live
    },
    (S.scheduled, S.pending_approval): "its post needs approval (new, or an approved post edited)",
    (S.needs_reconnect, S.pending_approval): "an approved post edited while its connection waits needs approval",
    (S.pending_approval, S.scheduled): "an admin or owner approves the post",
    (S.pending_approval, S.missed): "approved past its cutoff, or the sweep: not approved before its cutoff",
    (S.pending_approval, S.cancelled): "an admin or owner rejects the post, or a person cancels it",
    (S.pending_approval, S.pending_approval): "a person edits a post still waiting for approval",
}


def delivery(status: DeliveryStatus, **fields: Any) -> PostTarget:
    """An in-memory delivery with a lease, as the engine holds one."""
    values: dict[str, Any] = {
        "id": 7,
        "due_at": NOW,
        "cutoff_at": NOW + timedelta(hours=3),
        "stage": {},
        "retries": 0,
        "attempts": 1,
        "committed": False,
        "lease_token": "lease",
        "lease_expires_at": NOW + timedelta(minutes=3),
        "note": "before",
    }
    target = PostTarget(**(values | fields))
    target.status = status
    return target


def test_the_table_is_exactly_the_moves_the_code_makes() -> None:
    table = {(a, b) for a, targets in ALLOWED.items() for b in targets}
    missing, extra = sorted(set(MOVES) - table), sorted(table - set(MOVES))
    assert not missing, f"moves the code makes that the table refuses (they would raise): {missing}"
    assert not extra, f"moves the table allows that no code makes (a bug could take them silently): {extra}"
    assert set(ALLOWED) == set(DeliveryStatus), "every status needs a row, even one nothing leaves"


def test_only_what_the_dispatcher_claims_may_become_claimed() -> None:
    # claim_due's UPDATE selects CLAIMABLE rows; the table must agree, or a claim would skip the one writer's rules.
    assert {s for s in S if allowed(s, S.claimed)} == set(CLAIMABLE)
    assert S.pending_approval not in CLAIMABLE, "a post waiting for approval is never claimed"


def test_what_a_person_may_do_is_in_the_table() -> None:
    assert all(allowed(s, S.scheduled) and allowed(s, S.needs_reconnect) for s in RETRYABLE), "retry"
    assert all(allowed(s, S.published) for s in MARKABLE), "mark as published"
    assert all(allowed(s, S.cancelled) for s in (*EDITABLE, S.processing)), "cancel"
    assert not set(ALREADY_QUEUED) & set(RETRYABLE), "a queued delivery is left alone by a retry, never moved"


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (S.published, S.claimed),
        (S.published, S.scheduled),
        (S.published, S.in_doubt),
        (S.cancelled, S.scheduled),
        (S.cancelled, S.claimed),
        (S.in_doubt, S.claimed),
        (S.needs_attention, S.claimed),
        (S.failed, S.claimed),
        (S.claimed, S.cancelled),
        (S.in_doubt, S.cancelled),
    ],
)
def test_the_table_refuses_moves_that_could_publish_twice_or_hide_a_post(
    from_status: DeliveryStatus, to_status: DeliveryStatus
) -> None:
    assert not allowed(from_status, to_status), f"{from_status} → {to_status} must be refused"


def test_nothing_leaves_published_and_only_the_providers_word_leaves_cancelled() -> None:
    assert ALLOWED[S.published] == frozenset(), "a live delivery moved on"
    assert ALLOWED[S.cancelled] == {S.published}, "a cancelled delivery may only be found live (a late answer)"


def test_an_illegal_settle_raises_and_leaves_the_live_delivery_untouched() -> None:
    target = delivery(S.published, note="Live on Facebook Page The Red Lion.", lease_token=None, lease_expires_at=None)
    with pytest.raises(IllegalTransition) as raised:
        transitions.settle(target, lease_lost("Facebook Page The Red Lion"), NOW)
    assert (raised.value.from_status, raised.value.to_status) == (S.published, S.in_doubt), str(raised.value)
    assert "delivery 7" in str(raised.value), "the error names the delivery"
    assert target.status is S.published and target.note == "Live on Facebook Page The Red Lion.", target.note


def test_a_refused_retry_changes_nothing_on_the_row() -> None:
    target = delivery(S.cancelled, cutoff_at=NOW - timedelta(minutes=1), stage={"container": "1"})
    with pytest.raises(IllegalTransition):
        transitions.retry(target, now=NOW, freshness=timedelta(hours=3), waits=False)
    assert target.status is S.cancelled, target.status
    assert target.cutoff_at == NOW - timedelta(minutes=1) and target.stage == {"container": "1"}, "half a retry"


@pytest.mark.parametrize(
    "move",
    [
        lambda t: transitions.requeue(t, NOW, "again"),
        lambda t: transitions.resume(t, NOW, "again"),
        lambda t: transitions.reschedule(t, due_at=NOW, cutoff_at=NOW, now=NOW),
        lambda t: transitions.cancel(t, NOW),
        lambda t: transitions.put_back(t, NOW, "wait", NOW),
        lambda t: transitions.send_again(t, NOW, "again"),
    ],
    ids=["requeue", "resume", "reschedule", "cancel", "put_back", "send_again"],
)
def test_no_move_takes_a_published_delivery_back(move: Any) -> None:
    target = delivery(S.published)
    with pytest.raises(IllegalTransition):
        move(target)
    assert target.status is S.published


def test_a_check_again_outside_doubt_is_refused() -> None:
    target = delivery(S.scheduled)
    with pytest.raises(IllegalTransition):
        transitions.check_again(target, NOW, "checking again")
    assert target.note == "before", "a refused move must not write its note"


def test_a_repeated_published_answer_refreshes_the_link_without_a_second_success() -> None:
    target = delivery(S.claimed)
    assert transitions.published(target, now=NOW, note="Live.", permalink="https://x/p/1", external_id="1") is True
    later = NOW + timedelta(minutes=1)
    assert transitions.published(target, now=later, note="Live.", permalink=None, external_id="1") is False
    assert target.status is S.published and target.permalink == "https://x/p/1" and target.published_at == NOW
    assert target.lease_token is None and target.lease_expires_at is None, "a live delivery keeps no lease"


def test_a_late_published_answer_wins_over_a_cancel() -> None:
    # The sweep flagged it in doubt, a person sent it again and then cancelled: the first call's answer is the truth.
    target = delivery(S.cancelled)
    transitions.published(target, now=NOW, note="Live.", permalink="https://x/p/2", external_id="2")
    assert target.status is S.published and target.external_id == "2"


def test_settling_moves_status_and_its_fields_together() -> None:
    target = delivery(S.claimed, retries=1)
    transitions.settle(target, missed_before_sending("Instagram @theredlion", NOW), NOW)
    assert target.status is S.missed and target.note and target.note.startswith("Missed on Instagram"), target.note
    assert target.lease_token is None and target.lease_expires_at is None, "a settled delivery keeps its lease"
    assert target.remedy and target.updated_at == NOW


def test_a_put_back_delivery_rests_where_it_was() -> None:
    with_stage, retried, fresh = (
        delivery(S.claimed, stage={"c": 1}),
        delivery(S.claimed, retries=2),
        delivery(S.claimed),
    )
    for target in (with_stage, retried, fresh):
        transitions.put_back(target, NOW + timedelta(seconds=15), "Waiting: the video is being prepared.", NOW)
    assert (with_stage.status, retried.status, fresh.status) == (S.processing, S.retrying, S.scheduled)
    assert fresh.lease_token is None and fresh.due_at == NOW + timedelta(seconds=15)


def test_a_new_delivery_starts_scheduled_once() -> None:
    target = PostTarget(id=None, due_at=NOW, cutoff_at=NOW)
    transitions.start(target)
    assert target.status is S.scheduled
    with pytest.raises(IllegalTransition):
        transitions.start(target)


# --- one writer: nothing outside transitions.py writes a delivery's status ---------------------------------------

SCANNED = ("core", "api", "tasks", "bot")
WRITER = "core/publishing/transitions.py"
# Status writes on other rows: (file, the object written) -> what it is.
OTHER_STATUSES = {
    ("core/media/jobs.py", "asset"): "a media asset's preparation status",
    ("core/chat/delivery.py", "message"): "a chat alert message's sending status (storage/models/chat_alerts.py)",
}
# Calls whose name matches a deliveries update but which update something else: (file, callee) -> what.
OTHER_CALLS = {
    ("core/chat/delivery.py", "q.claim_due"): "claims chat alert messages (storage/queries/chat_alerts.py)",
    ("core/email/outbox.py", "q.claim_due"): "claims e-mails of the outbox (storage/queries/emails.py)",
}


def _mentions_other_status(node: ast.AST) -> bool:
    """The value is another enum's member (ConnectionStatus.active, MediaStatus.ready): not a delivery's."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return any(name.endswith("Status") and name != "DeliveryStatus" for name in names)


def _status_targets(node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> list[tuple[ast.Attribute, ast.AST | None]]:
    """(`x.status` written, the value written to it when it can be paired) for one assignment."""
    found: list[tuple[ast.Attribute, ast.AST | None]] = []
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        if isinstance(target, ast.Attribute) and target.attr == "status":
            found.append((target, node.value))
        elif isinstance(target, ast.Tuple):
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [None] * len(target.elts)
            for element, value in zip(target.elts, values, strict=False):
                if isinstance(element, ast.Attribute) and element.attr == "status":
                    found.append((element, value))
    return found


@dataclass(frozen=True)
class DeliveryUpdates:
    """The storage/queries functions that UPDATE post_targets, and those of them that set `status`."""

    all: frozenset[str]
    setting_status: frozenset[str]


def delivery_updates() -> DeliveryUpdates:
    """Walk storage/queries: a function with an `update(…)` that names PostTarget is a deliveries UPDATE; it sets
    the status when it passes `status=` or builds a "status" key."""
    every: set[str] = set()
    setting: set[str] = set()
    for path in (ROOT / "storage" / "queries").glob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = list(ast.walk(fn))
            updates = any(isinstance(n, ast.Call) and ast.unparse(n.func) == "update" for n in body)
            if not updates or not any(isinstance(n, ast.Name) and n.id == "PostTarget" for n in body):
                continue
            every.add(fn.name)
            keyed = any(
                isinstance(n, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "status" for k in n.keys)
                for n in body
            )
            if keyed or any(isinstance(n, ast.keyword) and n.arg == "status" for n in body):
                setting.add(fn.name)
    return DeliveryUpdates(frozenset(every), frozenset(setting))


def status_writes(file: str, source: str, updates: DeliveryUpdates) -> list[str]:
    """Where `source` writes a delivery's status: `x.status = …`, `setattr(x, "status", …)`, `PostTarget(status=…)`,
    `.values(status=…)`, `status=` passed to a deliveries UPDATE, or a call of one that sets the status itself."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            for attribute, value in _status_targets(node):
                owner = ast.unparse(attribute.value)
                if (file, owner) in OTHER_STATUSES or (value is not None and _mentions_other_status(value)):
                    continue
                found.append(f"{file}:{node.lineno} assigns {owner}.status")
        elif isinstance(node, ast.Call):
            callee = ast.unparse(node.func)
            name = callee.split(".")[-1]
            status_keyword = any(k.arg == "status" for k in node.keywords)
            literal = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else None
            if callee == "setattr" and literal == "status":
                found.append(f"{file}:{node.lineno} setattr(…, 'status', …)")
            elif status_keyword and (name in ("PostTarget", "values") or name in updates.all):
                found.append(f"{file}:{node.lineno} passes status= to {callee}")
            elif (
                name in updates.setting_status
                and not callee.startswith("transitions.")
                and (file, callee) not in OTHER_CALLS
            ):
                found.append(f"{file}:{node.lineno} calls {callee}, which sets the status")
    return found


def test_the_walk_finds_the_storage_updates_that_write_status() -> None:
    updates = delivery_updates()
    assert "claim_due" in updates.setting_status, f"the batched claim writes `claimed`; the walk missed it: {updates}"
    assert "hold_behind_pace" in updates.all - updates.setting_status, f"a hold moves due times only: {updates}"


def test_the_walk_catches_each_kind_of_status_write() -> None:
    source = (
        "target.status = DeliveryStatus.published\n"
        "t.status, t.due_at = DeliveryStatus.scheduled, now\n"
        "setattr(target, 'status', value)\n"
        "PostTarget(post_id=1, status=DeliveryStatus.scheduled)\n"
        "pacing_q.hold_behind_pace(session, 1, status=DeliveryStatus.failed)\n"
        "await claims_q.claim_due(session)\n"
        "connection.status = ConnectionStatus.active\n"
        "posts_q.list_for_account(session, 1, status='failed')\n"
        "await transitions.claim_due(session)\n"
    )
    updates = DeliveryUpdates(frozenset({"claim_due", "hold_behind_pace"}), frozenset({"claim_due"}))
    found = status_writes("core/example.py", source, updates)
    assert len(found) == 6, "expected the first six lines, not the last three:\n" + "\n".join(found)


def test_only_transitions_writes_a_delivery_status() -> None:
    updates = delivery_updates()
    files = [p for layer in SCANNED for p in sorted((ROOT / layer).rglob("*.py"))]
    assert len(files) > 80, "the walk found too few modules to be looking at the code"
    found = [
        write
        for path in files
        if (file := path.relative_to(ROOT).as_posix()) != WRITER
        for write in status_writes(file, path.read_text(encoding="utf-8"), updates)
    ]
    assert not found, "status written outside core/publishing/transitions.py:\n" + "\n".join(found)
    writer = (ROOT / WRITER).read_text(encoding="utf-8")
    assert status_writes(WRITER, writer, updates), "the writer itself must show up, or the walk is blind"
