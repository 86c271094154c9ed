"""The transaction convention (docs/architecture.md, "Transactions") as AST checks over the source.

Use-cases in core/ only flush; a core module may commit only if it is an engine or a job that owns its
transactions, listed here with the reason. Routes never commit: the `uow` dependency does, once.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Engines and jobs that own their transactions: path -> (functions allowed to commit, or None for the whole
# module, and why).
OWNERS: dict[str, tuple[frozenset[str] | None, str]] = {
    "core/publishing/engine.py": (
        None,
        "the attempt row commits before the provider call (a crash leaves evidence); the outcome in a second one",
    ),
    "core/publishing/reconcile.py": (None, "claims in-doubt deliveries, asks the provider with no transaction open"),
    "core/publishing/dispatcher.py": (None, "sweep and claim commit before the hand-off to a worker"),
    "core/publishing/watchdog.py": (None, "a job: its alerts commit with it"),
    "core/chat/delivery.py": (
        None,
        "the claim commits before the chat is called, the outcome after: no transaction open across a Slack call",
    ),
    "core/ops/alerts.py": (
        None,
        "ops fan-out commits before delivery; each ops message's claim before the chat call, its outcome after",
    ),
    "core/media/jobs.py": (None, "the claim commits before minutes of work off the event loop; the sweep wakes after"),
    "core/ops/jobs.py": (None, "run_job commits the run row before and after the job; the small jobs own one each"),
    "core/ops/watch.py": (
        frozenset({"evaluate"}),
        "the ops watch (a job, the scheduler, the worker loop): the rules read, then one commit reconciles incidents",
    ),
    "core/ops/digest.py": (frozenset({"make_digest"}), "the ops-digest job: the day's digest row in one commit"),
    "core/ops/taskstats.py": (
        frozenset({"flush"}),
        "the heartbeat loop's flush of task statistics: one short transaction per beat, never inside a task's",
    ),
    "core/weekly/materialise.py": (
        None,
        "a job: one transaction per slot and date (row first, then the post), so a crash halfway leaves each date "
        "made or not made, never half; withdrawals and the week's notification commit on their own",
    ),
    "core/weekly/connected.py": (
        frozenset({"after_connecting"}),
        "the task woken by a new connection: the slots adopt it and commit before materialise runs its own",
    ),
    "core/connections/expiry.py": (
        frozenset({"watch"}),
        "a job committing per batch: an interrupted sweep keeps its work",
    ),
    "core/email/outbox.py": (
        frozenset({"deliver_due", "_record"}),
        "the claim commits before Resend is called, each outcome after: no transaction open across an HTTP call",
    ),
    "core/connections/keys.py": (frozenset({"rotate_keys"}), "committed batches: an interrupted rotation resumes"),
    "core/connections/imports.py": (
        frozenset({"import_lines", "backfill"}),
        "batch jobs, one transaction per row or connection: bad rows skipped, progress kept",
    ),
    "core/connections/lifecycle.py": (
        frozenset({"diagnose_many"}),
        "the operator's batch diagnosis: each connection's findings are kept even if a later one fails",
    ),
}

# `session.begin()` commits when its block ends, so it counts as a commit too.
COMMITTING = {"commit", "begin"}


def _commits(path: Path) -> list[tuple[int, str]]:
    """(line, enclosing top-level function or '<module>') of every `x.commit()` / `x.begin()` call in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for top in tree.body:
        owner = top.name if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else "<module>"
        for node in ast.walk(top):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in COMMITTING:
                found.append((node.lineno, owner))
    return sorted(found)


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_core_commits_only_in_the_engines_and_jobs_that_own_their_transactions() -> None:
    stray = []
    for path in _sources("core"):
        rel = path.relative_to(ROOT).as_posix()
        allowed, _why = OWNERS.get(rel, (frozenset(), ""))
        for line, owner in _commits(path):
            if allowed is not None and owner not in allowed:
                stray.append(f"{rel}:{line} commits in {owner}()")
    assert not stray, (
        "core use-cases only flush; the boundary (route dependency, CLI helper, task, job) commits. Move these "
        "commits to the caller, or, for an engine or job that must own its transactions, add it to OWNERS with "
        "the reason:\n" + "\n".join(stray)
    )


def test_every_listed_owner_still_commits_where_it_says() -> None:
    stale = []
    for rel, (allowed, _why) in OWNERS.items():
        path = ROOT / rel
        owners = {owner for _, owner in _commits(path)} if path.exists() else set()
        if not owners or (allowed is not None and not allowed <= owners):
            stale.append(
                f"{rel}: listed for {sorted(allowed) if allowed else 'the module'}, commits in {sorted(owners)}"
            )
    assert not stale, "OWNERS lists transactions that are no longer there; remove them:\n" + "\n".join(stale)


def test_routes_never_commit_the_uow_dependency_does() -> None:
    stray = [
        f"{path.relative_to(ROOT).as_posix()}:{line} commits in {owner}()"
        for path in _sources("api/routes")
        for line, owner in _commits(path)
    ]
    assert not stray, (
        "a route's transaction commits in one place, api.deps.provide_uow (after the handler returns); "
        "enqueue with uow.after_commit instead of committing here:\n" + "\n".join(stray)
    )
