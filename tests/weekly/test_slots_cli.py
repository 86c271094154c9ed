"""`cheers weekly …` run for real in a subprocess: the operator adds, lists, edits, pauses, resumes and deletes a
venue's slots, each change audited as staff access, and a refusal is one line naming the placeholder or the slot."""

from __future__ import annotations

from pathlib import Path

from core.runtime import Runtime
from core.settings import Settings
from tests import factories
from tests.test_cli import acheers, as_json, refused, succeeded


async def test_the_operator_keeps_a_venues_weekly_plan_from_the_shell(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    venue_id = await factories.venue(runtime, name="The Red Lion")
    facebook = await factories.connection(runtime, venue_id, access_token="t")
    added = as_json(
        await acheers(
            settings, "--json", "weekly", "add", "--account", str(venue_id), "--name", "Quiz night",
            "--weekday", "tue", "--time", "20:00", "--text", "Quiz night tonight, {date:%A %d %B}, from 8pm",
            "--connection", str(facebook), "--caption", "facebook=Quiz on {date}!", cwd=tmp_path,
        )
    )  # fmt: skip
    slot = added["slot"]
    assert (slot["weekday_name"], slot["local_time"], slot["version"]) == ("Tuesday", "20:00", 1), added
    assert slot["captions"] == {"facebook": "Quiz on {date}!"}, added
    assert slot["next_local"] == "Tue 1 Dec 20:00 GMT", added
    slot_id = slot["slot_id"]

    listing = succeeded(await acheers(settings, "weekly", "list", "--account", str(venue_id), cwd=tmp_path))
    assert f"Quiz night (slot {slot_id}): Tuesday 20:00 on Facebook " in listing, listing
    assert "next Tue 1 Dec 20:00 GMT" in listing, listing

    edited = as_json(
        await acheers(
            settings, "--json", "weekly", "edit", str(slot_id), "--time", "19:30", "--until", "2027-03-31",
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert sorted(edited["changed"]) == ["active_until", "local_time"] and edited["slot"]["version"] == 2, edited
    assert edited["slot"]["captions"] == {"facebook": "Quiz on {date}!"}, "an option not given keeps its value"

    paused = succeeded(await acheers(settings, "weekly", "pause", str(slot_id), cwd=tmp_path))
    assert paused.startswith("Paused Quiz night"), paused
    assert "; paused" in succeeded(await acheers(settings, "weekly", "list", "--account", str(venue_id), cwd=tmp_path))
    resumed = succeeded(await acheers(settings, "weekly", "resume", str(slot_id), cwd=tmp_path))
    assert "Next: Tue 1 Dec 19:30 GMT" in resumed, resumed
    deleted = succeeded(await acheers(settings, "weekly", "delete", str(slot_id), cwd=tmp_path))
    assert deleted.startswith("Deleted Quiz night"), deleted
    assert succeeded(await acheers(settings, "weekly", "list", "--account", str(venue_id), cwd=tmp_path)) == (
        "no weekly slots\n"
    )
    line = refused(await acheers(settings, "weekly", "pause", str(slot_id), cwd=tmp_path))
    assert f"weekly slot {slot_id} not found" in line, line

    actions = [e.action for e in await factories.audit_entries(runtime, "staff_access")]
    assert len(actions) >= 7, "every command's access is on the record as the operator's"
    for action in ("created", "updated", "paused", "resumed", "deleted"):
        entries = await factories.audit_entries(runtime, f"weekly_slot_{action}")
        assert len(entries) == 1 and entries[0].staff_override, (action, entries)


async def test_a_refused_template_is_one_line_naming_the_placeholder(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    venue_id = await factories.venue(runtime)
    facebook = await factories.connection(runtime, venue_id, access_token="t")
    line = refused(
        await acheers(
            settings, "weekly", "add", "--account", str(venue_id), "--name", "Quiz", "--weekday", "2",
            "--time", "20:00", "--text", "Quiz {date.__class__}", "--connection", str(facebook), cwd=tmp_path,
        )
    )  # fmt: skip
    assert "{date.__class__}" in line and "{date:%A %d %B}" in line, line
    line = refused(
        await acheers(
            settings, "weekly", "add", "--account", str(venue_id), "--name", "Quiz", "--weekday", "someday",
            "--time", "20:00", "--text", "Quiz", "--connection", str(facebook), cwd=tmp_path,
        )
    )  # fmt: skip
    assert "'someday' is not a weekday" in line, line
