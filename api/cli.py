"""The `cheers` command: a front door for operators and scripts (`--json` for machine output)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from api import cli_posts
from core.access import accounts as accounts_core
from core.access import auth as auth_core
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.connections import imports as imports_core
from core.connections import keys as keys_core
from core.connections import lifecycle as connections_core
from core.connections import oauth as oauth_core
from core.errors import DomainError, NotFound
from core.logging import configure_logging
from core.ops import jobs as jobs_core
from core.runtime import Runtime, build_runtime
from core.settings import Settings, UnsafeSettings
from storage.crypto import SecretKeyError, generate_key
from storage.models import Channel, Provider, Role

T = TypeVar("T")
CLI_ACTOR = Actor(user_id=None, channel=Channel.cli)


def _runtime() -> Runtime:
    settings = Settings()
    settings.check_safe_for_production()
    # Log events go to stderr (redacted), so stdout carries only the command's output (`--json`).
    configure_logging(settings.cheers_log_level, settings.cheers_log_format)
    return build_runtime(settings)


def _run(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        runtime = _runtime()
        try:
            return await fn(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _emit(ctx: click.Context, data: dict[str, Any], text: str) -> None:
    if ctx.find_root().obj.get("json"):
        click.echo(json.dumps(data, default=_default))
    else:
        click.echo(text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """CheersAI: chat-first social publishing for venues."""
    ctx.ensure_object(dict)
    ctx.obj["json"] = as_json


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def dev(host: str, port: int) -> None:
    """Run everything in one process on embedded defaults: web, worker, scheduler."""
    from api.devserver import run_dev

    run_dev(host=host, port=port)


@cli.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--downgrade", "down", is_flag=True, help="Downgrade to --revision instead.")
@click.option("--check", is_flag=True, help="Exit 1 if the models and the migrated database differ.")
@click.pass_context
def migrate(ctx: click.Context, revision: str, down: bool, check: bool) -> None:
    """Apply database migrations (Procfile `release`)."""
    from storage import migrate as migrations

    settings = Settings()
    if check:
        diff = asyncio.run(migrations.drift(settings.database))
        _emit(ctx, {"drift": [str(d) for d in diff]}, "no drift" if not diff else "\n".join(map(str, diff)))
        sys.exit(1 if diff else 0)
    if down:
        migrations.downgrade(settings.database, revision)
    else:
        migrations.upgrade(settings.database, revision)
    current = asyncio.run(migrations.current_revision(settings.database))
    _emit(ctx, {"revision": current}, f"database at revision {current}")


@cli.group()
def accounts() -> None:
    """Venues."""


@accounts.command("create")
@click.option("--name", required=True)
@click.option("--timezone", required=True, help="IANA name, e.g. Europe/London")
@click.pass_context
def accounts_create(ctx: click.Context, name: str, timezone: str) -> None:
    """Create a venue."""

    async def go(rt: Runtime) -> Any:
        async with rt.uow() as uow:
            account = await accounts_core.create_account(
                uow.session, rt.clock, CLI_ACTOR, name=name, timezone=timezone, owner_user_id=None
            )
            await uow.commit()
            return account

    account = _run(go)
    _emit(
        ctx,
        {"id": account.id, "name": account.name, "timezone": account.timezone},
        f"created venue {account.id}: {account.name} ({account.timezone})",
    )


@cli.group()
def users() -> None:
    """People and their roles."""


@users.command("create")
@click.option("--account", "account_id", type=int, help="Venue to add the person to.")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), help="Role in the venue.")
@click.option("--email")
@click.option("--staff", is_flag=True, help="A service operator (may act in any venue, audited).")
@click.pass_context
def users_create(
    ctx: click.Context, account_id: int | None, name: str, role: str | None, email: str | None, staff: bool
) -> None:
    """Create a person, and give them a role in a venue."""
    if account_id is None and not staff:
        raise click.UsageError("--account is required (or --staff for an operator)")
    if account_id is not None and role is None:
        raise click.UsageError("--role is required with --account")

    async def go(rt: Runtime) -> Any:

        async with rt.uow() as uow:
            if account_id is not None and not await accounts_core.account_exists(uow.session, account_id):
                raise NotFound(f"venue {account_id} not found")
            user = await accounts_core.create_user(
                uow.session, rt.clock, CLI_ACTOR, name=name, email=email, is_staff=staff
            )
            if account_id is not None and role is not None:
                # The shell is trusted like an owner: the operator already holds the database.
                access = VenueAccess(actor=CLI_ACTOR, account_id=account_id, role=Role.owner)
                await accounts_core.add_member(uow.session, rt.clock, access, user_id=user.id, role=Role(role))
            await uow.commit()
            return user

    user = _run(go)
    _emit(
        ctx,
        {"id": user.id, "name": user.name, "account": account_id, "role": role, "staff": staff},
        f"created person {user.id}: {user.name}"
        + (f" as {role} of venue {account_id}" if account_id else "")
        + (" (staff)" if staff else ""),
    )


@cli.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option("--user", "user_id", type=int, required=True)
@click.option("--name", default="cli", show_default=True)
@click.pass_context
def tokens_create(ctx: click.Context, user_id: int, name: str) -> None:
    """Create an API token for a person (printed once)."""

    async def go(rt: Runtime) -> Any:
        async with rt.uow() as uow:
            token, raw = await auth_core.create_api_token(uow.session, rt.clock, CLI_ACTOR, user_id=user_id, name=name)
            await uow.commit()
            return token.id, raw

    token_id, raw = _run(go)
    _emit(ctx, {"id": token_id, "token": raw}, raw)


@cli.command("login-link")
@click.option("--user", "user_id", type=int, required=True)
@click.pass_context
def login_link(ctx: click.Context, user_id: int) -> None:
    """Issue a one-time login link for a person."""

    async def go(rt: Runtime) -> Any:
        async with rt.uow() as uow:
            link = await auth_core.issue_login_link(uow.session, rt.clock, rt.settings, CLI_ACTOR, user_id=user_id)
            await uow.commit()
            return link

    link = _run(go)
    _emit(
        ctx,
        {"url": link.url, "expires_in_minutes": link.expires_in_minutes},
        f"{link.url}\n(valid for {link.expires_in_minutes} minutes, once)",
    )


@cli.group()
def jobs() -> None:
    """Periodic jobs: list them, or run one now."""


@jobs.command("list")
@click.pass_context
def jobs_list(ctx: click.Context) -> None:
    """Every periodic job, its schedule and its last run."""
    rows = _run(jobs_core.overview)
    text = "\n".join(
        f"{r['name']:<26} {r['cron']:<13} "
        + (
            f"last {r['last_run']['status']} {r['last_run']['started_at']:%Y-%m-%d %H:%M:%S}Z"
            if r["last_run"]
            else "never run"
        )
        + f"  {r['description']}"
        for r in rows
    )
    _emit(ctx, {"jobs": rows}, text)


@jobs.command("run")
@click.argument("name")
@click.pass_context
def jobs_run(ctx: click.Context, name: str) -> None:
    """Run a periodic job now, in this process (the ops retry tool)."""
    if name not in jobs_core.JOBS:
        raise click.UsageError(f"no job named '{name}'; known jobs: {', '.join(sorted(jobs_core.JOBS))}")
    result = _run(lambda rt: jobs_core.run_job(rt, name, trigger="manual", actor=CLI_ACTOR))
    _emit(ctx, {"job": name, "result": result}, f"{name}: " + json.dumps(result, default=_default))


@cli.group()
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
    """Print a consent link: open it, approve, and the page says what was connected."""
    provider = _provider(provider_name)

    async def go(rt: Runtime) -> Any:
        async with rt.uow() as uow:
            person = user_id or await accounts_core.first_owner(uow.session, account_id)
            access = VenueAccess(
                actor=Actor(user_id=person, channel=Channel.cli), account_id=account_id, role=Role.owner
            )
            link = await oauth_core.start(
                uow.session, rt.clock, rt.settings, rt.cipher(), rt.providers[provider], access
            )
            await uow.commit()
            return link

    link = _run(go)
    _emit(
        ctx,
        {"url": link.url, "state_id": link.state_id, "expires_at": link.expires_at},
        f"{link.url}\n(open it in a browser within 10 minutes)",
    )


@connections.command("list")
@click.option("--account", "account_id", type=int, required=True)
@click.pass_context
def connections_list(ctx: click.Context, account_id: int) -> None:
    """A venue's connections, status and expiry (tokens masked)."""

    async def go(rt: Runtime) -> Any:
        async with rt.db.session() as session:
            return await connections_core.list_connections(
                session, VenueAccess(actor=CLI_ACTOR, account_id=account_id, role=Role.owner)
            )

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
        for c in _run(go)
    ]
    text = (
        "\n".join(f"{r['id']:>5} {r['provider']:<16} {r['status']:<16} {r['name']} ({r['external_id']})" for r in rows)
        or "no connections"
    )
    _emit(ctx, {"connections": rows}, text)


