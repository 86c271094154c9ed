"""`cheers connections …`: Facebook Pages, Instagram accounts and Business Profile locations, for operators.

`diagnose`, `import` and `backfill-metadata` call core batch jobs that commit per connection or per row
(an interrupted run keeps its progress), so they run with `run`; the others are one core call in one unit
of work.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from api.cli_support import emit, run, run_in_uow, with_operator
from core.access import accounts as accounts_core
from core.access import policy
from core.access.policy import OPERATOR, VenueAccess
from core.connections import imports as imports_core
from core.connections import lifecycle as connections_core
from core.connections import oauth as oauth_core
from core.runtime import Runtime
from storage.models import Provider
from storage.uow import UnitOfWork


@click.group()
def connections() -> None:
    """Facebook Pages, Instagram accounts and Business Profile locations."""


def _provider(value: str) -> Provider:
    try:
        return Provider(value)
    except ValueError:
        raise click.UsageError(f"provider must be one of {', '.join(p.value for p in Provider)}") from None


@connections.command("connect")
@click.argument("provider_name", metavar="PROVIDER")
@click.option("--account", "account_id", type=int, required=True, help="The venue to connect.")
@click.option("--user", "user_id", type=int, help="The person the consent is for (default: the venue's owner).")
@click.pass_context
def connections_connect(ctx: click.Context, provider_name: str, account_id: int, user_id: int | None) -> None:
    """Print a consent link: open it, check the venue it names, continue, approve; the page says what was connected."""
    provider = _provider(provider_name)

    async def go(rt: Runtime, uow: UnitOfWork) -> Any:
        person = user_id or await accounts_core.first_owner(uow.session, account_id)
        # A consent flow belongs to a person: the operator starts it on their behalf.
        access = await policy.operator_access(
            uow.session, rt.clock, account_id, purpose=ctx.command_path, on_behalf_of=person
        )
        return await oauth_core.start(uow.session, rt.clock, rt.settings, rt.cipher(), rt.providers[provider], access)

    link = run_in_uow(go)
    emit(
        ctx,
        {"url": link.url, "state_id": link.state_id, "expires_at": link.expires_at},
        f"{link.url}\n(open it in a browser within 10 minutes, check the venue it names, press Continue)",
    )


@connections.command("list")
@click.option("--account", "account_id", type=int, required=True)
@click.pass_context
def connections_list(ctx: click.Context, account_id: int) -> None:
    """A venue's connections, status and expiry (tokens masked)."""

    async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> Any:
        return await connections_core.list_connections(uow.session, access)

    rows = [
        {
            "id": c.id,
            "provider": c.provider.value,
            "name": c.display_name,
            "status": c.status.value,
            "external_id": c.external_id,
            "token": c.access_token_hint,
            "user_token_expires_at": c.user_token_expires_at,
            "data_access_expires_at": c.data_access_expires_at,
        }
        for c in with_operator(ctx, account_id, go)
    ]
    text = (
        "\n".join(f"{r['id']:>5} {r['provider']:<16} {r['status']:<16} {r['name']} ({r['external_id']})" for r in rows)
        or "no connections"
    )
    emit(ctx, {"connections": rows}, text)


@connections.command("diagnose")
@click.argument("connection_id", type=int, required=False)
@click.pass_context
def connections_diagnose(ctx: click.Context, connection_id: int | None) -> None:
    """Diagnose one connection, or every connection that is not disconnected."""

    async def go(rt: Runtime) -> list[dict[str, Any]]:
        return await connections_core.diagnose_many(rt, connection_id)

    results = run(go)
    lines = []
    for r in results:
        lines.append(f"#{r['connection_id']} {r['name']}: {'healthy' if r.get('healthy') else 'needs attention'}")
        for f in r.get("findings", []):
            mark = "ok " if f["ok"] else "!! "
            lines.append(f"   {mark}{f['message']}" + (f" — {f['remedy']}" if f.get("remedy") and not f["ok"] else ""))
        if r.get("error"):
            lines.append(f"   !! {r['error']}")
    emit(ctx, {"results": results}, "\n".join(lines) or "no connections to diagnose")


@connections.command("import")
@click.argument("file", type=click.File("r"))
@click.option("--account", "account_id", type=int, help="Venue for rows without account_id.")
@click.pass_context
def connections_import(ctx: click.Context, file: Any, account_id: int | None) -> None:
    """Import connections from JSON lines (tokens encrypted on the way in; bad rows skipped)."""
    lines = file.readlines()
    report = run(lambda rt: imports_core.import_lines(rt, lines, actor=OPERATOR, default_account=account_id))
    text = [f"imported {len(report.imported)}, updated {len(report.updated)}, skipped {len(report.errors)}"]
    text += [f"  line {n}: {why}" for n, why in report.errors]
    emit(
        ctx,
        {
            "imported": report.imported,
            "updated": report.updated,
            "errors": [{"line": n, "error": why} for n, why in report.errors],
        },
        "\n".join(text),
    )


@connections.command("backfill-metadata")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.pass_context
def connections_backfill(ctx: click.Context, dry_run: bool) -> None:
    """Fill missing page, Instagram and location ids from the providers (idempotent)."""
    quiet = bool(ctx.find_root().obj.get("json"))

    async def go(rt: Runtime) -> Any:
        total = await imports_core.backfill_candidates(rt)
        with click.progressbar(length=total, label="backfilling", file=sys.stderr, hidden=quiet or not total) as bar:
            return await imports_core.backfill(rt, dry_run=dry_run, actor=OPERATOR, progress=bar.update)

    rows = run(go)
    table = [f"{'id':>5}  {'provider':<16} {'outcome':<11} changes"]
    for r in rows:
        detail = ", ".join(f"{k}: {v[0]} → {v[1]}" for k, v in r.changes.items()) or (r.error or "")
        table.append(f"{r.connection_id:>5}  {r.provider:<16} {r.outcome:<11} {detail}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    table.append("summary: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to backfill"))
    emit(ctx, {"dry_run": dry_run, "rows": [vars(r) for r in rows], "summary": counts}, "\n".join(table))


def register(cli: click.Group) -> None:
    """Add the connections commands to the `cheers` group."""
    cli.add_command(connections)
