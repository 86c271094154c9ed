"""A venue ("The Red Lion") with a Facebook connection answered by an in-memory publisher, and a chat to talk in."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.runtime import Runtime
from providers.base import Diagnosis, Finding, StoredCredentials
from storage.models import Provider
from tests import factories
from tests.publishing.conftest import drain, settings  # noqa: F401 - the engine's fixtures: no pacing, one tick
from tests.publishing.fakes import ScriptedPublisher


@dataclass
class DiagnosingPublisher(ScriptedPublisher):
    """The scripted publisher that also answers diagnose with `findings` (healthy by default)."""

    findings: tuple[Finding, ...] = field(default=(Finding("token_valid", True, "The access token is valid."),))
    diagnosed: int = 0
    provider: Provider = Provider.facebook  # what a consent link is started for (the venue's Facebook Page)
    uses_pkce: bool = False

    async def diagnose(self, credentials: StoredCredentials) -> Diagnosis:
        self.diagnosed += 1
        return Diagnosis(findings=self.findings)


@dataclass
class Pub:
    id: int
    connection_id: int
    publisher: DiagnosingPublisher


@pytest.fixture
async def pub(runtime: Runtime) -> Pub:
    venue_id = await factories.venue(runtime, name="The Red Lion")
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token-1")
    publisher = DiagnosingPublisher()
    runtime.use_providers({p: publisher for p in Provider})  # type: ignore[misc]
    return Pub(venue_id, connection_id, publisher)
