"""The `cheers` console script, run for real in a subprocess against the test's database."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select

from core.access import accounts
from core.ops.jobs import JOBS, run_job
from core.runtime import Runtime
from core.settings import Settings
from storage import migrate
from storage.crypto import SecretKeyError, TokenCipher, generate_key
from storage.models import Account, Connection, Provider, Role
from storage.secrets import seal, unseal
from tests import factories
from tests.conftest import make_settings
from tests.factories import audit_entries, job_runs, process_env

CHEERS = Path(sys.executable).with_name("cheers")
COMMAND = [str(CHEERS)] if CHEERS.exists() else [sys.executable, "-m", "api.cli"]
HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def cheers(settings: Settings, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `cheers ARGS` with `settings`' database and secrets (plus `env`), from `cwd`."""
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=process_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def acheers(settings: Settings, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`cheers` from an async test, off the event loop."""
    return await asyncio.to_thread(cheers, settings, *args, cwd=cwd, **env)


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout, after checking it exited 0."""
    assert result.returncode == 0, f"`{' '.join(map(str, result.args[1:]))}` failed: {result.stderr}"
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    out = succeeded(result)
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        raise AssertionError(f"--json output should be exactly one JSON document, got:\n{out}") from None


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a command with bad arguments, after checking it exited 2 and printed nothing else."""
    return _one_line(result, 2)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a command the core refused, after checking it exited 1 and printed nothing else."""
    return _one_line(result, 1)


def _one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"expected exit code {code}, got {result.returncode}: {result.stderr}"
    assert result.stdout == "", f"a refused command prints nothing on stdout: {result.stdout!r}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"a refused command explains itself in exactly one stderr line: {result.stderr!r}"
    assert lines[0].startswith("cheers: "), lines[0]
    return lines[0]


# --- migrate ---


def test_migrate_brings_a_fresh_database_to_head_and_prints_the_revision(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    settings = make_settings(f"sqlite:///{db}", tmp_path)
    out = succeeded(cheers(settings, "migrate", cwd=tmp_path, DATABASE_URL=f"sqlite:///{db}"))  # the plain form
    assert out.strip() == f"database at revision {HEAD}", out
    assert db.exists(), "the database file should be created"
    assert asyncio.run(migrate.drift(settings.database)) == [], "the migrated schema should match the models"

    again = as_json(cheers(settings, "--json", "migrate", cwd=tmp_path))
    assert again == {"revision": HEAD}, f"migrating again is a no-op that reports the revision: {again}"
    assert succeeded(cheers(settings, "migrate", "--check", cwd=tmp_path)).strip() == "no drift"


def test_migrate_downgrades_to_base_on_request(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    succeeded(cheers(settings, "migrate", cwd=tmp_path))
    down = as_json(cheers(settings, "--json", "migrate", "--downgrade", "--revision", "base", cwd=tmp_path))
    assert down == {"revision": None}, f"after downgrading to base no revision is applied: {down}"


# --- setting up a venue from the shell ---


async def test_accounts_create_prints_the_new_venue_as_json(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    created = as_json(
        await acheers(
            settings, "--json", "accounts", "create", "--name", "The Crown", "--timezone", "Europe/London", cwd=tmp_path
        )
    )
    assert set(created) == {"id", "name", "timezone"}, created
    assert (created["name"], created["timezone"]) == ("The Crown", "Europe/London"), created
    async with runtime.db.session() as session:
        account = await session.get(Account, created["id"])
    assert account is not None and account.name == "The Crown", f"venue {created['id']} should be in the database"


async def test_json_flag_works_after_the_subcommand_too(settings: Settings, tmp_path: Path) -> None:
    created = as_json(
        await acheers(
            settings, "accounts", "create", "--name", "The Crown", "--timezone", "Europe/London", "--json", cwd=tmp_path
        )
    )
    assert created["name"] == "The Crown", created


async def test_accounts_create_without_json_prints_a_sentence(settings: Settings, tmp_path: Path) -> None:
    out = succeeded(
        await acheers(settings, "accounts", "create", "--name", "The Swan", "--timezone", "Europe/Dublin", cwd=tmp_path)
    )
    assert out.startswith("created venue ") and out.rstrip().endswith(": The Swan (Europe/Dublin)"), out


async def test_users_create_adds_a_person_with_a_role_in_the_venue(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    venue = await factories.venue(runtime)
    created = as_json(
        await acheers(
            settings,
            "--json",
            "users",
            "create",
            "--account",
            str(venue),
            "--name",
            "Sam",
            "--role",
            "editor",
            cwd=tmp_path,
        )
    )
    assert (created["name"], created["account"], created["role"], created["staff"]) == ("Sam", venue, "editor", False)
    async with runtime.db.session() as session:
        venues = await accounts.venues_of(session, created["id"])
    assert [(v.account_id, v.role) for v in venues] == [(venue, Role.editor)], (
        f"Sam should edit venue {venue}: {venues}"
    )
    [entry] = await audit_entries(runtime, "member_added")
    assert (entry.account_id, entry.channel.value, entry.details.get("role")) == (venue, "cli", "editor"), vars(entry)


async def test_users_create_in_an_unknown_venue_is_refused(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    result = await acheers(
        settings, "users", "create", "--account", "4242", "--name", "Sam", "--role", "viewer", cwd=tmp_path
    )
    assert refused(result) == "cheers: venue 4242 not found"
    assert await audit_entries(runtime, "user_created") == [], "nobody is created for a venue that does not exist"


async def test_tokens_create_prints_a_token_that_authenticates_against_the_api(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    who = await factories.person(runtime, venue_id=venue, role=Role.editor, name="Sam")
    token = succeeded(await acheers(settings, "tokens", "create", "--user", str(who.user_id), cwd=tmp_path)).strip()
    assert token.startswith("cheers_pat_") and "\n" not in token, f"the token alone is printed: {token!r}"

    r = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, f"the printed token should authenticate: {r.status_code} {r.text}"
    me = r.json()
    assert me["user_id"] == who.user_id, me
    assert [(v["account_id"], v["role"]) for v in me["venues"]] == [(venue, "editor")], me["venues"]


async def test_login_link_prints_a_url_that_logs_the_person_in(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    who = await factories.person(runtime)
    lines = succeeded(await acheers(settings, "login-link", "--user", str(who.user_id), cwd=tmp_path)).splitlines()
    url = lines[0]
    assert url.startswith(f"{settings.cheers_public_url}/auth/login/"), f"a login URL on the public origin: {url}"
    assert "30 minutes" in lines[1], lines

    r = await client.post(urlsplit(url).path, headers={"Accept": "application/json"})
    assert r.status_code == 200, f"the link should log the person in: {r.status_code} {r.text}"
    assert r.json()["user_id"] == who.user_id

    issued = as_json(await acheers(settings, "--json", "login-link", "--user", str(who.user_id), cwd=tmp_path))
    assert issued["url"] != url and issued["expires_in_minutes"] == 30, issued


# --- jobs and keys ---


async def test_jobs_list_shows_every_periodic_job_and_its_last_run(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    out = succeeded(await acheers(settings, "jobs", "list", cwd=tmp_path))
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert set(rows) == set(JOBS), out
    assert all("never run" in line for line in rows.values()), out

    await run_job(runtime, "housekeeping", trigger="cron")
    listed = as_json(await acheers(settings, "--json", "jobs", "list", cwd=tmp_path))
    by_name = {job["name"]: job for job in listed["jobs"]}
    assert by_name["housekeeping"]["cron"] == "41 * * * *", by_name["housekeeping"]
    assert by_name["housekeeping"]["last_run"]["status"] == "succeeded", by_name["housekeeping"]
    assert by_name["heartbeat"]["last_run"] is None, by_name["heartbeat"]


async def test_jobs_run_runs_the_job_now_recorded_as_manual_and_audited(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    result = await acheers(settings, "--json", "jobs", "run", "housekeeping", "--verbose", cwd=tmp_path)
    out = as_json(result)
    assert out == {"job": "housekeeping", "result": {"expired_credentials_removed": 0, "job_runs_removed": 0}}, out
    assert "job_finished" in result.stderr, "under --verbose the job's log events go to stderr, never into --json"

    [run] = await job_runs(runtime, "housekeeping")
    assert (run.status, run.trigger, run.actor_user_id) == ("succeeded", "manual", None), vars(run)
    [entry] = await audit_entries(runtime, "job_run")
    assert (entry.subject_type, entry.subject_id, entry.channel.value) == ("job", "housekeeping", "cli"), vars(entry)


def _json_lines(text: str) -> list[str]:
    """The lines of `text` that are JSON objects (what a JSON log event looks like)."""
    found = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            found.append(line)
    return found


async def test_commands_log_quietly_in_console_form_unless_verbose(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    quiet = await acheers(settings, "jobs", "run", "housekeeping", cwd=tmp_path, CHEERS_LOG_FORMAT="json")
    assert "housekeeping" in succeeded(quiet), quiet.stdout
    assert _json_lines(quiet.stderr) == [], f"JSON log lines in the middle of a command's output:\n{quiet.stderr}"
    assert "job_finished" not in quiet.stderr, f"info events are logged without --verbose:\n{quiet.stderr}"

    loud = await acheers(settings, "--verbose", "jobs", "run", "housekeeping", cwd=tmp_path, CHEERS_LOG_FORMAT="json")
    succeeded(loud)
    finished = [line for line in loud.stderr.splitlines() if "job_finished" in line]
    assert finished and "[info" in finished[0], f"--verbose should log info events as console lines:\n{loud.stderr}"
    assert _json_lines(loud.stderr) == [], f"the CLI logs in console form, not JSON:\n{loud.stderr}"


async def test_keys_rotate_reencrypts_stored_secrets_under_the_newest_key(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    venue = await factories.venue(runtime)
    async with runtime.uow() as uow:
        row = Connection(account_id=venue, provider=Provider.facebook, external_id="page-1", display_name="Page")
        seal(row, "access_token", "EAAsecretaccesstoken", runtime.cipher())
        uow.session.add(row)
        await uow.commit()
        connection_id = row.id

    old = settings.cheers_token_keys
    new = generate_key("new")
    out = as_json(await acheers(settings, "--json", "keys", "rotate", cwd=tmp_path, CHEERS_TOKEN_KEYS=f"{new},{old}"))
    assert {k: v for k, v in out["reencrypted"].items() if v} == {"connections.access_token": 1}, out

    async with runtime.db.session() as session:
        stored = (await session.execute(select(Connection).where(Connection.id == connection_id))).scalar_one()
    assert unseal(stored, "access_token", TokenCipher([new])) == "EAAsecretaccesstoken", "readable with the new key"
    with pytest.raises(SecretKeyError):
        unseal(stored, "access_token", TokenCipher([old]))  # the old key can be retired now
    [entry] = await audit_entries(runtime, "keys_rotated")
    assert entry.details["reencrypted"] == out["reencrypted"], entry.details


# --- bad arguments: one line on stderr, exit code 2; refusals: one line, exit code 1 ---


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(["frobnicate"], "No such command 'frobnicate'", id="unknown command"),
        pytest.param(["accounts", "create", "--timezone", "Europe/London"], "--name", id="missing --name"),
        pytest.param(["jobs", "run", "nope"], "known jobs: " + ", ".join(sorted(JOBS)), id="unknown job"),
        pytest.param(
            ["users", "create", "--account", "1", "--name", "N"], "--role is required", id="--account without --role"
        ),
    ],
)
def test_bad_arguments_are_one_line_on_stderr_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'untouched.db'}", tmp_path)
    line = usage_error(cheers(settings, *args, cwd=tmp_path))
    assert says in line, f"the error should say what is wrong ({says!r}): {line}"


async def test_a_bad_timezone_is_refused_by_the_core_rules(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    result = await acheers(
        settings, "accounts", "create", "--name", "X", "--timezone", "Mars/Olympus_Mons", cwd=tmp_path
    )
    line = refused(result)
    assert "'Mars/Olympus_Mons' is not a known IANA timezone" in line, line
    async with runtime.db.session() as session:
        assert (await session.execute(select(Account))).first() is None, "no venue should be created"


async def test_tokens_create_for_an_unknown_person_is_refused(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    line = refused(await acheers(settings, "tokens", "create", "--user", "987654", cwd=tmp_path))
    assert line == "cheers: person 987654 not found", line


def test_production_on_development_settings_is_refused(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}", tmp_path)
    line = refused(cheers(settings, "jobs", "list", cwd=tmp_path, CHEERS_ENV="prod"))
    assert "CHEERS_ENV=prod" in line and "DATABASE_URL points at SQLite" in line, line


def test_every_command_group_is_known_to_the_lazy_loader_by_the_module_that_adds_it() -> None:
    # A module's commands load only when asked for: a command its module adds but LAZY_COMMANDS does not name would
    # be missing from `cheers`, and a stale entry would point at a module that no longer adds it.
    import importlib

    import click

    from api.cli import LAZY_COMMANDS

    for module in sorted(set(LAZY_COMMANDS.values())):
        group = click.Group()
        importlib.import_module(module).register(group)
        named = {name for name, owner in LAZY_COMMANDS.items() if owner == module}
        assert set(group.commands) == named, f"{module} adds {sorted(group.commands)}, LAZY_COMMANDS says {named}"
