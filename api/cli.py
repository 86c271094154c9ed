"""The `cheers` command: a front door for operators and scripts (`--json` for machine output).

This module keeps the group, `main` (a refusal or bad arguments → one line on stderr; exit 1 or 2) and the
commands that run without the runtime (`dev`, `migrate`); each command group lives in its own module
(`api.cli_accounts`, `api.cli_chat`, `api.cli_connections`, `api.cli_emails`, `api.cli_incidents`, `api.cli_ops`,
`api.cli_posts`) and the shared plumbing in `api.cli_support`.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

import click

from api.cli_support import emit, explain
from core.errors import DomainError
from core.settings import Settings, UnsafeSettings
from storage.crypto import SecretKeyError

# Which module adds each command group. A module is imported only when one of its commands runs (or `--help` lists
# them all): the chat consoles pull in Litestar and both bots, and importing every group made each command start
# in about 1.4 s instead of about 0.6 s (operators' scripts and the CLI tests pay it every time).
LAZY_COMMANDS: dict[str, str] = {
    "accounts": "api.cli_accounts",
    "invite": "api.cli_accounts",
    "login-link": "api.cli_accounts",
    "tokens": "api.cli_accounts",
    "users": "api.cli_accounts",
    "chat": "api.cli_chat",
    "connections": "api.cli_connections",
    "emails": "api.cli_emails",
    "incidents": "api.cli_incidents",
    "jobs": "api.cli_ops",
    "keys": "api.cli_ops",
    "posts": "api.cli_posts",
    "retry": "api.cli_posts",
    "slack": "api.cli_slack",
    "telegram": "api.cli_telegram",
    "weekly": "api.cli_weekly",
}


class LazyGroup(click.Group):
    """A group whose command groups are registered by their module (`register(cli)`) when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            importlib.import_module(LAZY_COMMANDS[cmd_name]).register(self)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--verbose", is_flag=True, help="Log what happens (info and above) on stderr; quiet by default.")
@click.pass_context
def cli(ctx: click.Context, as_json: bool, verbose: bool) -> None:
    """CheersAI: chat-first social publishing for venues."""
    ctx.ensure_object(dict)
    ctx.obj["json"] = as_json
    ctx.obj["verbose"] = verbose


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
        emit(ctx, {"drift": [str(d) for d in diff]}, "no drift" if not diff else "\n".join(map(str, diff)))
        sys.exit(1 if diff else 0)
    if down:
        migrations.downgrade(settings.database, revision)
    else:
        migrations.upgrade(settings.database, revision)
    current = asyncio.run(migrations.current_revision(settings.database))
    emit(ctx, {"revision": current}, f"database at revision {current}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0 done, 1 refused or failed, 2 bad arguments (click's usage errors); a refusal or a
    usage error is one line on stderr.

    A refusal is a core error (`DomainError`: its message, then its remedy) or settings that are unsafe or
    unreadable: an answer about the data, not about the command line, so exit 1. The command's unit of work has
    rolled back by then. Anything else is our bug or an outage: a traceback on stderr and exit 1.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    # The global flags are accepted anywhere on the line (`cheers accounts create … --json`), not only first.
    for flag in ("--verbose", "--json"):
        if flag in args:
            args = [flag, *[a for a in args if a != flag]]
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
        click.echo(f"cheers: {explain(exc)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
