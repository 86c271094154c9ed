"""Tokens at rest: only ciphertext and a masked hint reach the database; keys rotate without losing data."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import FrozenClock
from core.connections.keys import rotate_keys
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from storage.crypto import SecretKeyError, TokenCipher, generate_key, mask
from storage.models import Connection, Provider
from storage.secrets import ENCRYPTED_FIELDS, rotate_batch, seal, unseal
from tests import factories
from tests.conftest import make_settings


def meta_token() -> str:
    return "EAAB" + secrets.token_hex(40) + "x9Qz"


async def raw_database_text(runtime: Runtime) -> list[str]:
    """Every non-null value of every column of every table in the live database, as the database renders it."""

    def tables_and_columns(sync_conn: object) -> dict[str, list[str]]:
        inspector = inspect(sync_conn)
        return {t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names()}

    values: list[str] = []
    async with runtime.db.engine.connect() as conn:
        layout = await conn.run_sync(tables_and_columns)
        assert "connections" in layout, f"the raw dump did not find the connections table: {sorted(layout)}"
        for table, columns in layout.items():
            for column in columns:
                values += await _column_text(conn, table, column)
    return values


async def _column_text(conn: AsyncConnection, table: str, column: str) -> list[str]:
    result = await conn.execute(text(f'SELECT CAST("{column}" AS TEXT) FROM "{table}"'))
    return [v for (v,) in result.all() if v is not None]


async def load(runtime: Runtime, connection_id: int) -> Connection:
    async with runtime.uow() as uow:
        row = await uow.session.get(Connection, connection_id)
        assert row is not None, f"connection {connection_id} vanished"
        return row


async def all_connections(runtime: Runtime) -> list[Connection]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(Connection).order_by(Connection.id))).scalars().all())


# --- nothing in the clear at rest -----------------------------------------------------------------------------------


async def test_sealed_token_never_reaches_the_database_in_plaintext(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    access_token = meta_token()
    refresh_token = "1//" + secrets.token_urlsafe(48)
    connection_id = await factories.connection(runtime, venue, access_token=access_token, refresh_token=refresh_token)

    dump = await raw_database_text(runtime)
    everything = "\n".join(dump)

    for label, plaintext in (("access token", access_token), ("refresh token", refresh_token)):
        assert plaintext not in everything, f"the {label} is stored in plaintext somewhere in the database"
        middle = plaintext[4:-4]
        assert middle not in everything, f"the hidden middle of the {label} is stored somewhere in the database"
    row = await load(runtime, connection_id)
    assert row.access_token_ciphertext in dump, "the access token ciphertext should be what the row stores"
    assert row.refresh_token_ciphertext in dump
    assert f"EAAB…{access_token[-4:]}" in dump, "the masked hint should be stored beside the ciphertext"
    assert row.access_token_hint == "EAAB…x9Qz"


async def test_unseal_round_trips(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    token = meta_token()
    connection_id = await factories.connection(runtime, venue, access_token=token, refresh_token=None)

    row = await load(runtime, connection_id)

    assert unseal(row, "access_token", runtime.cipher()) == token, "unseal should give back the sealed token"
    assert unseal(row, "refresh_token", runtime.cipher()) is None, "an unset secret unseals to None"
    assert row.refresh_token_ciphertext is None and row.refresh_token_hint is None


async def test_sealing_none_clears_the_secret(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue, access_token=meta_token())
    async with runtime.uow() as uow:
        row = await uow.session.get(Connection, connection_id)
        assert row is not None
        seal(row, "access_token", None, runtime.cipher())
        await uow.commit()
    row = await load(runtime, connection_id)
    assert (row.access_token_ciphertext, row.access_token_hint) == (None, None), "sealing None should clear both"


def test_same_token_seals_to_different_ciphertexts() -> None:
    cipher = TokenCipher([generate_key()])
    first, second = Connection(), Connection()
    token = meta_token()
    seal(first, "access_token", token, cipher)
    seal(second, "access_token", token, cipher)
    assert first.access_token_ciphertext != second.access_token_ciphertext, (
        "equal tokens must not produce equal ciphertexts (that would reveal which connections share a token)"
    )
    assert token not in (first.access_token_ciphertext or "")


def test_every_encrypted_field_has_ciphertext_and_hint_columns() -> None:
    for field in ENCRYPTED_FIELDS:
        columns = set(field.model.__table__.columns.keys())  # type: ignore[attr-defined]
        wanted = {f"{field.name}_ciphertext", f"{field.name}_hint"} if field.shown else {f"{field.name}_ciphertext"}
        assert wanted <= columns, f"{field} lacks its columns"


# --- masking --------------------------------------------------------------------------------------------------------


def test_mask_shows_first_four_and_last_four() -> None:
    assert mask("EAABwzZCq7ZBabcdefghijklmnopx9Qz") == "EAAB…x9Qz"
    assert mask("abcdefghijklm") == "abcd…jklm", "13 characters is long enough for the first-4/last-4 hint"


@pytest.mark.parametrize("length", range(1, 13))
def test_mask_of_a_short_secret_reveals_almost_nothing(length: int) -> None:
    secret = "s3cr3tPaSsW0rd"[:length]
    masked = mask(secret)
    shown = masked.replace("…", "")
    assert masked.startswith("…"), f"a {length}-character secret should be masked from the start: {masked!r}"
    assert len(shown) <= 2 and secret.endswith(shown), f"mask revealed too much of a {length}-char secret: {masked!r}"
    if length <= 4:
        assert masked == "…", "a secret of four characters or fewer should reveal nothing"


@pytest.mark.parametrize("empty", ["", None])
def test_mask_of_nothing_is_empty(empty: str | None) -> None:
    assert mask(empty) == ""


def test_long_secret_hint_fits_its_column() -> None:
    hint = mask("x" * 5000)
    assert hint == "xxxx…xxxx" and len(hint) <= Connection.__table__.c.access_token_hint.type.length  # type: ignore[attr-defined]


# --- keys -----------------------------------------------------------------------------------------------------------


def test_ciphertext_under_an_unknown_key_raises_a_clear_error() -> None:
    ciphertext = TokenCipher([generate_key("old")]).encrypt("EAABsecret")
    stranger = TokenCipher([generate_key("new")])
    with pytest.raises(SecretKeyError, match="cannot be decrypted with any configured key"):
        stranger.decrypt(ciphertext)
    with pytest.raises(SecretKeyError, match="cannot be decrypted with any configured key"):
        stranger.rotate(ciphertext)


def test_garbage_ciphertext_raises_secret_key_error() -> None:
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        TokenCipher([generate_key()]).decrypt("not-a-fernet-token")


@pytest.mark.parametrize("keys", [[], ["not-a-key"], ["label:short"], ["Zm9v"]])
def test_malformed_or_missing_keys_are_refused(keys: list[str]) -> None:
    with pytest.raises(SecretKeyError, match="CHEERS_TOKEN_KEYS"):
        TokenCipher(keys)


def test_key_labels_do_not_change_the_key() -> None:
    key = generate_key()
    ciphertext = TokenCipher([f"2026-11:{key}"]).encrypt("EAABsecret")
    assert TokenCipher([key]).decrypt(ciphertext) == "EAABsecret", "a label is for operators, not part of the key"


def test_new_key_encrypts_and_old_key_still_decrypts() -> None:
    old, new = generate_key("old"), generate_key("new")
    under_old = TokenCipher([old]).encrypt("EAABold")
    both = TokenCipher([new, old])
    assert both.decrypt(under_old) == "EAABold", "a rotated-in key list must still read data under the old key"
    assert TokenCipher([new]).decrypt(both.encrypt("EAABnew")) == "EAABnew", "new data must use the first (newest) key"


async def test_unseal_with_a_removed_key_raises(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    connection_id = await factories.connection(runtime, venue, access_token=meta_token())
    row = await load(runtime, connection_id)
    with pytest.raises(SecretKeyError, match="any configured key"):
        unseal(row, "access_token", TokenCipher([generate_key("unrelated")]))


# --- rotation -------------------------------------------------------------------------------------------------------


@pytest.fixture
def new_key() -> str:
    return generate_key("new")


@pytest.fixture
def rotated_settings(settings: Settings, database_url: str, tmp_path: Path, new_key: str) -> Settings:
    return make_settings(database_url, tmp_path, cheers_token_keys=f"{new_key},{settings.cheers_token_keys}")


@pytest.fixture
async def rotated(rotated_settings: Settings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    """The same database, restarted with CHEERS_TOKEN_KEYS="new,old"."""
    rt = build_runtime(rotated_settings, clock=clock)
    yield rt
    await rt.db.dispose()


async def seed_connections(runtime: Runtime, venue: int, count: int) -> dict[int, tuple[str, str | None]]:
    """`count` connections (every third without a refresh token); their plaintexts by id."""
    tokens: dict[int, tuple[str, str | None]] = {}
    for i in range(count):
        access, refresh = meta_token(), (None if i % 3 == 0 else "1//" + secrets.token_urlsafe(24))
        tokens[await factories.connection(runtime, venue, access_token=access, refresh_token=refresh)] = (
            access,
            refresh,
        )
    return tokens


def assert_readable_only_with(rows: list[Connection], tokens: dict[int, tuple[str, str | None]], key: str) -> None:
    only_new = TokenCipher([key])
    for row in rows:
        access, refresh = tokens[row.id]
        try:
            got = (unseal(row, "access_token", only_new), unseal(row, "refresh_token", only_new))
        except SecretKeyError as exc:
            raise AssertionError(f"connection {row.id} is not readable with only the new key after rotation") from exc
        assert got == (access, refresh), f"connection {row.id} decrypted to the wrong tokens after rotation"


async def test_rotation_reencrypts_every_row_under_the_new_key(
    runtime: Runtime, rotated: Runtime, new_key: str, settings: Settings
) -> None:
    venue = await factories.venue(runtime)
    tokens = await seed_connections(runtime, venue, 205)  # more than one rotation batch (200)
    before = {row.id: row for row in await all_connections(runtime)}

    counts = await rotate_keys(rotated, factories.SYSTEM)

    with_refresh = sum(1 for _, refresh in tokens.values() if refresh)
    assert {k: v for k, v in counts.items() if v} == {
        "connections.access_token": 205,
        "connections.refresh_token": with_refresh,
    }, counts
    assert set(counts) == {f"{f.model.__tablename__}.{f.name}" for f in ENCRYPTED_FIELDS}, "every field is walked"  # type: ignore[attr-defined]
    rows = await all_connections(rotated)
    assert_readable_only_with(rows, tokens, new_key)
    old_only = TokenCipher([settings.cheers_token_keys])
    with pytest.raises(SecretKeyError):
        unseal(rows[0], "access_token", old_only)
    for row in rows:
        assert row.access_token_hint == before[row.id].access_token_hint, "rotation must not change the masked hint"


async def test_rotation_writes_a_keys_rotated_audit_entry(runtime: Runtime, rotated: Runtime) -> None:
    venue = await factories.venue(runtime)
    await seed_connections(runtime, venue, 3)

    counts = await rotate_keys(rotated, factories.SYSTEM)

    entries = await factories.audit_entries(rotated, "keys_rotated")
    assert len(entries) == 1, f"expected one keys_rotated audit entry, found {len(entries)}"
    entry = entries[0]
    assert entry.details == {"key_count": 2, "reencrypted": counts}, f"audit details wrong: {entry.details}"
    assert entry.channel.value == "cli" and entry.actor_user_id is None


async def test_rotation_is_safe_to_run_twice(
    runtime: Runtime, rotated: Runtime, new_key: str, settings: Settings
) -> None:
    venue = await factories.venue(runtime)
    tokens = await seed_connections(runtime, venue, 4)

    first = await rotate_keys(rotated, factories.SYSTEM)
    second = await rotate_keys(rotated, factories.SYSTEM)

    assert first == second, f"a second run should walk the same rows: {first} vs {second}"
    assert_readable_only_with(await all_connections(rotated), tokens, new_key)
    assert len(await factories.audit_entries(rotated, "keys_rotated")) == 2, "each run should be audited"
    everything = "\n".join(await raw_database_text(rotated))
    assert not any(access in everything for access, _ in tokens.values()), "rotation leaked a plaintext token"


async def test_interrupted_rotation_completes_on_the_next_run(runtime: Runtime, rotated: Runtime, new_key: str) -> None:
    venue = await factories.venue(runtime)
    tokens = await seed_connections(runtime, venue, 6)
    async with rotated.uow() as uow:  # a run that stopped after its first small batch
        done = await rotate_batch(uow.session, ENCRYPTED_FIELDS[0], rotated.cipher(), after_id=0, limit=2)
        await uow.commit()
    assert len(done) == 2

    await rotate_keys(rotated, factories.SYSTEM)

    assert_readable_only_with(await all_connections(rotated), tokens, new_key)


async def test_rotation_with_a_row_under_an_unknown_key_fails_without_damage(
    runtime: Runtime, rotated: Runtime
) -> None:
    venue = await factories.venue(runtime)
    stranger = TokenCipher([generate_key("lost")])
    async with runtime.uow() as uow:
        row = Connection(account_id=venue, provider=Provider.facebook, external_id="x", display_name="Lost key page")
        seal(row, "access_token", meta_token(), stranger)
        uow.session.add(row)
        await uow.commit()
    before = (await all_connections(runtime))[0].access_token_ciphertext

    with pytest.raises(SecretKeyError, match="cannot be decrypted with any configured key"):
        await rotate_keys(rotated, factories.SYSTEM)

    assert (await all_connections(runtime))[0].access_token_ciphertext == before, "a failed batch must roll back"
    assert len(await factories.audit_entries(rotated, "keys_rotated")) == 0, "a failed rotation must not be audited"
