"""Facebook and Instagram adapters over real HTTP against the Meta twin, with the real httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from providers.base import Grant, ProviderConfig, StoredCredentials, Target
from providers.errors import AuthExpired, MetadataMissing, Permanent, PermissionMissing, RateLimited, Transient
from providers.http import build_http_client
from providers.meta.facebook import FacebookAdapter
from providers.meta.graph import DEFAULT_RETRY_AFTER
from providers.meta.instagram import InstagramAdapter
from providers.registry import ProviderAdapter
from sandbox.meta.state import MetaTwinState
from sandbox.meta.twin import DEFAULT_APP_ID, DEFAULT_APP_SECRET, MetaTwinControl, running_meta_twin
from sandbox.server import free_port
from storage.enums import Provider
from tests.timing import HELD, IMPATIENT

REDIRECT = "http://127.0.0.1:8000/oauth/facebook/callback?venue=7"  # a query of its own, kept byte-identical
RED_LION, KITCHEN, IG_RED_LION = "109000000000001", "109000000000002", "17841400000000001"


def config_for(url: str) -> ProviderConfig:
    return ProviderConfig(
        graph_url=url, facebook_dialog_url=url, facebook_app_id=DEFAULT_APP_ID, facebook_app_secret=DEFAULT_APP_SECRET
    )


@dataclass
class Meta:
    url: str
    control: MetaTwinControl
    state: MetaTwinState
    http: httpx.AsyncClient
    facebook: FacebookAdapter
    instagram: InstagramAdapter


@pytest.fixture
async def meta() -> AsyncIterator[Meta]:
    async with running_meta_twin(path_prefix="/graph") as (url, control, state), build_http_client() as http:
        now = state.clock.now  # the adapters judge expiry on the twin's clock
        yield Meta(
            url,
            control,
            state,
            http,
            FacebookAdapter(config_for(url), http, now=now),
            InstagramAdapter(config_for(url), http, now=now),
        )
        # Whatever a test did, no token or secret may ever have travelled in a URL we requested.
        assert [c for c in state.calls if c.secret_in_url] == []
        assert all(c.token_source in (None, "header") for c in state.calls)


def _as_protocol(meta: Meta) -> list[ProviderAdapter]:
    return [meta.facebook, meta.instagram]  # mypy checks both satisfy the Protocol


async def consent(meta: Meta, adapter: ProviderAdapter) -> dict[str, list[str]]:
    """Follow the dialog as a browser would and return the callback's query."""
    url = adapter.authorize_url(state="s-123", redirect_uri=REDIRECT, code_challenge=None)
    response = await meta.http.get(url)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "&")
    return parse_qs(urlsplit(location).query)


async def connect(meta: Meta, adapter: ProviderAdapter) -> Grant:
    query = await consent(meta, adapter)
    assert query["state"] == ["s-123"]
    return await adapter.exchange_code(code=query["code"][0], redirect_uri=REDIRECT, code_verifier=None)


def creds(target: Target, grant: Grant | None = None, **changes: Any) -> StoredCredentials:
    base = StoredCredentials(
        provider=target.provider,
        external_id=target.external_id,
        access_token=target.access_token,
        user_token=grant.access_token if grant else None,
        scopes=grant.scopes if grant else (),
        page_id=target.page_id,
        ig_business_id=target.ig_business_id,
    )
    return StoredCredentials(**{**base.__dict__, **changes})


# -- connecting ----------------------------------------------------------------------------------


async def test_facebook_round_trip(meta: Meta) -> None:
    url = meta.facebook.authorize_url(state="s-123", redirect_uri=REDIRECT, code_challenge="ignored")
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/graph/v25.0/dialog/oauth"
    assert query["scope"] == ["pages_show_list,pages_manage_posts,pages_read_engagement,business_management"]
    assert query["auth_type"] == ["rerequest"] and query["return_scopes"] == ["true"]
    assert "code_challenge" not in query and not meta.facebook.uses_pkce and not meta.facebook.supports_refresh

    grant = await connect(meta, meta.facebook)
    now = meta.state.now()
    assert grant.expires_at is not None and grant.expires_at - now > timedelta(days=59)
    assert grant.data_access_expires_at is not None and grant.subject_id == "100000000000001"
    assert {"pages_show_list", "pages_manage_posts", "pages_read_engagement"} <= set(grant.scopes)
    assert meta.state.tokens[grant.access_token].long_lived

    targets = await meta.facebook.list_targets(grant)
    assert [(t.name, t.external_id, t.page_id) for t in targets] == [
        ("The Red Lion", RED_LION, RED_LION),
        ("The Red Lion Kitchen", KITCHEN, KITCHEN),
    ]
    for target in targets:
        assert target.provider is Provider.facebook and target.token_expires_at is None
        assert meta.state.tokens[target.access_token or ""].kind == "PAGE"
        assert "CREATE_CONTENT" in target.details["tasks"] and target.details["can_publish"]


