"""`cheers incidents list|show|silence`, run for real against the test's database (as tests/test_cli.py runs
`cheers`): the operator reads the service's incidents and silences one, on the audit record."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from core.clock import FrozenClock
from core.runtime import Runtime
from core.settings import Settings
from tests import factories
from tests.api.ops_support import open_incident, resolve_all
from tests.test_cli import acheers, as_json, refused, succeeded, usage_error

# The command's clock is the test's plus the real seconds since it last moved (tests/factories.SharedFrozenClock).
SUBPROCESS_SLACK = timedelta(minutes=5)


async def test_list_shows_open_incidents_and_with_all_the_resolved_ones_too(
    settings: Settings, runtime: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    assert succeeded(await acheers(settings, "incidents", "list", cwd=tmp_path)).startswith("no open incidents")
    old = await open_incident(runtime, "housekeeping")
    clock.advance(minutes=72)
    await resolve_all(runtime)
    new = await open_incident(runtime, "media-derivatives-sweep")

    out = succeeded(await acheers(settings, "incidents", "list", cwd=tmp_path))
    [line] = out.splitlines()
    assert line.startswith(f"#{new} ") and "open" in line and "job_failing" in line, line
    assert "Job media-derivatives-sweep is failing" in line, line

    listed = as_json(await acheers(settings, "--json", "incidents", "list", "--all", cwd=tmp_path))
    assert [i["id"] for i in listed["incidents"]] == [new, old], f"newest first, resolved too: {listed}"
    resolved = listed["incidents"][1]
    assert resolved["status"] == "resolved" and resolved["lasted"] == "1 h 12 min", resolved
    assert resolved["runbook"].endswith("/ops/runbook#incident-job-failing"), resolved["runbook"]


async def test_show_prints_one_incident_and_refuses_an_unknown_id(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    incident = await open_incident(runtime, "housekeeping")

    out = succeeded(await acheers(settings, "incidents", "show", str(incident), cwd=tmp_path))
    assert out.startswith(f"#{incident} Job housekeeping is failing"), out
    for expected in ("rule job_failing", "3 runs failed in a row", "job: housekeeping", "failures: 3", "runbook: "):
        assert expected in out, f"`incidents show` should say {expected!r}:\n{out}"
    shown = as_json(await acheers(settings, "--json", "incidents", "show", str(incident), cwd=tmp_path))
    assert shown["id"] == incident and shown["facts"]["last_error"] == "RuntimeError: boom", shown

    line = refused(await acheers(settings, "incidents", "show", "424242", cwd=tmp_path))
    assert line == "cheers: no incident 424242 — `cheers incidents list` shows the open ones", line


async def test_silence_for_a_while_is_audited_as_the_operator(
    settings: Settings, runtime: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    incident = await open_incident(runtime, "housekeeping")

    silenced = as_json(
        await acheers(settings, "--json", "incidents", "silence", str(incident), "--for", "30m", cwd=tmp_path)
    )
    until = datetime.fromisoformat(silenced["silenced_until"])
    wanted = clock.now() + timedelta(minutes=30)
    assert wanted <= until <= wanted + SUBPROCESS_SLACK, f"silenced until {until}, wanted 30 min from {clock.now()}"
    assert silenced["silenced"] is True and silenced["version"] == 2, silenced
    [entry] = await factories.audit_entries(runtime, "incident_silenced")
    assert entry.channel.value == "cli" and entry.actor_user_id is None, vars(entry)
    assert entry.subject_id == str(incident) and entry.details["minutes"] == 30, entry.details

    out = succeeded(await acheers(settings, "incidents", "silence", str(incident), cwd=tmp_path))
    assert out.startswith(f"#{incident} silenced until "), out
    entries = await factories.audit_entries(runtime, "incident_silenced")
    assert [e.details["minutes"] for e in entries] == [30, 60], "without --for: CHEERS_OPS_SILENCE_MINUTES (60)"
    again = as_json(
        await acheers(settings, "--json", "incidents", "silence", str(incident), "--for", "2h", cwd=tmp_path)
    )
    assert datetime.fromisoformat(again["silenced_until"]) >= clock.now() + timedelta(hours=2), again


async def test_silence_refuses_what_it_cannot_do_in_one_line(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    incident = await open_incident(runtime, "housekeeping")

    line = usage_error(await acheers(settings, "incidents", "silence", str(incident), "--for", "soon", cwd=tmp_path))
    assert "'soon' is not a duration; try 1h, 30m or 2h" in line, line
    line = refused(await acheers(settings, "incidents", "silence", str(incident), "--for", "8w", cwd=tmp_path))
    assert "cannot silence for 80640 minutes" in line, line
    await resolve_all(runtime)
    line = refused(await acheers(settings, "incidents", "silence", str(incident), cwd=tmp_path))
    assert f"incident {incident} is already resolved" in line, line
    assert await factories.audit_entries(runtime, "incident_silenced") == [], "nothing refused is on the record"
