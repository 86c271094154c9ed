"""GoogleBusinessAdapter over real HTTP against the Google twin (the shared httpx client, no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from providers.base import Grant, StoredCredentials
from providers.errors import (
    ApiDisabled,
    AuthExpired,
    MetadataMissing,
    Permanent,
    PermissionMissing,
    RateLimited,
    Transient,
)
from providers.google.adapter import GoogleBusinessAdapter
from providers.http import build_http_client
from sandbox.google.twin import (
    ACCOUNTS_API,
    INFO_API,
    POSTS_API,
    GoogleTwinControl,
    GoogleTwinState,
    running_google_twin,
)
from sandbox.server import free_port
from storage.enums import Provider
from tests.providers.google_support import (
    BUSINESS_MANAGE,
    REDIRECT_URI,
    big_scenario,
    config_for,
    connect,
    follow_consent,
    make_adapter,
    pkce_pair,
)
from tests.timing import HELD, IMPATIENT

Twin = tuple[str, GoogleTwinControl, GoogleTwinState]
RECONNECT = "Google access was revoked or expired; reconnect"


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
    async with build_http_client() as client:
        yield client


@pytest.fixture
def adapter(twin: Twin, http: httpx.AsyncClient) -> GoogleBusinessAdapter:
    url, _, state = twin
    return make_adapter(url, http, state)


def stored(grant: Grant, location_name: str | None = "accounts/1000/locations/2001") -> StoredCredentials:
    return StoredCredentials(
        provider=Provider.google_business,
        external_id=location_name or "",
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        scopes=grant.scopes,
        location_name=location_name,
    )


def assert_no_tokens(exc: Exception, state: GoogleTwinState) -> None:
    """The raw body kept on an exception never carries a token."""
    text = repr(getattr(exc, "raw", {})) + str(exc)
    assert not any(t.token in text for t in state.tokens())
    assert "ya29." not in text and "1//" not in text


async def test_authorize_url_asks_for_offline_access_with_pkce(adapter: GoogleBusinessAdapter, twin: Twin) -> None:
    url = adapter.authorize_url(state="abc", redirect_uri=REDIRECT_URI, code_challenge="chal")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{twin[0]}/accounts.google.com/o/oauth2/v2/auth"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": "sandbox-google-client",
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": BUSINESS_MANAGE,
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": "abc",
        "code_challenge": "chal",
        "code_challenge_method": "S256",
    }
    assert adapter.uses_pkce and adapter.supports_refresh and adapter.required_scopes == (BUSINESS_MANAGE,)


async def test_consent_round_trip_lists_both_locations(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    _, control, state = twin
    grant = await connect(adapter, http)
    assert grant.refresh_token and grant.refresh_token.startswith("1//")
    assert grant.scopes == (BUSINESS_MANAGE,) and grant.subject_id
    assert grant.expires_at is not None
    assert abs(grant.expires_at - state.access_tokens[grant.access_token].expires_at) < timedelta(seconds=2)
    targets = await adapter.list_targets(grant)
    assert [(t.external_id, t.name, t.location_name, t.access_token) for t in targets] == [
        ("accounts/1000/locations/2001", "The Red Lion", "accounts/1000/locations/2001", None),
        ("accounts/1000/locations/2002", "The Red Lion Kitchen", "accounts/1000/locations/2002", None),
    ]
    assert targets[0].details["address"] == "1 High Street, Bristol, BS1 1AA"
    hosts = {(c.host, c.path.split("/")[1]) for c in (await control.snapshot()).calls}
    assert hosts == {
        ("accounts.google.com", "o"),
        ("oauth2.googleapis.com", "token"),
        ("oauth2.googleapis.com", "tokeninfo"),
        (ACCOUNTS_API, "v1"),
        (INFO_API, "v1"),
    }


async def test_wrong_pkce_verifier_is_refused(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    _, challenge = pkce_pair()
    callback = await follow_consent(
        http, adapter.authorize_url(state="s", redirect_uri=REDIRECT_URI, code_challenge=challenge)
    )
    with pytest.raises(AuthExpired) as caught:
        await adapter.exchange_code(code=callback["code"], redirect_uri=REDIRECT_URI, code_verifier=pkce_pair()[0])
    assert caught.value.code == "invalid_grant" and "connect again" in caught.value.message
    assert callback["code"] not in repr(caught.value.raw)


async def test_pagination_of_accounts_and_locations(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    _, control, _ = twin
    await control.set_scenario(big_scenario(accounts=23, locations_in_first=150))
    targets = await adapter.list_targets(await connect(adapter, http))
    assert len(targets) == 150 + 22
    assert targets[0].external_id == "accounts/5000/locations/700000"
    assert targets[-1].external_id == "accounts/5022/locations/722000"
    calls = (await control.snapshot()).calls
    assert sum("pageToken" in c.query for c in calls if c.path == "/v1/accounts") == 1
    assert sum("pageToken" in c.query for c in calls if c.path == "/v1/accounts/5000/locations") == 1


async def test_consent_denied_comes_back_as_access_denied(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    await twin[1].set_consent(deny=True)
    url = adapter.authorize_url(state="s9", redirect_uri=REDIRECT_URI, code_challenge=pkce_pair()[1])
    assert await follow_consent(http, url) == {"state": "s9", "error": "access_denied"}


async def test_business_manage_not_granted(adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient) -> None:
    await twin[1].set_consent(withhold_scopes=[BUSINESS_MANAGE])
    with pytest.raises(PermissionMissing) as caught:
        await connect(adapter, http)
    assert caught.value.scopes == [BUSINESS_MANAGE] and "business.manage" in caught.value.message
    assert_no_tokens(caught.value, twin[2])


async def test_missing_refresh_token_says_remove_access_and_connect_again(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    await connect(adapter, http)
    verifier, challenge = pkce_pair()
    # Another client of the same app consents again without prompt=consent: Google sends no refresh token.
    url = adapter.authorize_url(state="s", redirect_uri=REDIRECT_URI, code_challenge=challenge)
    callback = await follow_consent(http, url.replace("prompt=consent", "prompt=none"))
    with pytest.raises(Permanent) as caught:
        await adapter.exchange_code(code=callback["code"], redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert "myaccount.google.com" in (caught.value.remedy or "") and "connect again" in (caught.value.remedy or "")
    assert_no_tokens(caught.value, twin[2])


async def test_refresh_keeps_the_refresh_token(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    _, control, state = twin
    grant = await connect(adapter, http)
    await control.advance_clock(3600)
    with pytest.raises(AuthExpired):
        await adapter.list_targets(grant)  # the old access token has expired
    fresh = await adapter.refresh(stored(grant))
    assert fresh.refresh_token == grant.refresh_token and fresh.access_token != grant.access_token
    assert fresh.expires_at is not None and fresh.expires_at > state.clock.now() + timedelta(seconds=3500)
    assert len(await adapter.list_targets(fresh)) == 2


@pytest.mark.parametrize("how", ["revoked", "testing_expiry"])
async def test_dead_refresh_token_is_auth_expired(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient, how: str
) -> None:
    _, control, state = twin
    grant = await connect(adapter, http)
    if how == "revoked":
        await control.kill_refresh_token(grant.refresh_token)
    else:
        await control.set_publishing_status("testing")
        await control.advance_clock(7 * 86400 + 1)
    with pytest.raises(AuthExpired) as caught:
        await adapter.refresh(stored(grant))
    assert caught.value.message == RECONNECT and caught.value.code == "invalid_grant"
    assert_no_tokens(caught.value, state)


async def test_service_disabled_names_the_api(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    grant = await connect(adapter, http)
    await twin[1].disable_service(INFO_API)
    with pytest.raises(ApiDisabled) as caught:
        await adapter.list_targets(grant)
    assert caught.value.api == INFO_API
    assert caught.value.activation_url == (
        f"https://console.developers.google.com/apis/api/{INFO_API}/overview?project=123456789012"
    )
    assert "My Business Business Information API" in caught.value.message
    assert caught.value.raw["error"]["code"] == 403 and caught.value.subcode == "SERVICE_DISABLED"
    assert_no_tokens(caught.value, twin[2])


async def test_quota_zero_is_api_disabled(adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient) -> None:
    grant = await connect(adapter, http)
    await twin[1].set_quota_zero()
    with pytest.raises(ApiDisabled) as caught:
        await adapter.list_targets(grant)
    assert caught.value.api == ACCOUNTS_API and "no quota" in caught.value.message
    assert "request Business Profile API access" in (caught.value.remedy or "")


async def test_rate_limit_and_server_errors(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    _, control, _ = twin
    grant = await connect(adapter, http)
    await control.rate_limit(1, retry_after=17)
    with pytest.raises(RateLimited) as limited:
        await adapter.list_targets(grant)
    assert limited.value.retry_after == 17.0 and limited.value.http_status == 429
    for status in (500, 503):
        await control.server_error(1, status=status)
        with pytest.raises(Transient) as failed:
            await adapter.list_targets(grant)
        assert failed.value.sent and failed.value.http_status == status


async def test_timeouts_and_refused_connections_are_transient(twin: Twin) -> None:
    url, control, state = twin
    async with build_http_client(read_timeout=IMPATIENT) as quick:
        grant = await connect(make_adapter(url, quick, state), quick)
        await control.delay(1, seconds=HELD, apis=[ACCOUNTS_API])
        with pytest.raises(Transient) as slow:
            await make_adapter(url, quick, state).list_targets(grant)
        assert slow.value.sent is True
        nowhere = make_adapter(f"http://127.0.0.1:{free_port()}", quick, state)
        with pytest.raises(Transient) as refused:
            await nowhere.refresh(stored(grant))
        assert refused.value.sent is False


async def test_revoke_and_revoke_again(adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient) -> None:
    grant = await connect(adapter, http)
    await adapter.revoke(stored(grant))
    assert all(t.revoked for t in twin[2].tokens())
    await adapter.revoke(stored(grant))  # already revoked counts as done
    with pytest.raises(AuthExpired):
        await adapter.refresh(stored(grant))


async def test_diagnose_healthy(adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient) -> None:
    grant = await connect(adapter, http)
    diagnosis = await adapter.diagnose(stored(grant))
    assert diagnosis.healthy, diagnosis.findings
    assert {f.check for f in diagnosis.findings} == {
        "refresh_token",
        "scopes",
        "location",
        f"api_enabled:{ACCOUNTS_API}",
        f"api_enabled:{INFO_API}",
        f"api_enabled:{POSTS_API}",
    }
    assert diagnosis.scopes == (BUSINESS_MANAGE,)
    assert diagnosis.expires_at is not None and diagnosis.expires_at > twin[2].clock.now()


async def test_diagnose_broken(adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient) -> None:
    _, control, _ = twin
    grant = await connect(adapter, http)
    await control.disable_service(POSTS_API)
    await control.remove_location_access("2001")
    diagnosis = await adapter.diagnose(stored(grant))
    bad = {f.check: f for f in diagnosis.findings if not f.ok}
    assert set(bad) == {"location", f"api_enabled:{POSTS_API}"}
    assert "no longer manages" in bad["location"].message and bad["location"].remedy
    assert f"https://console.developers.google.com/apis/api/{POSTS_API}/overview" in (
        bad[f"api_enabled:{POSTS_API}"].remedy or ""
    )

    await control.kill_refresh_token(grant.refresh_token)
    dead = await adapter.diagnose(stored(grant))
    assert [(f.check, f.ok, f.message) for f in dead.findings] == [("refresh_token", False, RECONNECT)]


async def test_resolve_fills_the_location_name(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    grant = await connect(adapter, http)
    for hint in ("accounts/1000/locations/2002", "locations/2002", "2002"):
        target = await adapter.resolve(replace(stored(grant, location_name=None), external_id=hint))
        assert (target.location_name, target.name) == ("accounts/1000/locations/2002", "The Red Lion Kitchen")
    with pytest.raises(MetadataMissing):
        await adapter.resolve(stored(grant, location_name=None))  # two locations, no hint


async def test_no_token_ever_travels_in_a_url(
    adapter: GoogleBusinessAdapter, twin: Twin, http: httpx.AsyncClient
) -> None:
    _, control, _ = twin
    grant = await connect(adapter, http)
    await adapter.list_targets(grant)
    credentials = stored(await adapter.refresh(stored(grant)))
    await adapter.diagnose(credentials)
    await adapter.resolve(credentials)
    await adapter.revoke(credentials)
    snapshot = await control.snapshot()
    secrets = snapshot.token_values()
    assert len(secrets) >= 4
    assert not [c for c in snapshot.calls if any(s in c.query for s in secrets)]
    assert not [c for c in snapshot.calls if "access_token" in c.query or "token=" in c.query]
    api_calls = [c for c in snapshot.calls if c.path.startswith(("/v1/", "/v4/", "/tokeninfo"))]
    assert api_calls and all(c.authorization for c in api_calls)
    assert config_for("x").google_client_secret not in repr(snapshot.calls)
