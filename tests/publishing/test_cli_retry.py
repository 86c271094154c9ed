"""`cheers retry` and `cheers posts list` for on-call, run as real subprocesses."""

from __future__ import annotations

from pathlib import Path

from core.clock import FrozenClock
from core.runtime import Runtime
from providers.errors import Permanent
from storage.models import DeliveryStatus
from tests.publishing.conftest import Drain, Venue
from tests.publishing.support import deliveries, schedule
from tests.test_cli import acheers, as_json


async def test_cheers_retry_requeues_a_failed_delivery_once_and_refuses_a_live_one(
    runtime: Runtime, venue: Venue, drain: Drain, tmp_path: Path, clock: FrozenClock
) -> None:
    venue.publisher.script = [Permanent("Facebook refused the request.")]
    saved = await schedule(runtime, venue.id, [venue.connection_id])
    await drain()
    [target] = await deliveries(runtime, saved.post.id)
    listed = as_json(
        await acheers(runtime.settings, "posts", "list", "--account", str(venue.id), "--json", cwd=tmp_path)
    )
    assert listed["posts"][0]["deliveries"][0]["status"] == "failed", listed
    first = as_json(await acheers(runtime.settings, "retry", str(target.id), "--json", cwd=tmp_path))
    again = as_json(await acheers(runtime.settings, "retry", str(target.id), "--json", cwd=tmp_path))
    assert (first["changed"], again["changed"]) == (True, False), (first, again)
    # The subprocess retried "now" on the test's clock plus the real seconds it took to start: catch up with it.
    clock.advance(minutes=5)
    await drain()
    assert (await deliveries(runtime, saved.post.id))[0].status is DeliveryStatus.published
    refused = await acheers(runtime.settings, "retry", str(target.id), cwd=tmp_path)
    assert refused.returncode == 1 and "already live" in refused.stderr, (
        f"a live delivery is an answer (exit 1), not a usage error: {refused.returncode} {refused.stderr}"
    )
    missing = await acheers(runtime.settings, "retry", "999999", cwd=tmp_path)
    assert missing.returncode == 1 and "not found" in missing.stderr, (missing.returncode, missing.stderr)
