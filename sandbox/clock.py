"""The twins' clock: real time plus an offset that tests move through the control interface."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class TwinClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta()
