"""Adding CheersAI to a Slack workspace: OAuth v2 against the Slack twin, bound to the admin's venue and browser,
the bot token encrypted at rest, never logged, rotated with the other secrets, and refused when misused."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from api.cli import cli
from core.access.audit import Actor
from core.connections.keys import rotate_keys
from core.logging import configure_logging
from core.runtime import Runtime
from sandbox.slack.state import DEFAULT_CLIENT_ID
from storage.crypto import generate_key
from storage.models import Role
from tests import factories
from tests.sandbox_slack.conftest import SlackTwin
from tests.slack.conftest import TEAM, install_row, install_through_oauth, stored_token
from tests.test_logging import restore_logging  # noqa: F401 - puts logging back after configure_logging


async def test_an_admin_adds_the_app_and_the_bot_token_is_kept_encrypted(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)

    row = await install_row(runtime)
    assert row is not None and row.account_id == installed.venue_id
    assert row.installed_by_user_id == installed.admin.user_id
    assert installed.token.startswith("xoxb-") and installed.token not in (row.bot_token_ciphertext or "")
    assert row.bot_token_hint == f"{installed.token[:4]}…{installed.token[-4:]}"
    assert set(row.scopes) >= {"commands", "chat:write"} and row.bot_user_id and row.revoked_at is None
    me = await slack.client(installed.token).auth_test()  # the stored token is the one Slack issued
    assert me["team_id"] == TEAM


async def test_install_sends_the_admin_to_slack_with_our_client_id_scopes_and_redirect(
    app: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin
) -> None:
    venue_id = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin)
    browser = await factories.login(app, runtime, admin)

    started = await app.get(f"/slack/install?account={venue_id}", headers=browser.cookie)

    url = urlsplit(started.headers["location"])
    assert f"{url.scheme}://{url.netloc}" == slack.url and url.path == "/oauth/v2/authorize"
    query = parse_qs(url.query)
    assert query["client_id"] == [DEFAULT_CLIENT_ID]
    assert query["redirect_uri"] == ["http://testserver.local/slack/oauth_redirect"]
    assert "commands" in query["scope"][0].split(",") and query["state"][0]


async def test_an_editor_cannot_install(app: httpx.AsyncClient, runtime: Runtime) -> None:
    venue_id = await factories.venue(runtime)
    editor = await factories.person(runtime, venue_id=venue_id, role=Role.editor)
    browser = await factories.login(app, runtime, editor)

    refused = await app.get(f"/slack/install?account={venue_id}", headers=browser.cookie)

    assert refused.status_code == 403
    assert await install_row(runtime) is None


async def test_the_install_must_finish_in_the_browser_that_started_it(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin
) -> None:
    venue_id = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin)
    browser = await factories.login(app, runtime, admin)
    started = await app.get(f"/slack/install?account={venue_id}", headers=browser.cookie)
    await slack.control.consent(auto_approve=True)
    back = urlsplit((await web.get(started.headers["location"])).headers["location"])

    elsewhere = await app.get(f"{back.path}?{back.query}", headers={"Cookie": "cheers_slack_install=another"})

    assert elsewhere.status_code == 400 and "different browser" in elsewhere.text
    assert await install_row(runtime) is None


async def test_a_used_or_forged_state_installs_nothing(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin
) -> None:
    await install_through_oauth(app, web, runtime, slack)
    forged = await app.get("/slack/oauth_redirect?code=anything&state=made-up")
    cancelled = await app.get("/slack/oauth_redirect?error=access_denied&state=made-up")

    assert forged.status_code == 400 and "not one CheersAI started" in forged.text
    assert cancelled.status_code == 400 and "cancelled" in cancelled.text


async def test_the_bot_token_never_reaches_the_logs(
    app: httpx.AsyncClient,
    web: httpx.AsyncClient,
    runtime: Runtime,
    slack: SlackTwin,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG", "json")
    logging.getLogger("slack_sdk").setLevel(logging.DEBUG)  # slack_sdk logs whole requests and answers at DEBUG

    installed = await install_through_oauth(app, web, runtime, slack)

    output = capsys.readouterr().err
    assert "slack_installed" in output and "oauth.v2.access" in output  # the flow was logged, at DEBUG too
    assert installed.token not in output and installed.token[5:] not in output


async def test_keys_rotate_re_encrypts_bot_tokens(
    app: httpx.AsyncClient, web: httpx.AsyncClient, runtime: Runtime, slack: SlackTwin
) -> None:
    installed = await install_through_oauth(app, web, runtime, slack)
    before = await install_row(runtime)
    new_key = generate_key("next")
    runtime.settings.cheers_token_keys = f"{new_key},{runtime.settings.cheers_token_keys}"

    counts = await rotate_keys(runtime, Actor.system())

    assert counts["chat_installs.bot_token"] == 1
    after = await install_row(runtime)
    assert before is not None and after is not None and after.bot_token_ciphertext != before.bot_token_ciphertext
    runtime.settings.cheers_token_keys = new_key  # only the new key left: the token still reads back
    assert await stored_token(runtime) == installed.token


def test_cheers_slack_manifest_names_our_urls_and_minimal_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHEERS_PUBLIC_URL", "https://cheers.example.com/")

    result = CliRunner().invoke(cli, ["--json", "slack", "manifest"])

    assert result.exit_code == 0, result.output
    assert '"request_url": "https://cheers.example.com/slack/events"' in result.output.replace("\n", "")
    for must in ("https://cheers.example.com/slack/oauth_redirect", "app_uninstalled", "tokens_revoked", "/cheers"):
        assert must in result.output
    assert "users:read" not in result.output and "channels:history" not in result.output
