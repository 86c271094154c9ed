"""Bring connections over from another system, then fill in ids the old system did not keep."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from core.access import audit
from core.access.audit import Actor
from core.connections.lifecycle import PROVIDER_LABEL, SECRET_NAMES, credentials
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from providers.errors import ProviderError
from storage.models import Connection, ConnectionStatus, Provider, Severity
from storage.queries import accounts as accounts_q
from storage.queries import connections as connections_q
from storage.secrets import seal

ID_FIELDS = ("page_id", "ig_business_id", "location_name")
PLACEHOLDER = "imported:"  # external_id of an imported row that carried no id at all


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def _row_error(row: dict[str, Any], default_account: int | None) -> str | None:
    if row.get("provider") not in {p.value for p in Provider}:
        return f"provider must be one of {', '.join(p.value for p in Provider)}"
    if not (row.get("access_token") or row.get("refresh_token")):
        return "a token is required (access_token, or refresh_token for google_business)"
    if row.get("account_id") is None and default_account is None:
        return "account_id is missing (or pass --account)"
    return None


async def import_lines(
    runtime: Runtime, lines: Iterable[str], *, actor: Actor, default_account: int | None = None
) -> ImportReport:
    """Import JSON lines; tokens are encrypted on the way in; bad rows are reported by line and skipped."""
    # A batch job owns its transactions: one per line, so a bad row is skipped and an interrupted run keeps the rest.
    report = ImportReport()
    cipher = runtime.cipher()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            report.errors.append((number, f"not valid JSON ({exc})"))
            continue
        problem = _row_error(row, default_account)
        if problem:
            report.errors.append((number, problem))
            continue
        account_id = int(row.get("account_id") or default_account or 0)
        provider = Provider(row["provider"])
        async with runtime.uow() as uow:
            if await accounts_q.get_account(uow.session, account_id) is None:
                report.errors.append((number, f"venue {account_id} not found"))
                continue
            external_id = str(
                row.get("external_id")
                or row.get("ig_business_id" if provider is Provider.instagram else "page_id")
                or row.get("location_name")
                or f"{PLACEHOLDER}{number}"
            )
            existing = await connections_q.find_by_external(uow.session, account_id, provider, external_id)
            connection = existing or Connection(
                account_id=account_id,
                provider=provider,
                external_id=external_id,
                scopes=[],
                details={},
                display_name=str(row.get("name") or external_id),
                status=ConnectionStatus.active,
            )
            for name in SECRET_NAMES:
                if row.get(name):
                    seal(connection, name, str(row[name]), cipher)
            for name in ID_FIELDS:
                if row.get(name):
                    setattr(connection, name, str(row[name]))
            if isinstance(row.get("scopes"), list):
                connection.scopes = [str(s) for s in row["scopes"]]
            connection.details = {**connection.details, "imported": True}
            if existing is None:
                await connections_q.add(uow.session, connection)
            await uow.session.flush()
            await audit.record(
                uow.session,
                runtime.clock,
                actor,
                "connection_imported",
                account_id=account_id,
                subject_type="connection",
                subject_id=connection.id,
                provider=provider.value,
                line=number,
            )
            await uow.commit()
            (report.updated if existing else report.imported).append(connection.id)
    return report


@dataclass(frozen=True)
class BackfillRow:
    connection_id: int
    provider: str
    name: str
    outcome: str  # filled | would fill | unchanged | failed
    changes: dict[str, list[Any]]
    error: str | None = None


async def backfill(
    runtime: Runtime, *, dry_run: bool, actor: Actor, progress: Callable[[int], None] | None = None
) -> list[BackfillRow]:
    """Fill missing page / Instagram / location ids from the providers; idempotent; notifies per change."""
    # A batch job owns its transactions: one per connection, so an interrupted backfill keeps what it filled.
    async with runtime.db.session() as session:
        ids = [c.id for c in await connections_q.missing_metadata(session)]
    rows: list[BackfillRow] = []
    for connection_id in ids:
        async with runtime.uow() as uow:
            connection = await connections_q.get_any(uow.session, connection_id)
            assert connection is not None
            stored = credentials(connection, runtime.cipher())
            if connection.external_id.startswith(PLACEHOLDER):
                stored = replace(stored, external_id="")  # a placeholder is no hint of which place it is
            try:
                target = await runtime.providers[connection.provider].resolve(stored)
            except ProviderError as exc:
                rows.append(
                    BackfillRow(
                        connection.id, connection.provider.value, connection.display_name, "failed", {}, exc.message
                    )
                )
                if progress:
                    progress(1)
                continue
            changes: dict[str, list[Any]] = {}
            for name in ID_FIELDS:
                new = getattr(target, name)
                if new and getattr(connection, name) != new:
                    changes[name] = [getattr(connection, name), new]
            if target.external_id and target.external_id != connection.external_id:
                changes["external_id"] = [connection.external_id, target.external_id]
            if not changes:
                rows.append(
                    BackfillRow(connection.id, connection.provider.value, connection.display_name, "unchanged", {})
                )
            elif dry_run:
                rows.append(
                    BackfillRow(
                        connection.id, connection.provider.value, connection.display_name, "would fill", changes
                    )
                )
            else:
                unnamed = connection.display_name.startswith(PLACEHOLDER) or connection.display_name == (
                    connection.external_id
                )
                for name, (_, new) in changes.items():
                    setattr(connection, name, new)
                if unnamed:
                    connection.display_name = target.name
                await uow.session.flush()
                await audit.record(
                    uow.session,
                    runtime.clock,
                    actor,
                    "connection_metadata_updated",
                    account_id=connection.account_id,
                    subject_type="connection",
                    subject_id=connection.id,
                    diff=changes,
                    source="backfill",
                )
                await notifications.notify(
                    uow.session,
                    runtime.clock,
                    account_id=connection.account_id,
                    kind=NotificationKind.connection_metadata_updated,
                    severity=Severity.info,
                    title=f"{PROVIDER_LABEL[connection.provider]} {connection.display_name}: ids filled in",
                    subject={"connection_id": connection.id},
                    payload={"diff": changes, "source": "backfill"},
                )
                await uow.commit()
                rows.append(
                    BackfillRow(connection.id, connection.provider.value, connection.display_name, "filled", changes)
                )
        if progress:
            progress(1)
    return rows


async def backfill_candidates(runtime: Runtime) -> int:
    async with runtime.db.session() as session:
        return len(await connections_q.missing_metadata(session))
