"""Settings: production refuses development-grade configuration; database URLs are normalised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from core.settings import DEV_SECRET_MARKER, Env, Settings, UnsafeSettings
from storage.crypto import generate_key

ENV_VARS = (
    "CHEERS_ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "CHEERS_SECRET_KEY",
    "CHEERS_TOKEN_KEYS",
    "CHEERS_PUBLIC_URL",
    "CHEERS_VAR_DIR",
)
SAFE_PROD: dict[str, Any] = {
    "cheers_env": "prod",
    "database_url": "postgresql://cheers:pw@db.internal:5432/cheers",
    "redis_url": "redis://redis.internal:6379/0",
    "cheers_secret_key": "a-real-production-secret-" + "k" * 32,
    "cheers_token_keys": generate_key("2026-11"),
    "cheers_public_url": "https://app.cheers.example",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's shell (or CI) must not decide what these tests see."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)


def prod(**overrides: Any) -> Settings:
    return settings(**{**SAFE_PROD, **overrides})


def refusal(config: Settings) -> str:
    with pytest.raises(UnsafeSettings) as caught:
        config.check_safe_for_production()
    return str(caught.value)


# --- production safety ----------------------------------------------------------------------------------------------


def test_prod_with_development_settings_names_every_unsafe_setting() -> None:
    config = settings(
        cheers_env="prod",
        cheers_secret_key=f"{DEV_SECRET_MARKER}-" + "x" * 40,
        cheers_token_keys=generate_key(DEV_SECRET_MARKER),
        redis_url=None,
        cheers_public_url="http://127.0.0.1:8000",
    )
    message = refusal(config)
    assert "CHEERS_ENV=prod" in message
    for setting in ("CHEERS_SECRET_KEY", "CHEERS_TOKEN_KEYS", "DATABASE_URL", "REDIS_URL", "CHEERS_PUBLIC_URL"):
        assert setting in message, f"the refusal should name {setting}: {message}"


def test_cheers_env_prod_from_the_environment_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHEERS_ENV", "prod")
    config = settings()
    assert config.cheers_env is Env.prod
    with pytest.raises(UnsafeSettings, match="CHEERS_ENV=prod"):
        config.check_safe_for_production()
    with pytest.raises(UnsafeSettings, match="CHEERS_SECRET_KEY"):
        create_app(config, configure_logs=False)


@pytest.mark.parametrize(
    ("override", "named", "why"),
    [
        ({"cheers_secret_key": f"{DEV_SECRET_MARKER}-" + "x" * 40}, "CHEERS_SECRET_KEY", "development key"),
        ({"cheers_secret_key": ""}, "CHEERS_SECRET_KEY", "unset"),
        ({"cheers_secret_key": "too-short"}, "CHEERS_SECRET_KEY", "shorter than 32"),
        ({"cheers_token_keys": generate_key(DEV_SECRET_MARKER)}, "CHEERS_TOKEN_KEYS", "development key"),
        (
            {"cheers_token_keys": f"{generate_key('new')},{generate_key(DEV_SECRET_MARKER)}"},
            "CHEERS_TOKEN_KEYS",
            "development key",
        ),
        ({"cheers_token_keys": ""}, "CHEERS_TOKEN_KEYS", "unset"),
        ({"database_url": ""}, "DATABASE_URL", "SQLite"),
        ({"database_url": "sqlite:////srv/cheers/cheers.db"}, "DATABASE_URL", "SQLite"),
        ({"redis_url": None}, "REDIS_URL", "in-memory broker"),
        ({"redis_url": ""}, "REDIS_URL", "in-memory broker"),
        ({"cheers_public_url": "http://app.cheers.example"}, "CHEERS_PUBLIC_URL", "https"),
    ],
    ids=[
        "dev-secret-key",
        "no-secret-key",
        "short-secret-key",
        "dev-token-key",
        "dev-token-key-among-others",
        "no-token-keys",
        "default-sqlite",
        "explicit-sqlite",
        "no-redis",
        "empty-redis",
        "http-public-url",
    ],
)
def test_each_unsafe_setting_is_refused_and_named(override: dict[str, Any], named: str, why: str) -> None:
    message = refusal(prod(**override))
    assert named in message and why in message, f"expected the refusal to name {named} ({why}): {message}"
    others = {"CHEERS_SECRET_KEY", "CHEERS_TOKEN_KEYS", "DATABASE_URL", "REDIS_URL", "CHEERS_PUBLIC_URL"} - {named}
    wrongly_named = [o for o in others if o in message]
    assert not wrongly_named, f"only {named} is wrong, but the refusal also blames {wrongly_named}: {message}"


def test_create_app_refuses_unsafe_prod_settings() -> None:
    with pytest.raises(UnsafeSettings, match="DATABASE_URL"):
        create_app(prod(database_url=""), configure_logs=False)


def test_fully_safe_prod_config_passes() -> None:
    config = prod()
    config.check_safe_for_production()  # must not raise
    assert config.secure_cookies, "production should use secure cookies"
    create_app(config, configure_logs=False)  # builds without connecting to anything


@pytest.mark.parametrize("env", ["dev", "test"])
def test_development_settings_are_fine_outside_prod(env: str) -> None:
    config = settings(cheers_env=env, cheers_secret_key=f"{DEV_SECRET_MARKER}-x", cheers_public_url="http://localhost")
    config.check_safe_for_production()  # must not raise


def test_public_url_trailing_slash_is_dropped() -> None:
    assert prod(cheers_public_url="https://app.cheers.example/").cheers_public_url == "https://app.cheers.example"


# --- database URLs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/cheers", "postgresql+asyncpg://u:p@db:5432/cheers"),
        ("postgresql://u:p@db:5432/cheers", "postgresql+asyncpg://u:p@db:5432/cheers"),
        ("postgresql+psycopg2://u:p@db/cheers", "postgresql+asyncpg://u:p@db/cheers"),
        ("postgresql+asyncpg://u:p@db/cheers", "postgresql+asyncpg://u:p@db/cheers"),
        ("sqlite:////srv/cheers.db", "sqlite+aiosqlite:////srv/cheers.db"),
        ("sqlite+aiosqlite:////srv/cheers.db", "sqlite+aiosqlite:////srv/cheers.db"),
    ],
)
def test_database_url_is_normalised_to_an_async_driver(given: str, expected: str) -> None:
    assert settings(database_url=given).database == expected, f"{given} should become {expected}"


def test_database_url_from_the_environment_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://cheers:pw@db.internal/cheers")
    config = settings()
    assert config.database == "postgresql+asyncpg://cheers:pw@db.internal/cheers"
    assert not config.is_sqlite


def test_default_database_is_a_sqlite_file_under_the_var_dir(tmp_path: Path) -> None:
    config = settings(cheers_var_dir=tmp_path / "state")
    assert config.database == f"sqlite+aiosqlite:///{(tmp_path / 'state' / 'cheers.db').as_posix()}"
    assert config.is_sqlite


def test_default_var_dir_is_var() -> None:
    config = settings()
    assert config.cheers_var_dir == Path("var")
    assert config.database == "sqlite+aiosqlite:///var/cheers.db", "with nothing set, data lives in var/cheers.db"


def test_var_dir_from_the_environment_moves_the_default_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHEERS_VAR_DIR", str(tmp_path))
    assert settings().database == f"sqlite+aiosqlite:///{(tmp_path / 'cheers.db').as_posix()}"


def test_token_keys_are_split_and_trimmed() -> None:
    new, old = generate_key("new"), generate_key("old")
    assert settings(cheers_token_keys=f" {new} , {old} ,").token_keys == [new, old]
