"""Task run statistics kept in memory per (task, minute) and flushed to `task_stats` in one short transaction."""

from __future__ import annotations

from datetime import datetime

import structlog

from core.runtime import Runtime
from storage.queries import task_stats as task_stats_q
from storage.queries.task_stats import StatRow

log = structlog.get_logger(__name__)

ERROR_TEXT_LIMIT = 500


def error_text(exc: BaseException) -> str:
    """The error as "TypeName: message", cut to what task_stats.last_error keeps."""
    return f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]


class TaskStatsBuffer:
    """Counts since the last flush. A crash loses at most what it holds (one heartbeat interval): see decisions."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, datetime], StatRow] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def record(self, task_name: str, at: datetime, duration_ms: float, error: str | None = None) -> None:
        """Count one run of `task_name` that ended at `at` (failed when `error` is given)."""
        bucket = at.replace(second=0, microsecond=0)
        row = self._rows.get((task_name, bucket))
        if row is None:
            row = self._rows[(task_name, bucket)] = StatRow(task_name=task_name, bucket=bucket)
        row.runs += 1
        row.total_ms += duration_ms
        row.max_ms = max(row.max_ms, duration_ms)
        if error is not None:
            row.failures += 1
            row.last_error, row.last_error_at = error, at

    def merge(self, rows: list[StatRow]) -> None:
        """Put rows a failed flush took back, adding them to what arrived meanwhile."""
        for row in rows:
            mine = self._rows.get((row.task_name, row.bucket))
            if mine is None:
                self._rows[(row.task_name, row.bucket)] = row
                continue
            mine.runs += row.runs
            mine.failures += row.failures
            mine.total_ms += row.total_ms
            mine.max_ms = max(mine.max_ms, row.max_ms)
            if mine.last_error is None:
                mine.last_error, mine.last_error_at = row.last_error, row.last_error_at

    def take(self) -> list[StatRow]:
        rows, self._rows = list(self._rows.values()), {}
        return rows


async def flush(runtime: Runtime, buffer: TaskStatsBuffer, instance: str) -> int:
    """Write what `buffer` holds (one transaction); on failure keep it for the next flush. Returns rows written."""
    # A boundary of its own (called by the worker's heartbeat loop and at shutdown): it commits.
    rows = buffer.take()
    if not rows:
        return 0
    try:
        async with runtime.uow() as uow:
            for row in sorted(rows, key=lambda r: (r.task_name, r.bucket)):  # one lock order across processes
                await task_stats_q.add(uow.session, instance, row)
            await uow.commit()
    except Exception as exc:  # noqa: BLE001 - the counts wait for the next beat rather than vanish
        buffer.merge(rows)
        log.warning("task_stats_flush_failed", rows=len(rows), error=exc.__class__.__name__)
        return 0
    return len(rows)
