"""`cheers connections import` and `backfill-metadata`, as subprocesses, with tokens the twins really issued."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from core.runtime import Runtime
from core.settings import Settings
from sandbox.google.twin import AccountSpec, LocationSpec, ScenarioSpec, UserSpec
from storage.queries import connections as connections_q
from tests import factories
from tests.connections.conftest import Twins
from tests.connections.support_lifecycle import (
    KITCHEN_PAGE,
    RED_LION_IG,
    RED_LION_LOCATION,
    RED_LION_PAGE,
    LegacyTokens,
    database_dump,
    jsonl,
    legacy_tokens,
    notes,
    row,
    run_cheers,
    secret,
    stdout_of,
)


async def exported(runtime: Runtime) -> LegacyTokens:
    async with httpx.AsyncClient() as network:
        return await legacy_tokens(runtime, network)


async def connections_by_provider(runtime: Runtime, venue: int) -> dict[str, list[int]]:
    async with runtime.db.session() as session:
        found = await connections_q.list_for_account(session, venue)
    by: dict[str, list[int]] = {}
    for c in found:
        by.setdefault(c.provider.value, []).append(c.id)
    return by


async def test_import_encrypts_good_rows_and_reports_bad_ones_by_line(
    runtime: Runtime, settings: Settings, twins: Twins, tmp_path: Path
) -> None:
    venue = await factories.venue(runtime)
    tokens = await exported(runtime)
    red_lion, kitchen = tokens.page_tokens[RED_LION_PAGE], tokens.page_tokens[KITCHEN_PAGE]
    export = tmp_path / "export.jsonl"
    export.write_text(
        jsonl(
            {"provider": "facebook", "access_token": red_lion, "user_token": tokens.facebook_user_token},
            {"provider": "facebook", "access_token": kitchen, "page_id": KITCHEN_PAGE, "name": "Kitchen"},
            '{"provider": "facebook", "access_token": ',
            {"provider": "myspace", "access_token": "EAAUnotreallyatoken"},
            "",
            {"provider": "instagram", "page_id": RED_LION_PAGE, "name": "Instagram"},
            {"provider": "google_business", "refresh_token": tokens.google_refresh_token, "external_id": "2001"},
            {"provider": "facebook", "access_token": red_lion, "account_id": 987654},
        )
    )

    result = await run_cheers(
        settings, twins, "connections", "import", str(export), "--account", str(venue), cwd=tmp_path
    )
    lines = stdout_of(result).splitlines()
    assert lines[0] == "imported 3, updated 0, skipped 4", lines
    problems = {int(line.split(":")[0].split()[1]): line.split(":", 1)[1].strip() for line in lines[1:]}
    assert sorted(problems) == [3, 4, 6, 8], f"bad rows are reported by their line in the file: {lines}"
    assert problems[3].startswith("not valid JSON"), problems[3]
    assert "provider must be one of facebook, instagram, google_business" in problems[4], problems[4]
    assert "a token is required" in problems[6], problems[6]
    assert problems[8] == "venue 987654 not found", problems[8]

    imported = await connections_by_provider(runtime, venue)
    assert {k: len(v) for k, v in imported.items()} == {"facebook": 2, "google_business": 1}, imported
    [kitchen_row] = [r for r in [await row(runtime, c) for c in imported["facebook"]] if r.page_id]
    assert (kitchen_row.external_id, kitchen_row.display_name) == (KITCHEN_PAGE, "Kitchen"), vars(kitchen_row)
    assert await secret(runtime, kitchen_row.id) == kitchen, "the token decrypts to what was exported"
    assert kitchen_row.access_token_hint and kitchen not in kitchen_row.access_token_hint, "only a masked hint shows"
    [google] = imported["google_business"]
    assert await secret(runtime, google, "refresh_token") == tokens.google_refresh_token

    dump = await database_dump(runtime)
    for raw in (red_lion, kitchen, tokens.facebook_user_token, tokens.google_refresh_token):
        assert raw not in dump, f"a raw token ({raw[:6]}…) is in the database"
        assert raw not in result.stdout + result.stderr, f"a raw token ({raw[:6]}…) was printed or logged"
    audited = await factories.audit_entries(runtime, "connection_imported")
    assert sorted(e.details["line"] for e in audited) == [1, 2, 7], [e.details for e in audited]


async def test_backfill_fills_missing_ids_from_the_providers_once(
    runtime: Runtime, settings: Settings, twins: Twins, tmp_path: Path
) -> None:
    venue = await factories.venue(runtime)
    tokens = await exported(runtime)
    red_lion = tokens.page_tokens[RED_LION_PAGE]
    export = tmp_path / "export.jsonl"
    export.write_text(
        jsonl(
            {"provider": "facebook", "access_token": red_lion, "user_token": tokens.facebook_user_token},
            {"provider": "instagram", "access_token": red_lion, "page_id": RED_LION_PAGE},
            {"provider": "google_business", "refresh_token": tokens.google_refresh_token, "external_id": "2001"},
            {"provider": "facebook", "access_token": tokens.page_tokens[KITCHEN_PAGE], "page_id": KITCHEN_PAGE},
        )
    )
    stdout_of(
        await run_cheers(settings, twins, "connections", "import", str(export), "--account", str(venue), cwd=tmp_path)
    )
    ids = await connections_by_provider(runtime, venue)
    [page] = [r.id for r in [await row(runtime, c) for c in ids["facebook"]] if r.page_id is None]
    [instagram], [location] = ids["instagram"], ids["google_business"]
    before = {cid: await row(runtime, cid) for cid in (page, instagram, location)}
    assert (before[page].external_id, before[instagram].external_id) == ("imported:1", "imported:2"), before
    meta_calls = len(await twins.meta.calls())
    google_calls = len((await twins.google.snapshot()).calls)

    dry = await run_cheers(settings, twins, "connections", "backfill-metadata", "--dry-run", cwd=tmp_path)
    table = stdout_of(dry).splitlines()
    assert table[0].split() == ["id", "provider", "outcome", "changes"], table
    rows = {int(line.split()[0]): line for line in table[1:-1]}
    assert set(rows) == {page, instagram, location}, f"only connections with missing ids are candidates: {table}"
    assert f"page_id: None → {RED_LION_PAGE}" in rows[page] and "would fill" in rows[page], rows[page]
    assert f"ig_business_id: None → {RED_LION_IG}" in rows[instagram], rows[instagram]
    assert f"location_name: None → {RED_LION_LOCATION}" in rows[location], rows[location]
    assert table[-1] == "summary: would fill 3", table[-1]
    assert len(await twins.meta.calls()) > meta_calls, "the dry run asks Facebook"
    assert len((await twins.google.snapshot()).calls) > google_calls, "and Google"
    for cid, old in before.items():
        now = await row(runtime, cid)
        assert (now.page_id, now.ig_business_id, now.location_name, now.external_id) == (
            old.page_id,
            old.ig_business_id,
            old.location_name,
            old.external_id,
        ), "a dry run changes nothing"
    assert await notes(runtime, "connection_metadata_updated") == []

    real = await run_cheers(settings, twins, "connections", "backfill-metadata", cwd=tmp_path)
    table = stdout_of(real).splitlines()
    assert table[-1] == "summary: filled 3", table
    assert "backfilling" in real.stderr, "a progress bar on stderr"
    printed = dry.stdout + dry.stderr + real.stdout + real.stderr
    assert red_lion not in printed and tokens.google_refresh_token not in printed, "no token in output or logs"
    filled = {cid: await row(runtime, cid) for cid in (page, instagram, location)}
    assert (filled[page].page_id, filled[page].external_id) == (RED_LION_PAGE, RED_LION_PAGE), vars(filled[page])
    assert (filled[instagram].ig_business_id, filled[instagram].external_id) == (RED_LION_IG, RED_LION_IG)
    assert filled[instagram].display_name == "@theredlion", "a placeholder name gives way to the real one"
    assert (filled[location].location_name, filled[location].external_id) == (RED_LION_LOCATION, RED_LION_LOCATION)
    assert filled[location].display_name == "The Red Lion", "the bare id it was imported under gives way too"
    for cid in (page, instagram, location):
        [note] = await notes(runtime, "connection_metadata_updated", connection_id=cid)
        assert note.account_id == venue and note.payload["source"] == "backfill", vars(note)
        assert note.payload["diff"], "the notification says what changed"
    assert await secret(runtime, page) == red_lion, "tokens are left as they were"

    again = json.loads(
        stdout_of(await run_cheers(settings, twins, "--json", "connections", "backfill-metadata", cwd=tmp_path))
    )
    assert (again["rows"], again["summary"]) == ([], {}), f"a second run has nothing left to fill: {again}"
    text = stdout_of(await run_cheers(settings, twins, "connections", "backfill-metadata", cwd=tmp_path))
    assert text.splitlines()[-1] == "summary: nothing to backfill", text
    assert len(await notes(runtime, "connection_metadata_updated")) == 3, "idempotent: no new notifications"
    for cid, old in filled.items():
        assert (await row(runtime, cid)).updated_at == old.updated_at, "and no row touched"


async def test_backfill_finds_the_only_location_and_reports_what_it_cannot_tell(
    runtime: Runtime, settings: Settings, twins: Twins, tmp_path: Path
) -> None:
    one_location = ScenarioSpec(
        users=[
            UserSpec(
                email="landlord@example.com",
                name="Landlord",
                accounts=[
                    AccountSpec(id="1000", account_name="Landlord", locations=[LocationSpec("2001", "The Red Lion")])
                ],
            )
        ]
    )
    await twins.google.set_scenario(one_location)
    venue = await factories.venue(runtime)
    tokens = await exported(runtime)
    export = tmp_path / "export.jsonl"
    export.write_text(
        jsonl(
            {"provider": "google_business", "refresh_token": tokens.google_refresh_token, "name": "Red Lion GBP"},
            # The old tool kept the user token where a Page token belongs: it reaches both Pages.
            {"provider": "facebook", "access_token": tokens.facebook_user_token, "name": "Some Page"},
        )
    )
    stdout_of(
        await run_cheers(settings, twins, "connections", "import", str(export), "--account", str(venue), cwd=tmp_path)
    )
    ids = await connections_by_provider(runtime, venue)
    [location], [page] = ids["google_business"], ids["facebook"]

    result = json.loads(
        stdout_of(await run_cheers(settings, twins, "--json", "connections", "backfill-metadata", cwd=tmp_path))
    )
    outcomes = {r["connection_id"]: r for r in result["rows"]}
    assert result["summary"] == {"failed": 1, "filled": 1}, json.dumps(result["rows"])
    assert outcomes[location]["changes"]["location_name"] == [None, RED_LION_LOCATION], outcomes[location]
    assert (await row(runtime, location)).location_name == RED_LION_LOCATION
    assert outcomes[page]["outcome"] == "failed" and "reaches 2 places" in outcomes[page]["error"], outcomes[page]
    assert (await row(runtime, page)).page_id is None, "nothing guessed"
    assert [n.subject["connection_id"] for n in await notes(runtime, "connection_metadata_updated")] == [location]
