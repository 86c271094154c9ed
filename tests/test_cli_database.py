"""`cheers` run where there is no CheersAI database: a plain refusal, never a stray file or a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.factories import process_env
from tests.test_cli import COMMAND, refused

NO_DATABASE = "cheers: no CheersAI database here; set DATABASE_URL or run from the project folder"


def _cheers_in(folder: Path, *args: str, database_url: str | None) -> subprocess.CompletedProcess[str]:
    """`cheers ARGS` from `folder` with the test's secrets, and DATABASE_URL only when given (no var dir set)."""
    env = process_env(make_settings("sqlite+aiosqlite:///unused.db", folder))
    env.pop("CHEERS_VAR_DIR")
    env.pop("DATABASE_URL")
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [*COMMAND, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_outside_the_project_without_database_url_is_refused_plainly_and_creates_nothing(tmp_path: Path) -> None:
    result = _cheers_in(tmp_path, "posts", "list", "--account", "1", database_url=None)
    assert "Traceback" not in result.stderr, f"a missing database is not a crash:\n{result.stderr}"
    assert refused(result) == NO_DATABASE, result.stderr
    assert _files_under(tmp_path) == [], f"a stray database (or folder) was created: {_files_under(tmp_path)}"


def test_a_stray_empty_database_left_by_an_older_cheers_is_refused_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "cheers.db").touch()
    result = _cheers_in(tmp_path, "posts", "list", "--account", "1", database_url=None)
    assert refused(result) == NO_DATABASE, f"an empty file is no database:\n{result.stderr}"


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///{folder}/missing.db", "sqlite:///{folder}/missing.db"])
def test_a_database_url_naming_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path, url: str) -> None:
    result = _cheers_in(tmp_path, "posts", "list", "--account", "1", database_url=url.format(folder=tmp_path))
    line = refused(result)
    assert f"no CheersAI database at {tmp_path / 'missing.db'}" in line and "cheers migrate" in line, line
    assert not (tmp_path / "missing.db").exists(), "the command created the database it was pointed at"
