"""Logs are one JSON object per line, and credentials never reach them (events, stdlib records, request lines)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from core.access.auth import API_TOKEN_PREFIX
from core.logging import REDACTED, configure_logging
from core.runtime import Runtime
from tests import factories

NOISY = ("uvicorn.access", "httpx", "httpcore", "aiosqlite", "asyncio")


@pytest.fixture(autouse=True)
def restore_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """configure_logging rewires the root logger and structlog; put both back for the tests that follow.

    Depends on capsys so capture outlives the app's shutdown lines, logged through the handler made in the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in NOISY}
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (lvl, disabled) in noisy.items():
        logging.getLogger(name).setLevel(lvl)
        logging.getLogger(name).disabled = disabled
    structlog.configure(**config)


def json_lines(captured: str) -> list[dict[str, Any]]:
    """Each line of captured output as a JSON object (failing on any line that is not one)."""
    events: list[dict[str, Any]] = []
    for line in captured.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"log line is not JSON: {line!r}") from exc
        assert isinstance(event, dict), f"log line is JSON but not an object: {line!r}"
        events.append(event)
    return events


def assert_absent(output: str, secrets_by_name: dict[str, str]) -> None:
    leaked = [name for name, value in secrets_by_name.items() if value in output]
    assert not leaked, f"secrets leaked into the logs: {leaked}\n{output}"


@pytest.fixture
def credentials() -> dict[str, str]:
    return {
        "api token": API_TOKEN_PREFIX + secrets.token_urlsafe(32),
        "meta token": "EAAB" + secrets.token_hex(30),
        "bearer value": "bearer-" + secrets.token_hex(16),
        "login link token": "eyJuIjoi" + secrets.token_urlsafe(20) + ".aBcD12." + secrets.token_urlsafe(20),
        "oauth code": "code-" + secrets.token_hex(12),
        "oauth state": "state-" + secrets.token_hex(12),
        "access_token value": "plain-access-" + secrets.token_hex(8),
        "refresh_token value": "plain-refresh-" + secrets.token_hex(8),
        "client_secret value": "plain-client-" + secrets.token_hex(8),
        "password value": "hunter2-" + secrets.token_hex(8),
    }


def test_structlog_events_never_carry_secrets(capsys: pytest.CaptureFixture[str], credentials: dict[str, str]) -> None:
    configure_logging("INFO", "json")
    log = structlog.get_logger("tests.logging")
    c = credentials

    log.info("api_token_used", detail=f"caller sent {c['api token']}")
    log.info(f"meta answered for token {c['meta token']}")
    log.info("outbound_call", header=f"Authorization: Bearer {c['bearer value']}")
    log.info("login_link_sent", url=f"https://cheers.example/auth/login/{c['login link token']}")
    log.info("oauth_callback", url=f"https://cheers.example/oauth/cb?code={c['oauth code']}&state={c['oauth state']}")
    log.info(
        "token_exchange",
        access_token=c["access_token value"],
        refresh_token=c["refresh_token value"],
        client_secret=c["client_secret value"],
        password=c["password value"],
    )
    log.info(
        "nested",
        response={
            "data": {"access_token": c["access_token value"]},
            "items": [{"client_secret": c["client_secret value"]}],
        },
    )

    output = capsys.readouterr().err
    assert_absent(output, c)
    events = json_lines(output)
    assert len(events) == 7, f"expected one JSON line per event, got {len(events)}:\n{output}"
    by_event = {e["event"]: e for e in events}
    exchange = by_event["token_exchange"]
    for key in ("access_token", "refresh_token", "client_secret", "password"):
        assert exchange[key] == REDACTED, f"{key} should be replaced by {REDACTED}, got {exchange[key]!r}"
    assert by_event["login_link_sent"]["url"] == f"https://cheers.example/auth/login/{REDACTED}", (
        "the login link should keep its shape with the token redacted"
    )
    assert "Bearer " + REDACTED in by_event["outbound_call"]["header"]
    assert by_event["oauth_callback"]["url"].startswith("https://cheers.example/oauth/cb?"), (
        "the URL should stay legible"
    )
    assert by_event["nested"]["response"]["data"]["access_token"] == REDACTED
    assert all(e.get("level") == "info" and e.get("timestamp") for e in events), "each event needs level and timestamp"


def test_harmless_fields_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("tests.logging").info("job_finished", status_code=200, kind="digest", key_count=2, removed=3)
    (event,) = json_lines(capsys.readouterr().err)
    assert (event["status_code"], event["kind"], event["key_count"], event["removed"]) == (200, "digest", 2, 3), (
        f"ordinary fields must not be redacted: {event}"
    )