async def test_instagram_round_trip(meta: Meta) -> None:
    grant = await connect(meta, meta.instagram)
    assert {"instagram_basic", "instagram_content_publish"} <= set(grant.scopes)
    [target] = await meta.instagram.list_targets(grant)
    assert (target.provider, target.external_id, target.ig_business_id) == (
        Provider.instagram,
        IG_RED_LION,
        IG_RED_LION,
    )
    assert (target.name, target.page_id, target.details["page_name"]) == ("@theredlion", RED_LION, "The Red Lion")
    token = meta.state.tokens[target.access_token or ""]
    assert (token.kind, token.page_id, target.token_expires_at) == ("PAGE", RED_LION, None)


async def test_several_pages_give_several_targets_across_graph_pages(meta: Meta) -> None:
    pages = [{"name": f"Pub {i}", "instagram": {"username": f"pub{i}"} if i % 2 else None} for i in range(105)]
    await meta.control.scenario([{"name": "Chain Owner", "pages": [{k: v for k, v in p.items() if v} for p in pages]}])
    grant = await connect(meta, meta.facebook)
    assert [t.name for t in await meta.facebook.list_targets(grant)] == [f"Pub {i}" for i in range(105)]
    ig_targets = await meta.instagram.list_targets(await connect(meta, meta.instagram))
    assert [t.name for t in ig_targets] == [f"@pub{i}" for i in range(1, 105, 2)]
    accounts_calls = [c for c in meta.state.calls if c.path.endswith("/me/accounts")]
    assert len(accounts_calls) == 4  # two Graph pages of 100 for each adapter, followed by cursor


async def test_only_granted_pages_are_offered(meta: Meta) -> None:
    await meta.control.consent(page_ids=[KITCHEN])
    grant = await connect(meta, meta.facebook)
    assert [t.external_id for t in await meta.facebook.list_targets(grant)] == [KITCHEN]
    with pytest.raises(MetadataMissing) as caught:
        await meta.instagram.list_targets(await connect(meta, meta.instagram))
    assert "Meta Business Suite" in (caught.value.remedy or "")


async def test_no_page_ticked(meta: Meta) -> None:
    await meta.control.consent(page_ids=[])
    with pytest.raises(MetadataMissing):
        await meta.facebook.list_targets(await connect(meta, meta.facebook))


async def test_consent_denied_comes_back_as_an_error_callback(meta: Meta) -> None:
    await meta.control.consent(deny=True)
    query = await consent(meta, meta.facebook)
    assert query["error"] == ["access_denied"] and query["state"] == ["s-123"] and "code" not in query


@pytest.mark.parametrize(
    ("adapter", "denied"),
    [("facebook", ["pages_manage_posts"]), ("instagram", ["instagram_content_publish", "pages_read_engagement"])],
)
async def test_missing_scopes_are_named(meta: Meta, adapter: str, denied: list[str]) -> None:
    await meta.control.consent(denied_scopes=denied)
    with pytest.raises(PermissionMissing) as caught:
        await connect(meta, getattr(meta, adapter))
    assert caught.value.scopes == denied
    assert all(scope in caught.value.message for scope in denied)


async def test_reused_code_and_bad_secret_are_permanent(meta: Meta) -> None:
    query = await consent(meta, meta.facebook)
    await meta.facebook.exchange_code(code=query["code"][0], redirect_uri=REDIRECT, code_verifier=None)
    with pytest.raises(Permanent) as reused:
        await meta.facebook.exchange_code(code=query["code"][0], redirect_uri=REDIRECT, code_verifier=None)
    assert (reused.value.code, reused.value.subcode) == (100, 36007)
    wrong = FacebookAdapter(
        ProviderConfig(graph_url=meta.url, facebook_app_id=DEFAULT_APP_ID, facebook_app_secret="x"), meta.http
    )
    with pytest.raises(Permanent, match="app secret"):
        await wrong.exchange_code(
            code=(await consent(meta, meta.facebook))["code"][0], redirect_uri=REDIRECT, code_verifier=None
        )


