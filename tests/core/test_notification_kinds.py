"""The notification vocabulary: every kind has its table entry, docs/notifications.md describes exactly the
kinds and actions the code has, offers round-trip through a payload, and notify() refuses what the table lacks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.links import ENDPOINTS
from core.errors import Invalid
from core.notifications import outbox as notifications
from core.notifications.actions import Action, Offer, offer
from core.notifications.kinds import KINDS, Audience, NotificationKind, offers_for, parse_kinds
from core.runtime import Runtime
from storage.models import Severity
from tests import factories

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def table_rows(heading: str) -> dict[str, list[str]]:
    """The rows of the table under `## heading`, keyed by the first cell's `code` name."""
    section = DOCS.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([a-z_]+)`", cells[0]) if line.startswith("|") else None
        if name:
            assert name.group(1) not in rows, f"docs/notifications.md lists {name.group(1)} twice"
            rows[name.group(1)] = cells[1:]
    return rows


def named(cell: str) -> tuple[str, ...]:
    """The `code` names in a cell, in order ("—" names none)."""
    return tuple(re.findall(r"`([a-z_]+)`", cell))


def test_every_kind_has_an_entry_in_the_table() -> None:
    missing = set(NotificationKind) - set(KINDS)
    assert not missing, f"kinds without a KindInfo entry (who gets it, severity, offers): {sorted(missing)}"
    for kind, info in KINDS.items():
        assert info.summary, f"{kind} says nothing about when it is raised"
        assert len(set(info.offers)) == len(info.offers), f"{kind} offers an action twice: {info.offers}"


def test_docs_table_names_exactly_the_kinds_with_their_audience_severity_and_offers() -> None:
    rows = table_rows("Kinds")
    in_code = {k.value for k in NotificationKind}
    assert set(rows) == in_code, (
        f"docs/notifications.md and NotificationKind differ: only in docs {sorted(set(rows) - in_code)}, "
        f"only in code {sorted(in_code - set(rows))}"
    )
    for kind, info in KINDS.items():
        audience, severity, offers, raised, dedup = rows[kind.value]
        assert Audience(audience) is info.audience, f"{kind}: docs say {audience!r}, the table {info.audience}"
        assert severity.split()[0] == info.severity.value, f"{kind}: docs say {severity!r}, the table {info.severity}"
        assert named(offers) == tuple(a.value for a in info.offers), f"{kind}: docs offer {offers!r}, not {info.offers}"
        assert raised and dedup, f"{kind}: the docs should say when it is raised and how it is de-duplicated"


def test_docs_name_every_action_with_the_endpoint_the_api_links_to() -> None:
    rows = table_rows("Actions")
    assert set(rows) == {a.value for a in Action}, f"docs/notifications.md and Action differ: {sorted(rows)}"
    for action, endpoint in ENDPOINTS.items():
        path = re.sub(r"\{(target|connection|post)_id\}", "{id}", endpoint.path)
        api_cell = rows[action.value][2]
        assert f"{endpoint.method} {path}" in api_cell, f"{action}: docs say {api_cell!r}, the API links to {path}"


def test_offers_round_trip_through_a_payload_and_carry_ids_not_paths() -> None:
    for kind in NotificationKind:
        for original in offers_for(kind, target_id=12, connection_id=3, post_id=5):
            stored = original.to_payload()
            newer = {"post_id"} if original.post_id is not None else set()
            assert set(stored) == {"action", "label", "target_id", "connection_id", *newer}, stored
            assert Offer.from_payload(stored) == original, f"{kind}: {stored} did not read back as {original}"


@pytest.mark.parametrize(
    "stored",
    [{"action": "delete_everything", "target_id": 1}, {"label": "Retry"}, {"action": "retry", "target_id": "1"}],
    ids=["unknown-action", "no-action", "id-not-a-number"],
)
def test_an_offer_that_cannot_be_performed_does_not_read_back(stored: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Offer.from_payload(stored)


def test_an_offer_needs_the_id_its_action_acts_on() -> None:
    with pytest.raises(ValueError, match="target_id"):
        offer(Action.manual_package, connection_id=3)
    with pytest.raises(ValueError, match="connection_id"):
        offer(Action.reconnect, target_id=12)


def test_a_kind_filter_names_the_valid_kinds_when_one_is_unknown() -> None:
    assert parse_kinds(["publish_failed"]) == [NotificationKind.publish_failed]
    assert parse_kinds([]) is None and parse_kinds(None) is None, "no filter should mean every kind"
    with pytest.raises(Invalid) as refused:
        parse_kinds(["publish_failed", "post.failed"])
    assert "'post.failed'" in refused.value.message, refused.value.message
    assert all(k.value in refused.value.message for k in NotificationKind), refused.value.message


async def test_notify_refuses_an_action_the_kind_does_not_offer_and_a_bare_string_kind(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    async with runtime.uow() as uow:
        with pytest.raises(ValueError, match="does not offer retry"):
            await notifications.notify(
                uow.session,
                runtime.clock,
                account_id=venue,
                kind=NotificationKind.publish_in_doubt,
                severity=Severity.error,
                title="Check whether this went out",
                actions=[offer(Action.retry, target_id=1)],
            )
        with pytest.raises(TypeError, match="NotificationKind"):
            await notifications.notify(
                uow.session,
                runtime.clock,
                account_id=venue,
                kind="publish_failed",  # type: ignore[arg-type]
                severity=Severity.error,
                title="Not published",
            )
