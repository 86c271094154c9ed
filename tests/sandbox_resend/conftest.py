"""The Resend twin on loopback, on the test's clock.

Fixtures other suites may use (import them: `from tests.sandbox_resend.conftest import ResendTwin, resend  # noqa:
F401 - the twin fixture`):

- `resend` → `ResendTwin`: `.url`, `.control` (ResendTwinControl: emails, requests, fail_next, lose_answer, hang,
  rate_limit, refuse …), `.state` (ResendTwinState), `.api_key` (DEV_API_KEY), `.settings()` (the CHEERS_RESEND_*
  settings pointing at the twin).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from core.clock import FrozenClock
from sandbox.clock import TwinClock
from sandbox.resend.control import ResendTwinControl
from sandbox.resend.state import DEV_API_KEY, ResendTwinState
from sandbox.resend.twin import running_resend_twin


@dataclass
class ResendTwin:
    url: str
    control: ResendTwinControl
    state: ResendTwinState
    api_key: str = DEV_API_KEY

    def settings(self, **more: object) -> dict[str, object]:
        """The app's e-mail settings pointed at this twin."""
        return {"cheers_resend_api_url": self.url, "cheers_resend_api_key": self.api_key, **more}


@pytest.fixture
async def resend(clock: FrozenClock) -> AsyncIterator[ResendTwin]:
    """The twin on the test's clock (its Idempotency-Key window follows it)."""
    async with running_resend_twin(clock=TwinClock(clock)) as (url, control, state):
        yield ResendTwin(url, control, state)