@connections.command("diagnose")
@click.argument("connection_id", type=int, required=False)
@click.pass_context
def connections_diagnose(ctx: click.Context, connection_id: int | None) -> None:
    """Diagnose one connection, or every connection that is not disconnected."""

    async def go(rt: Runtime) -> list[dict[str, Any]]:
        return await connections_core.diagnose_many(rt, connection_id)

    results = _run(go)
    lines = []
    for r in results:
        lines.append(f"#{r['connection_id']} {r['name']}: {'healthy' if r.get('healthy') else 'needs attention'}")
        for f in r.get("findings", []):
            mark = "ok " if f["ok"] else "!! "
            lines.append(f"   {mark}{f['message']}" + (f" — {f['remedy']}" if f.get("remedy") and not f["ok"] else ""))
        if r.get("error"):
            lines.append(f"   !! {r['error']}")
    _emit(ctx, {"results": results}, "\n".join(lines) or "no connections to diagnose")


@connections.command("import")
@click.argument("file", type=click.File("r"))
@click.option("--account", "account_id", type=int, help="Venue for rows without account_id.")
@click.pass_context
def connections_import(ctx: click.Context, file: Any, account_id: int | None) -> None:
    """Import connections from JSON lines (tokens encrypted on the way in; bad rows skipped)."""
    lines = file.readlines()
    report = _run(lambda rt: imports_core.import_lines(rt, lines, actor=CLI_ACTOR, default_account=account_id))
    text = [f"imported {len(report.imported)}, updated {len(report.updated)}, skipped {len(report.errors)}"]
    text += [f"  line {n}: {why}" for n, why in report.errors]
    _emit(
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
            return await imports_core.backfill(rt, dry_run=dry_run, actor=CLI_ACTOR, progress=bar.update)

    rows = _run(go)
    table = [f"{'id':>5}  {'provider':<16} {'outcome':<11} changes"]
    for r in rows:
        detail = ", ".join(f"{k}: {v[0]} → {v[1]}" for k, v in r.changes.items()) or (r.error or "")
        table.append(f"{r.connection_id:>5}  {r.provider:<16} {r.outcome:<11} {detail}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    table.append("summary: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to backfill"))
    _emit(ctx, {"dry_run": dry_run, "rows": [vars(r) for r in rows], "summary": counts}, "\n".join(table))


@cli.group()
def keys() -> None:
    """Token encryption keys."""


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Re-encrypt every stored secret under the newest key in CHEERS_TOKEN_KEYS."""
    counts = _run(lambda rt: keys_core.rotate_keys(rt, CLI_ACTOR))
    _emit(ctx, {"reencrypted": counts}, "re-encrypted " + ", ".join(f"{k}: {v}" for k, v in counts.items()))


@keys.command("generate")
@click.option("--label", default="", help="Optional label kept in front of the key.")
def keys_generate(label: str) -> None:
    """Print a new key to put first in CHEERS_TOKEN_KEYS."""
    click.echo(generate_key(label))


cli_posts.register(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors are one line on stderr and exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    # `--json` is accepted anywhere on the line (`cheers accounts create … --json`), not only first.
    if "--json" in args:
        args = ["--json", *[a for a in args if a != "--json"]]
    try:
        cli.main(args=args, prog_name="cheers", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("cheers: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        click.echo(f"cheers: {exc.format_message()}", err=True)
        sys.exit(2)
    except (DomainError, UnsafeSettings, SecretKeyError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        click.echo(f"cheers: {message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
