"""An in-memory publisher implementing the adapter Protocol, for fast tests of core state transitions.

Only core's state machine is under test with it; the adapters themselves are tested over HTTP against the
sandbox twins (tests/providers) and end to end in tests/publishing/test_twins_*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.base import StoredCredentials
from providers.publishing import Published, PublishRequest, Recorder, StepOutcome

Step = StepOutcome | BaseException


@dataclass
class ScriptedPublisher:
    """Answers each publish call with the next scripted step (default: published); records every call."""

    script: list[Step] = field(default_factory=list)
    calls: list[tuple[PublishRequest, dict[str, Any]]] = field(default_factory=list)
    send_before_answer: bool = True  # record an exchange as if the request went out

    async def publish(
        self, credentials: StoredCredentials, request: PublishRequest, stage: Mapping[str, Any], recorder: Recorder
    ) -> StepOutcome:
        self.calls.append((request, dict(stage)))
        if self.send_before_answer:
            recorder.record(
                step="publish", method="POST", url="https://fake.invalid/publish", request={"text": request.text}
            )
        step = (
            self.script.pop(0)
            if self.script
            else Published(f"post-{len(self.calls)}", f"https://fake.invalid/p/{len(self.calls)}")
        )
        if isinstance(step, BaseException):
            raise step
        return step

    async def refresh(self, credentials: StoredCredentials) -> Any:
        raise AssertionError("the fake publisher is not asked to refresh tokens")
