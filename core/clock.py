"""Injectable clocks, so tests control time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

OFFSET_FILE_VAR = "CHEERS_CLOCK_OFFSET_FILE"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def offset(self) -> timedelta:
        """How far this clock runs ahead of real time (none: it is real time)."""
        return timedelta()


class OffsetClock(SystemClock):
    """The wall clock moved by the seconds written in a file that every process of a test run shares.

    The file is re-read whenever it changes, so a test moves running workers; missing or empty means 0.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    def offset(self) -> timedelta:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._offset = None, timedelta()
            return self._offset
        # Inode too: a test replaces the file atomically, and two writes can share an mtime tick.
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            text = self.path.read_text().strip()
            try:
                self._offset = timedelta(seconds=float(text)) if text else timedelta()
            except ValueError:
                raise ValueError(f"{self.path} ({OFFSET_FILE_VAR}) must hold seconds, not {text[:40]!r}") from None
            self._seen = seen
        return self._offset


_warned: set[str] = set()  # offset files already refused in this process: one warning each


def system_clock(cheers_env: str, environ: Mapping[str, str] | None = None) -> SystemClock:
    """The process's clock: an OffsetClock under CHEERS_ENV=test with CHEERS_CLOCK_OFFSET_FILE set, else real time."""
    path = (os.environ if environ is None else environ).get(OFFSET_FILE_VAR)
    if not path:
        return SystemClock()
    if cheers_env == "test":
        return OffsetClock(path)
    if path not in _warned:
        _warned.add(path)
        log.warning("clock_offset_ignored", reason=f"{OFFSET_FILE_VAR} is only honoured with CHEERS_ENV=test")
    return SystemClock()


class FrozenClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, at: datetime | None = None) -> None:
        self._now = at or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)
