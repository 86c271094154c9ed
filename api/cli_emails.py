"""`cheers emails list|send`: the e-mail outbox for operators (docs/email.md): what waits, what failed and why,
and sending what is due now (the `emails` job does it every minute)."""

from __future__ import annotations

from dataclasses import asdict

import click

from api.cli_support import emit, run, to_json
from core.email import outbox

STATUSES = ("pending", "sending", "sent", "failed")


@click.group()
def emails() -> None:
    """The e-mail outbox: list it, or send what is due now."""


@emails.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only e-mails in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_context
def emails_list(ctx: click.Context, status: str | None, limit: int) -> None:
    """The newest e-mails, newest first, with their state and last error."""
    lines = run(lambda rt: outbox.recent(rt, status=status, limit=limit))
    text = "\n".join(_line(e) for e in lines)
    emit(ctx, {"emails": [asdict(e) for e in lines]}, text or "no e-mails")


def _line(e: outbox.EmailLine) -> str:
    line = f"#{e.id:<5} {e.status:<8} {e.kind:<13} {e.to:<28} {e.subject}"
    if e.last_error:
        line += f"\n       tries {e.attempts}, next {e.next_attempt_at:%Y-%m-%d %H:%M:%S}Z: {e.last_error}"
    return line


@emails.command("send")
@click.pass_context
def emails_send(ctx: click.Context) -> None:
    """Send every due e-mail now, in this process (what the `emails` job does each minute)."""
    result = run(outbox.run)
    emit(ctx, {"result": result}, "emails: " + to_json(result))


def register(cli: click.Group) -> None:
    """Add `cheers emails` to the `cheers` group."""
    cli.add_command(emails)
