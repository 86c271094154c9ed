"""A runtime whose e-mail settings point at the Resend twin (the real ResendClient over loopback HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from tests.conftest import make_settings
from tests.sandbox_resend.conftest import ResendTwin, resend  # noqa: F401 - the twin fixture


@asynccontextmanager
async def runtime_with(database_url: str, tmp_path: Path, clock: FrozenClock, **settings: Any) -> AsyncIterator[
    Runtime
]:  # fmt: skip
    """A runtime with these settings on top of the test defaults (closed at the end)."""
    rt = build_runtime(make_settings(database_url, tmp_path, **settings), clock=clock)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def mail_runtime(
    database_url: str,
    tmp_path: Path,
    clock: FrozenClock,
    resend: ResendTwin,  # noqa: F811 - the fixture
) -> AsyncIterator[Runtime]:
    """The app's runtime sending to the twin, with a short timeout so a held answer is a lost one quickly."""
    async with runtime_with(database_url, tmp_path, clock, **resend.settings(cheers_email_timeout_seconds=0.5)) as rt:
        yield rt


@pytest.fixture
async def keyless_runtime(
    database_url: str,
    tmp_path: Path,
    clock: FrozenClock,
    resend: ResendTwin,  # noqa: F811 - the fixture
) -> AsyncIterator[Runtime]:
    """The runtime with the twin's URL but no API key: nothing may be sent."""
    async with runtime_with(
        database_url, tmp_path, clock, cheers_resend_api_url=resend.url, cheers_resend_api_key=""
    ) as rt:
        yield rt