async def test_refresh_is_not_supported(meta: Meta) -> None:
    grant = await connect(meta, meta.facebook)
    [target, _] = await meta.facebook.list_targets(grant)
    with pytest.raises(Permanent, match="reconnect"):
        await meta.facebook.refresh(creds(target, grant))


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "subcode", "words"),
    [("expire", 463, "expired"), ("revoke", 458, "removed"), ("password", 460, "password")],
)
async def test_dead_user_tokens_are_auth_expired(meta: Meta, fault: str, subcode: int, words: str) -> None:
    grant = await connect(meta, meta.facebook)
    if fault == "expire":
        await meta.control.expire_token()
    elif fault == "revoke":
        await meta.control.revoke_app()
    else:
        await meta.control.password_change()
    with pytest.raises(AuthExpired) as caught:
        await meta.facebook.list_targets(grant)
    assert caught.value.subcode == subcode and words in caught.value.message and caught.value.remedy
    assert grant.access_token not in str(caught.value.raw)


async def test_role_lost_is_auth_expired(meta: Meta) -> None:
    grant = await connect(meta, meta.facebook)
    [red_lion, _] = await meta.facebook.list_targets(grant)
    await meta.control.role_loss(RED_LION)
    with pytest.raises(AuthExpired) as caught:
        await meta.facebook.graph.get(RED_LION, token=red_lion.access_token or "")
    assert caught.value.subcode == 492 and "role" in caught.value.message


async def test_raw_error_never_keeps_the_token(meta: Meta) -> None:
    secret = "EAAUthis-is-a-token-that-does-not-exist"
    with pytest.raises(AuthExpired) as caught:
        await meta.facebook.graph.get("me", token="garbage" + secret)
    assert "garbage" not in str(caught.value.raw) and "[redacted]" in caught.value.raw["error"]["message"]


async def test_rate_limits(meta: Meta) -> None:
    grant = await connect(meta, meta.facebook)
    await meta.control.rate_limit(code=4, path_contains="/me/accounts")
    with pytest.raises(RateLimited) as app_level:
        await meta.facebook.list_targets(grant)
    assert app_level.value.code == 4 and app_level.value.retry_after == DEFAULT_RETRY_AFTER
    assert meta.facebook.graph.last_usage is not None and meta.facebook.graph.last_usage.app_percent == 100
    [target, _] = await meta.facebook.list_targets(grant)
    await meta.control.rate_limit(code=80001, regain_minutes=12)
    with pytest.raises(RateLimited) as page_level:
        await meta.facebook.graph.get(RED_LION, token=target.access_token or "")
    assert page_level.value.retry_after == 12 * 60
    assert meta.facebook.graph.last_usage.business == {RED_LION: 100}


async def test_usage_is_remembered_for_pacing(meta: Meta) -> None:
    await meta.control.settings(usage={"call_count": 12, "total_time": 30, "total_cputime": 4})
    await connect(meta, meta.facebook)
    usage = meta.facebook.graph.last_usage
    assert usage is not None and usage.app_percent == 30 and usage.highest == 30


async def test_server_errors_are_transient(meta: Meta) -> None:
    query = await consent(meta, meta.facebook)
    await meta.control.server_error(code=2, path_contains="access_token")
    with pytest.raises(Transient) as caught:
        await meta.facebook.exchange_code(code=query["code"][0], redirect_uri=REDIRECT, code_verifier=None)
    assert caught.value.sent and caught.value.http_status == 500 and caught.value.code == 2


async def test_timeouts_and_refused_connections_are_transient(meta: Meta) -> None:
    async with build_http_client(read_timeout=IMPATIENT) as impatient:
        adapter = FacebookAdapter(config_for(meta.url), impatient)
        grant = await connect(meta, adapter)
        await meta.control.delay(HELD, path_contains="/me/accounts")
        with pytest.raises(Transient) as timed_out:
            await adapter.list_targets(grant)
        assert timed_out.value.sent is True
    nowhere = FacebookAdapter(config_for(f"http://127.0.0.1:{free_port()}"), meta.http)
    with pytest.raises(Transient) as refused:
        await nowhere.list_targets(grant)
    assert refused.value.sent is False


# -- revoke, diagnose, resolve -------------------------------------------------------------------


async def test_revoke_deletes_permissions_once_and_tolerates_repeat(meta: Meta) -> None:
    grant = await connect(meta, meta.facebook)
    [target, _] = await meta.facebook.list_targets(grant)
    await meta.facebook.revoke(creds(target, grant))
    assert [(c.method, c.path) for c in meta.state.calls if c.method == "DELETE"] == [
        ("DELETE", "/graph/v25.0/me/permissions")
    ]
    assert meta.state.revocations[0]["via"] == "api"
    await meta.facebook.revoke(creds(target, grant))  # already revoked: done, no error
    with pytest.raises(Permanent):
        await meta.facebook.revoke(creds(target, None))


