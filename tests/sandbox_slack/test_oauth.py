"""Installing from the twin: the authorize page (Allow / Cancel, or auto-approve), oauth.v2.access through slack_sdk,
and the token's end (auth.revoke, apps.uninstall)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from sandbox.slack.oauth import approve_form
from sandbox.slack.twin import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.sandbox_slack.conftest import SlackTwin

# slack_sdk sends client credentials with aiohttp's BasicAuth, which aiohttp itself now calls deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

REDIRECT = "http://127.0.0.1:9/slack/oauth_redirect"
ASK: dict[str, str] = {
    "client_id": DEFAULT_CLIENT_ID,
    "scope": "chat:write,commands,im:write",
    "state": "opaque-state-1",
    "redirect_uri": REDIRECT,
}


def _query(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


async def _allow(slack: SlackTwin, web: httpx.AsyncClient, **ask: str) -> dict[str, str]:
    params = {**ASK, **ask}
    page = await web.get(f"{slack.url}/oauth/v2/authorize", params=params)
    assert page.status_code == 200 and "Allow" in page.text and "The Red Lion" in page.text
    decided = await web.post(f"{slack.url}/oauth/v2/authorize", data=approve_form(params))
    assert decided.status_code == 302
    return _query(decided.headers["location"])


async def _error(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def test_allow_then_exchange_gives_a_working_bot_token(slack: SlackTwin, web: httpx.AsyncClient) -> None:
    answer = await _allow(slack, web)
    assert answer["state"] == "opaque-state-1"

    access = await slack.client(token="").oauth_v2_access(
        client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, code=answer["code"], redirect_uri=REDIRECT
    )

    assert access["access_token"].startswith("xoxb-") and access["token_type"] == "bot"
    assert access["scope"] == "chat:write,commands,im:write" and access["bot_user_id"] == "U0CHEERSBOT"
    assert access["team"] == {"id": "T0SANDBOX1", "name": "The Red Lion"}
    assert access["authed_user"]["id"] == "U0OWNER001" and access["app_id"] == "A0CHEERSAI"
    me = await slack.client(access["access_token"]).auth_test()
    assert me["team_id"] == "T0SANDBOX1"


async def test_a_code_works_once_for_ten_minutes_with_the_right_secret_and_redirect(
    slack: SlackTwin, web: httpx.AsyncClient
) -> None:
    client = slack.client(token="")
    used, late, misdirected = [(await _allow(slack, web))["code"] for _ in range(3)]
    good = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET, "redirect_uri": REDIRECT}
    await client.oauth_v2_access(code=used, **good)

    assert await _error(client.oauth_v2_access(code=used, **good)) == "invalid_code"
    wrong_secret = {**good, "client_secret": "guess"}
    assert await _error(client.oauth_v2_access(code=late, **wrong_secret)) == "bad_client_secret"
    elsewhere = {**good, "redirect_uri": "http://127.0.0.1:9/elsewhere"}
    assert await _error(client.oauth_v2_access(code=misdirected, **elsewhere)) == "bad_redirect_uri"
    slack.clock.advance(minutes=11)
    assert await _error(client.oauth_v2_access(code=late, **good)) == "invalid_code"


async def test_cancel_comes_back_as_access_denied(slack: SlackTwin, web: httpx.AsyncClient) -> None:
    decided = await web.post(f"{slack.url}/oauth/v2/authorize", data={**ASK, "decision": "cancel"})
    assert _query(decided.headers["location"]) == {"error": "access_denied", "state": "opaque-state-1"}


async def test_auto_approve_redirects_straight_away_as_the_chosen_person(
    slack: SlackTwin, web: httpx.AsyncClient
) -> None:
    await slack.control.consent(auto_approve=True, user_id="U0MANAGER1")
    page = await web.get(f"{slack.url}/oauth/v2/authorize", params=ASK)
    code = _query(page.headers["location"])["code"]
    access = await slack.client(token="").oauth_v2_access(
        client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, code=code, redirect_uri=REDIRECT
    )
    assert page.status_code == 302 and access["authed_user"]["id"] == "U0MANAGER1"


async def test_an_unknown_app_gets_an_error_page_not_a_redirect(slack: SlackTwin, web: httpx.AsyncClient) -> None:
    page = await web.get(f"{slack.url}/oauth/v2/authorize", params={**ASK, "client_id": "999.999"})
    assert page.status_code == 400 and "invalid_client_id" in page.text


async def test_auth_revoke_ends_one_token_and_apps_uninstall_ends_them_all(slack: SlackTwin) -> None:
    one, two = await slack.control.install(), await slack.control.install()
    revoked = await slack.client(one).auth_revoke()
    assert revoked["revoked"] is True
    assert await _error(slack.client(one).auth_test()) == "token_revoked"
    assert (await slack.client(two).auth_test())["ok"] is True

    await slack.client(two).apps_uninstall(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)

    assert await _error(slack.client(two).auth_test()) == "token_revoked"
    assert await _error(slack.client().auth_test()) == "token_revoked"  # the dev token was of that workspace too
    assert [r["via"] for r in slack.state.revocations] == ["auth.revoke", "apps.uninstall", "apps.uninstall"]
