"""`cheers jobs|keys`: periodic jobs and token encryption keys, for operators.

Jobs and key rotation own their transactions (committed runs and batches, safe to interrupt), so these
commands run them with `run`, not inside a unit of work of their own.
"""

from __future__ import annotations

from typing import Any

import click

from api.cli_support import emit, run, to_json
from bot.slack.sender import install_slack_sender
from bot.telegram.sender import install_telegram_sender
from core.access.policy import OPERATOR
from core.connections import keys as keys_core
from core.ops import jobs as jobs_core
from core.runtime import Runtime
from storage.crypto import generate_key


@click.group()
def jobs() -> None:
    """Periodic jobs: list them, or run one now."""


@jobs.command("list")
@click.pass_context
def jobs_list(ctx: click.Context) -> None:
    """Every periodic job, its schedule and its last run."""
    rows = run(jobs_core.overview)
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
    emit(ctx, {"jobs": rows}, text)


@jobs.command("run")
@click.argument("name")
@click.pass_context
def jobs_run(ctx: click.Context, name: str) -> None:
    """Run a periodic job now, in this process (the ops retry tool)."""
    if name not in jobs_core.JOBS:
        raise click.UsageError(f"no job named '{name}'; known jobs: {', '.join(sorted(jobs_core.JOBS))}")

    async def job(rt: Runtime) -> dict[str, Any]:
        install_slack_sender(rt)  # chat-alerts sends from this process too (a worker's runtime has it already)
        install_telegram_sender(rt)
        return await jobs_core.run_job(rt, name, trigger="manual", actor=OPERATOR)

    result = run(job)
    emit(ctx, {"job": name, "result": result}, f"{name}: " + to_json(result))


@click.group()
def keys() -> None:
    """Token encryption keys."""


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Re-encrypt every stored secret under the newest key in CHEERS_TOKEN_KEYS."""
    counts = run(lambda rt: keys_core.rotate_keys(rt, OPERATOR))
    emit(ctx, {"reencrypted": counts}, "re-encrypted " + ", ".join(f"{k}: {v}" for k, v in counts.items()))


@keys.command("generate")
@click.option("--label", default="", help="Optional label kept in front of the key.")
def keys_generate(label: str) -> None:
    """Print a new key to put first in CHEERS_TOKEN_KEYS."""
    click.echo(generate_key(label))


def register(cli: click.Group) -> None:
    """Add the operations commands to the `cheers` group."""
    for command in (jobs, keys):
        cli.add_command(command)