async def test_diagnose_healthy_facebook_and_instagram(meta: Meta) -> None:
    fb_grant = await connect(meta, meta.facebook)
    [red_lion, _] = await meta.facebook.list_targets(fb_grant)
    fb = await meta.facebook.diagnose(creds(red_lion, fb_grant))
    assert fb.healthy, fb.findings
    assert [f.check for f in fb.findings] == [
        "token_valid",
        "user_token",
        "data_access",
        "scopes",
        "page_reachable",
        "page_task",
    ]
    assert fb.expires_at == fb_grant.expires_at and fb.data_access_expires_at == fb_grant.data_access_expires_at
    ig_grant = await connect(meta, meta.instagram)
    [ig_target] = await meta.instagram.list_targets(ig_grant)
    ig = await meta.instagram.diagnose(creds(ig_target, ig_grant))
    assert ig.healthy and ig.findings[-1].check == "instagram_linked"


async def test_diagnose_expired(meta: Meta) -> None:
    grant = await connect(meta, meta.facebook)
    [target, _] = await meta.facebook.list_targets(grant)
    await meta.control.expire_token(user_id="100000000000001")
    diagnosis = await meta.facebook.diagnose(creds(target, grant))
    failing = {f.check: f for f in diagnosis.findings if not f.ok}
    assert set(failing) == {"token_valid", "user_token"}
    assert "expired" in failing["token_valid"].message and failing["token_valid"].remedy


async def test_diagnose_missing_scope_and_lost_role(meta: Meta) -> None:
    grant = await connect(meta, meta.facebook)
    [target, _] = await meta.facebook.list_targets(grant)
    await meta.control.drop_scope("pages_manage_posts")
    [scopes] = [f for f in (await meta.facebook.diagnose(creds(target, grant))).findings if not f.ok]
    assert scopes.check == "scopes" and "pages_manage_posts" in scopes.message and scopes.remedy
    await meta.control.role_loss(RED_LION)
    [lost] = [f for f in (await meta.facebook.diagnose(creds(target, grant))).findings if f.check == "token_valid"]
    assert not lost.ok and "role" in lost.message and "Page access" in (lost.remedy or "")


async def test_diagnose_unlinked_instagram(meta: Meta) -> None:
    grant = await connect(meta, meta.instagram)
    [target] = await meta.instagram.list_targets(grant)
    await meta.control.unlink_instagram(RED_LION)
    diagnosis = await meta.instagram.diagnose(creds(target, grant))
    [unlinked] = [f for f in diagnosis.findings if not f.ok]
    assert unlinked.check == "instagram_linked" and "Meta Business Suite" in (unlinked.remedy or "")


async def test_resolve_fills_ids_from_a_page_token_or_user_token(meta: Meta) -> None:
    grant = await connect(meta, meta.instagram)
    [target] = await meta.instagram.list_targets(grant)
    from_page = await meta.instagram.resolve(creds(target, external_id="imported:1", page_id=None, ig_business_id=None))
    assert (from_page.page_id, from_page.ig_business_id) == (RED_LION, IG_RED_LION)
    only_user = StoredCredentials(Provider.facebook, "imported:2", access_token=grant.access_token, page_id=KITCHEN)
    assert (await meta.facebook.resolve(only_user)).name == "The Red Lion Kitchen"
    with pytest.raises(MetadataMissing, match="2 places"):
        await meta.facebook.resolve(StoredCredentials(Provider.facebook, "imported:3", access_token=grant.access_token))


async def test_calls_we_make_keep_tokens_out_of_urls(meta: Meta) -> None:
    grant = await connect(meta, meta.instagram)
    [target] = await meta.instagram.list_targets(grant)
    await meta.instagram.diagnose(creds(target, grant))
    await meta.instagram.revoke(creds(target, grant))
    calls = await meta.control.calls()
    graph_calls = [c for c in calls if "/dialog/" not in c["path"]]
    assert graph_calls and not any(c["secret_in_url"] for c in calls)
    assert all(c["token_source"] == "header" for c in graph_calls if "access_token" not in c["path"])
    assert {"client_secret", "code"} <= set(next(c for c in calls if c["path"].endswith("access_token"))["form_keys"])
