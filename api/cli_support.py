"""Plumbing every `cheers` command shares: the runtime, one unit of work per core call, operator access, output.

A command parses its options, then makes one core call through `run_in_uow` (or `with_operator` when the call
acts in a venue) and renders the result with `emit`. The unit of work commits when the call returns and rolls
back when it raises; `api.cli.main` turns a core error into one line on stderr and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url

from core.access import policy
from core.access.policy import VenueAccess
from core.errors import DomainError, NotFound
from core.logging import configure_logging
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.uow import UnitOfWork, transaction

T = TypeVar("T")

InUow = Callable[[Runtime, UnitOfWork], Awaitable[T]]
AsOperator = Callable[[Runtime, UnitOfWork, VenueAccess], Awaitable[T]]


def build() -> Runtime:
    """The runtime for one command, from the environment (refusing unsafe production settings)."""
    settings = Settings()
    settings.check_safe_for_production()
    require_database(settings)
    configure_cli_logging(settings)
    return build_runtime(settings)


def require_database(settings: Settings) -> None:
    """Refuse (NotFound, one line) when the SQLite file is missing or empty, before SQLite creates it.

    Run outside the project folder, the default `var/cheers.db` is relative to where the command runs: opening it
    would leave a stray empty database there and end in a "no such table" traceback. `cheers migrate` (which
    creates the database on purpose) and PostgreSQL do not come here.
    """
    if not settings.is_sqlite:
        return
    name = make_url(settings.database).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if path.is_file() and path.stat().st_size > 0:
        return
    if settings.database_url:
        raise NotFound(f"no CheersAI database at {path}", remedy="run `cheers migrate` first, or check DATABASE_URL")
    raise NotFound("no CheersAI database here; set DATABASE_URL or run from the project folder")


def configure_cli_logging(settings: Settings) -> None:
    """Log events as console lines on stderr (redacted): warnings and above, or info too under `--verbose`.

    A person reads the command's output; JSON events between its lines are noise there, and stdout must carry only
    the output (`--json`). CHEERS_LOG_LEVEL still applies under `--verbose` when it asks for more (DEBUG).
    """
    ctx = click.get_current_context(silent=True)
    verbose = bool(ctx and (ctx.find_root().obj or {}).get("verbose"))
    wanted = logging.getLevelNamesMapping().get(settings.cheers_log_level.upper(), logging.INFO)
    level = min(wanted, logging.INFO) if verbose else max(wanted, logging.WARNING)
    configure_logging(logging.getLevelName(level), "console")


def run(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run `fn` with a fresh runtime, closed afterwards: for engines and jobs that own their transactions."""

    async def main() -> T:
        runtime = build()
        try:
            return await fn(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


async def in_uow(runtime: Runtime, call: InUow[T]) -> T:
    """One core call in one unit of work: committed when it returns, rolled back (nothing written) when it raises."""
    async with transaction(runtime.db, runtime.queue) as uow:
        return await call(runtime, uow)


async def as_operator(runtime: Runtime, account_id: int, purpose: str, call: AsOperator[T]) -> T:
    """`in_uow`, with the operator's access to the venue obtained (and audited) in the same unit of work."""

    async def go(rt: Runtime, uow: UnitOfWork) -> T:
        access = await policy.operator_access(uow.session, rt.clock, account_id, purpose=purpose)
        return await call(rt, uow, access)

    return await in_uow(runtime, go)


def run_in_uow(call: InUow[T]) -> T:
    """`in_uow` in a fresh runtime: what a command that makes one core call uses."""
    return run(lambda rt: in_uow(rt, call))


def with_operator(ctx: click.Context, account_id: int, call: AsOperator[T]) -> T:
    """`as_operator` in a fresh runtime; the audit entry's purpose is the command line (`cheers connections list`)."""
    return run(lambda rt: as_operator(rt, account_id, ctx.command_path, call))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def to_json(value: Any) -> str:
    """JSON with datetimes as ISO 8601 and anything else unknown as its string."""
    return json.dumps(value, default=_default)


def emit(ctx: click.Context, data: dict[str, Any], text: str) -> None:
    """Print `data` as one JSON document under `--json`, else `text`."""
    if ctx.find_root().obj.get("json"):
        click.echo(to_json(data))
    else:
        click.echo(text)


def explain(exc: Exception) -> str:
    """A refusal in one line: what is wrong and, for a core error that has one, what to do about it."""
    if not isinstance(exc, DomainError):
        return str(exc)
    return f"{exc.message} — {exc.remedy}" if exc.remedy else exc.message
