"""The Google twin speaks Google's real protocol: checked with plain httpx, no adapter involved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio

from sandbox.google.twin import INFO_API, GoogleTwinControl, GoogleTwinState, running_google_twin
from tests.providers.google_support import (
    BUSINESS_MANAGE,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    big_scenario,
    follow_consent,
    pkce_pair,
)

Twin = tuple[str, GoogleTwinControl, GoogleTwinState]
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


# One twin per module (starting and stopping uvicorn costs ~0.15 s), reset before every test.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running_twin() -> AsyncIterator[Twin]:
    async with running_google_twin() as running:
        yield running


@pytest.fixture
def twin(running_twin: Twin) -> Twin:
    running_twin[2].reset()
    return running_twin


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def consent_url(base: str, challenge: str | None = None, **extra: str) -> str:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": BUSINESS_MANAGE,
        "access_type": "offline",
        "prompt": "consent",
        "state": "xyz",
        **({"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}),
        **extra,
    }
    return f"{base}/o/oauth2/v2/auth?{urlencode({k: v for k, v in params.items() if v})}"


async def exchange(http: httpx.AsyncClient, base: str, code: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **extra,
    }
    return await http.post(f"{base}/token", data=form)


async def tokens(http: httpx.AsyncClient, base: str, **consent: str) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    callback = await follow_consent(http, consent_url(base, challenge, **consent))
    response = await exchange(http, base, callback["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_consent_and_code_exchange_with_pkce(twin: Twin, http: httpx.AsyncClient) -> None:
    url, _, _ = twin
    verifier, challenge = pkce_pair()
    callback = await follow_consent(http, consent_url(url, challenge))
    assert callback["state"] == "xyz" and callback["scope"] == BUSINESS_MANAGE and callback["code"].startswith("4/")

    wrong = await exchange(http, url, callback["code"], code_verifier=pkce_pair()[0])
    assert (wrong.status_code, wrong.json()["error_description"]) == (400, "Invalid code verifier.")
    body = (await exchange(http, url, callback["code"], code_verifier=verifier)).json()
    assert body["access_token"].startswith("ya29.") and body["refresh_token"].startswith("1//")
    assert (body["expires_in"], body["token_type"], body["scope"]) == (3599, "Bearer", BUSINESS_MANAGE)

    reused = await exchange(http, url, callback["code"], code_verifier=verifier)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")


async def test_code_exchange_refusals(twin: Twin, http: httpx.AsyncClient) -> None:
    url, _, _ = twin
    verifier, challenge = pkce_pair()
    code = (await follow_consent(http, consent_url(url, challenge)))["code"]
    missing = await exchange(http, url, code)
    assert missing.json() == {"error": "invalid_grant", "error_description": "Missing code verifier."}
    moved = await exchange(http, url, code, code_verifier=verifier, redirect_uri="http://127.0.0.1:1/other")
    assert (moved.status_code, moved.json()["error"]) == (400, "redirect_uri_mismatch")
    bad_secret = await exchange(http, url, code, code_verifier=verifier, client_secret="nope")
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    garbage = await exchange(http, url, "4/0garbage", code_verifier=verifier)
    assert (garbage.status_code, garbage.json()["error"]) == (400, "invalid_grant")

    unknown = await http.get(consent_url(url, challenge, client_id="someone-else"))
    assert unknown.status_code == 400 and "invalid_client" in unknown.text


async def test_refresh_token_only_offline_on_first_consent_or_prompt(twin: Twin, http: httpx.AsyncClient) -> None:
    url, _, _ = twin
    assert "refresh_token" in await tokens(http, url)
    assert "refresh_token" not in await tokens(http, url, prompt="")  # already consented, no prompt
    assert "refresh_token" in await tokens(http, url, prompt="consent")
    assert "refresh_token" not in await tokens(http, url, access_type="online")


async def test_denied_consent_and_withheld_scope(twin: Twin, http: httpx.AsyncClient) -> None:
    url, control, _ = twin
    await control.set_consent(deny=True)
    assert await follow_consent(http, consent_url(url)) == {"state": "xyz", "error": "access_denied"}
    await control.set_consent(withhold_scopes=[BUSINESS_MANAGE])
    email = "https://www.googleapis.com/auth/userinfo.email"
    callback = await follow_consent(http, consent_url(url, scope=f"{email} {BUSINESS_MANAGE}"))
    assert callback["scope"] == email


async def test_include_granted_scopes_adds_earlier_grants(twin: Twin, http: httpx.AsyncClient) -> None:
    url, _, _ = twin
    email = "https://www.googleapis.com/auth/userinfo.email"
    await tokens(http, url, scope=email)
    later = await tokens(http, url, include_granted_scopes="true")
    assert set(later["scope"].split()) == {email, BUSINESS_MANAGE}


async def test_refresh_grant_and_access_token_expiry(twin: Twin, http: httpx.AsyncClient) -> None:
    url, control, _ = twin
    body = await tokens(http, url)
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await http.get(f"{url}/v1/accounts", headers=auth)).status_code == 200
    await control.advance_clock(3600)
    expired = await http.get(f"{url}/v1/accounts", headers=auth)
    assert expired.status_code == 401
    assert expired.json() == {"error": {"code": 401, "message": UNAUTHENTICATED, "status": "UNAUTHENTICATED"}}
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    refreshed = await http.post(f"{url}/token", data={**form, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert "refresh_token" not in refreshed.json() and refreshed.json()["expires_in"] == 3599
    new_auth = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await http.get(f"{url}/v1/accounts", headers=new_auth)).status_code == 200


@pytest.mark.parametrize(
    ("setup", "seconds"),
    [("kill", 0), ("testing", 8 * 86400), ("unused", 184 * 86400)],
)
async def test_dead_refresh_tokens_give_invalid_grant(
    twin: Twin, http: httpx.AsyncClient, setup: str, seconds: int
) -> None:
    url, control, _ = twin
    body = await tokens(http, url)
    if setup == "kill":
        assert await control.kill_refresh_token(body["refresh_token"], reason="revoked") == 1
    if setup == "testing":
        await control.set_publishing_status("testing")
    await control.advance_clock(seconds)
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    response = await http.post(f"{url}/token", data={**form, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


async def test_revoke_takes_the_family_and_tokeninfo_reads_the_header(twin: Twin, http: httpx.AsyncClient) -> None:
    url, _, _ = twin
    body = await tokens(http, url)
    info = (await http.get(f"{url}/tokeninfo", headers={"Authorization": f"Bearer {body['access_token']}"})).json()
    assert info["aud"] == CLIENT_ID and info["scope"] == BUSINESS_MANAGE and info["access_type"] == "offline"
    assert info["email"] == "sandbox.owner@example.com" and 3500 < int(info["expires_in"]) <= 3599
    assert (await http.get(f"{url}/tokeninfo", params={"access_token": body["access_token"]})).status_code == 200
    user = await http.get(f"{url}/oauth2/v2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert user.json()["email"] == "sandbox.owner@example.com"

    assert (await http.post(f"{url}/revoke", data={"token": body["refresh_token"]})).status_code == 200
    gone = await http.get(f"{url}/tokeninfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert (gone.status_code, gone.json()["error"]) == (400, "invalid_token")
    again = await http.post(f"{url}/revoke", params={"token": body["refresh_token"]})
    assert (again.status_code, again.json()["error"]) == (400, "invalid_token")


async def test_locations_need_a_read_mask_and_return_only_its_fields(twin: Twin, http: httpx.AsyncClient) -> None:
    url, control, _ = twin
    auth = {"Authorization": f"Bearer {(await tokens(http, url))['access_token']}"}
    missing = await http.get(f"{url}/v1/accounts/1000/locations", headers=auth)
    assert missing.status_code == 400 and missing.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert missing.json()["error"]["details"][0]["fieldViolations"][0]["field"] == "read_mask"
    listed = await http.get(f"{url}/v1/accounts/1000/locations", headers=auth, params={"readMask": "name,title"})
    assert listed.json() == {
        "locations": [
            {"name": "locations/2001", "title": "The Red Lion"},
            {"name": "locations/2002", "title": "The Red Lion Kitchen"},
        ]
    }
    one = await http.get(f"{url}/v1/locations/2002", headers=auth, params={"readMask": "storefrontAddress"})
    assert one.json()["storefrontAddress"]["locality"] == "Bristol" and "title" not in one.json()
    too_big = await http.get(
        f"{url}/v1/accounts/1000/locations", headers=auth, params={"readMask": "name", "pageSize": 101}
    )
    assert too_big.status_code == 400

    await control.remove_location_access("2001")
    listed = await http.get(f"{url}/v1/accounts/1000/locations", headers=auth, params={"readMask": "name"})
    assert listed.json() == {"locations": [{"name": "locations/2002"}]}
    denied = await http.get(f"{url}/v1/locations/2001", headers=auth, params={"readMask": "name"})
    assert denied.status_code == 403 and denied.json()["error"]["message"] == "The caller does not have permission"


async def test_pages_default_to_ten_locations_and_twenty_accounts(twin: Twin, http: httpx.AsyncClient) -> None:
    url, control, _ = twin
    await control.set_scenario(big_scenario(accounts=21, locations_in_first=12))
    auth = {"Authorization": f"Bearer {(await tokens(http, url))['access_token']}"}
    first = (await http.get(f"{url}/v1/accounts", headers=auth)).json()
    assert len(first["accounts"]) == 20 and first["accounts"][0]["name"] == "accounts/5000"
    rest = (await http.get(f"{url}/v1/accounts", headers=auth, params={"pageToken": first["nextPageToken"]})).json()
    assert len(rest["accounts"]) == 1 and "nextPageToken" not in rest
    page = (await http.get(f"{url}/v1/accounts/5000/locations", headers=auth, params={"readMask": "name"})).json()
    assert len(page["locations"]) == 10 and page["nextPageToken"]


async def test_service_disabled_per_api_and_quota_zero(twin: Twin, http: httpx.AsyncClient) -> None:
    url, control, _ = twin
    auth = {"Authorization": f"Bearer {(await tokens(http, url))['access_token']}"}
    await control.disable_service(INFO_API)
    assert (await http.get(f"{url}/v1/accounts", headers=auth)).status_code == 200
    off = await http.get(f"{url}/v1/accounts/1000/locations", headers=auth, params={"readMask": "name"})
    error = off.json()["error"]
    assert (off.status_code, error["status"]) == (403, "PERMISSION_DENIED")
    assert error["details"][1]["reason"] == "SERVICE_DISABLED"
    assert error["details"][1]["metadata"]["service"] == INFO_API
    assert INFO_API in error["details"][0]["links"][0]["url"]

    await control.reset()
    auth = {"Authorization": f"Bearer {(await tokens(http, url))['access_token']}"}
    await control.set_quota_zero()
    zero = await http.get(f"{url}/v1/accounts", headers=auth)
    assert (zero.status_code, zero.json()["error"]["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert zero.json()["error"]["details"][0]["metadata"]["quota_limit_value"] == "0"


async def test_counted_faults_and_the_call_log(twin: Twin, http: httpx.AsyncClient) -> None:
    url, control, _ = twin
    auth = {"Authorization": f"Bearer {(await tokens(http, url))['access_token']}"}
    await control.rate_limit(1, retry_after=12)
    limited = await http.get(f"{url}/v1/accounts", headers=auth)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "12")
    await control.server_error(2, status=500)
    assert [(await http.get(f"{url}/v1/accounts", headers=auth)).status_code for _ in range(3)] == [500, 500, 200]
    # A request under the wrong host's name is a 404, as it would be in production.
    assert (await http.get(f"{url}/oauth2.googleapis.com/v1/accounts", headers=auth)).status_code == 404

    calls = (await control.snapshot()).calls
    assert [c.status for c in calls[-5:]] == [429, 500, 500, 200, 404]
    assert calls[-1].host == "oauth2.googleapis.com" and calls[-1].path == "/v1/accounts"
    assert all(not c.path.startswith("/_twin") for c in calls)