def test_stdlib_log_records_are_redacted_too(capsys: pytest.CaptureFixture[str], credentials: dict[str, str]) -> None:
    configure_logging("INFO", "json")
    c = credentials
    logger = logging.getLogger("tests.thirdparty")

    logger.info("GET https://graph.example/me?access_token=%s", c["meta token"])
    logger.warning("retrying with Authorization: Bearer %s", c["bearer value"])
    logger.info("exchanged", extra={"refresh_token": c["refresh_token value"], "password": c["password value"]})
    logger.info("login link: https://cheers.example/auth/login/%s", c["login link token"])

    output = capsys.readouterr().err
    assert_absent(output, c)
    events = json_lines(output)
    assert len(events) == 4, f"expected 4 JSON lines from stdlib logging, got:\n{output}"
    assert {e["logger"] for e in events} == {"tests.thirdparty"}


def test_exception_tracebacks_are_redacted(capsys: pytest.CaptureFixture[str], credentials: dict[str, str]) -> None:
    configure_logging("INFO", "json")
    try:
        raise RuntimeError(
            f"provider refused token {credentials['meta token']} with Bearer {credentials['bearer value']}"
        )
    except RuntimeError:
        structlog.get_logger("tests.logging").exception("provider_call_failed")

    output = capsys.readouterr().err
    assert_absent(output, credentials)
    (event,) = json_lines(output)
    assert "RuntimeError" in event["exception"], "the traceback should still be logged, only redacted"


def test_console_format_is_redacted_too(capsys: pytest.CaptureFixture[str], credentials: dict[str, str]) -> None:
    configure_logging("INFO", "console")
    structlog.get_logger("tests.logging").info(
        "token_exchange", access_token=credentials["access_token value"], note=f"sent {credentials['api token']}"
    )
    output = capsys.readouterr().err
    assert "token_exchange" in output
    assert_absent(output, credentials)


def test_log_level_is_honoured(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    log = structlog.get_logger("tests.logging")
    log.info("too_quiet")
    log.warning("loud_enough")
    assert [e["event"] for e in json_lines(capsys.readouterr().err)] == ["loud_enough"]


def request_lines(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == "http_request"]


async def test_request_log_omits_query_string_and_authorization(
    runtime: Runtime, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], credentials: dict[str, str]
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    capsys.readouterr()  # discard setup output
    configure_logging("INFO", "json")

    r = await client.get(
        "/api/notifications",
        params={"access_token": credentials["meta token"], "code": credentials["oauth code"]},
        headers=me.headers,
    )
    assert r.status_code == 200, r.text

    output = capsys.readouterr().err
    assert_absent(output, {**credentials, "caller's API token": me.token})
    lines = request_lines(json_lines(output))
    assert len(lines) == 1, f"expected exactly one http_request line, got {lines}"
    line = lines[0]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/notifications", 200), line
    assert line.get("request_id") == r.headers["x-request-id"], "the request line should carry the request id"


async def test_request_log_with_a_rejected_token_omits_it(
    runtime: Runtime, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], credentials: dict[str, str]
) -> None:
    capsys.readouterr()
    configure_logging("INFO", "json")

    r = await client.get(
        "/api/notifications",
        params={"state": credentials["oauth state"]},
        headers={"Authorization": f"Bearer {credentials['api token']}"},
    )
    assert r.status_code == 401, r.text

    output = capsys.readouterr().err
    assert_absent(output, credentials)
    (line,) = request_lines(json_lines(output))
    assert line["status"] == 401


async def test_request_log_redacts_login_link_tokens_in_the_path(
    runtime: Runtime, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    path = await factories.login_link(runtime, me)
    token = path.rsplit("/", 1)[-1]
    capsys.readouterr()
    configure_logging("INFO", "json")

    r = await client.get(path)
    assert r.status_code == 200, r.text

    output = capsys.readouterr().err
    assert token not in output, f"the login link token leaked into the logs:\n{output}"
    (line,) = request_lines(json_lines(output))
    assert line["path"] == f"/auth/login/{REDACTED}", f"the path should keep its shape with the token redacted: {line}"


async def test_request_log_redacts_manual_package_tokens_in_the_path(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "eyJ0IjoxMjN9.forged-package-capability"
    capsys.readouterr()
    configure_logging("INFO", "json")

    r = await client.get(f"/packages/{token}")
    assert r.status_code == 404, r.text

    output = capsys.readouterr().err
    assert token not in output, f"the package link token leaked into the logs:\n{output}"
    (line,) = request_lines(json_lines(output))
    assert line["path"] == f"/packages/{REDACTED}", line
