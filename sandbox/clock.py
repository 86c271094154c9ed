"""The twins' clock: a base clock (real time, or the test's own) plus an offset tests move through the control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class _Base(Protocol):
    def now(self) -> datetime: ...


class TwinClock:
    """The twin's time: `base.now()` (real time without one) plus its own offset.

    A test that injects a clock into its runtime passes the same clock here, so the app, its adapters and the
    twins share one time and a moved test clock moves the twins too; `advance` puts the twin further ahead.
    """

    def __init__(self, base: _Base | None = None) -> None:
        self.base = base
        self.offset = timedelta()

    def now(self) -> datetime:
        return (self.base.now() if self.base is not None else datetime.now(UTC)) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta()
