"""The Meta twin speaks Graph's protocol: dialog, token endpoint, debug_token, reads, faults, control."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.meta.graph import parse_fields
from sandbox.meta.state import MetaTwinState
from sandbox.meta.twin import DEFAULT_APP_ID, DEFAULT_APP_SECRET, MetaTwinControl, running_meta_twin
from tests.timing import HELD, IMPATIENT

APP_TOKEN = f"{DEFAULT_APP_ID}|{DEFAULT_APP_SECRET}"
REDIRECT = "http://127.0.0.1:8000/oauth/facebook/callback"
RED_LION, KITCHEN, IG_RED_LION = "109000000000001", "109000000000002", "17841400000000001"
OWNER = "100000000000001"


@dataclass
class Twin:
    url: str
    control: MetaTwinControl
    state: MetaTwinState
    http: httpx.AsyncClient

    async def dialog(self, scope: str = "pages_show_list,pages_manage_posts", **extra: str) -> httpx.Response:
        params = {"client_id": DEFAULT_APP_ID, "redirect_uri": REDIRECT, "state": "st4te", "scope": scope, **extra}
        return await self.http.get(f"{self.url}/v25.0/dialog/oauth", params=params)

    async def code(self, scope: str = "pages_show_list,pages_manage_posts,instagram_basic") -> str:
        response = await self.dialog(scope)
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]

    async def token(self, code: str | None = None, **overrides: str) -> httpx.Response:
        form = {"client_id": DEFAULT_APP_ID, "client_secret": DEFAULT_APP_SECRET, "redirect_uri": REDIRECT}
        form |= {"code": code or await self.code(), **overrides}
        return await self.http.post(f"{self.url}/v25.0/oauth/access_token", data=form)

    async def user_token(self, *, long_lived: bool = True) -> str:
        short = str((await self.token()).json()["access_token"])
        if not long_lived:
            return short
        form = {
            "grant_type": "fb_exchange_token",
            "client_id": DEFAULT_APP_ID,
            "client_secret": DEFAULT_APP_SECRET,
            "fb_exchange_token": short,
        }
        return str((await self.http.post(f"{self.url}/v25.0/oauth/access_token", data=form)).json()["access_token"])

    async def get(self, path: str, token: str | None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.get(f"{self.url}/v25.0/{path}", params=params, headers=headers)

    async def debug(self, input_token: str) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.url}/debug_token",
            data={"input_token": input_token},
            headers={"Authorization": f"OAuth {APP_TOKEN}"},
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data


@pytest.fixture
async def twin() -> AsyncIterator[Twin]:
    async with running_meta_twin() as (url, control, state), httpx.AsyncClient() as http:
        yield Twin(url, control, state, http)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "OAuthException" and error["fbtrace_id"]
    return error


async def test_default_scenario_is_the_red_lion(twin: Twin) -> None:
    state = await twin.control.state()
    assert [u["name"] for u in state["users"]] == ["Sandbox Owner"]
    assert {p["name"]: p["instagram_id"] for p in state["pages"]} == {
        "The Red Lion": IG_RED_LION,
        "The Red Lion Kitchen": None,
    }
    assert state["instagram"][0]["username"] == "theredlion"


async def test_dialog_redirects_with_code_state_and_scopes(twin: Twin) -> None:
    await twin.control.consent(denied_scopes=["instagram_basic"])
    response = await twin.dialog("pages_show_list,instagram_basic", return_scopes="true", auth_type="rerequest")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["st4te"] and query["code"][0]
    assert query["granted_scopes"] == ["pages_show_list,public_profile"]
    assert query["denied_scopes"] == ["instagram_basic"]


async def test_dialog_deny_and_unknown_app(twin: Twin) -> None:
    await twin.control.consent(deny=True)
    query = parse_qs(urlsplit((await twin.dialog()).headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["error_reason"] == ["user_denied"]
    assert query["error_description"] == ["Permissions error"] and query["state"] == ["st4te"]
    bad = await twin.http.get(f"{twin.url}/v25.0/dialog/oauth", params={"client_id": "nope", "redirect_uri": REDIRECT})
    assert bad.status_code == 400 and "Invalid App ID" in bad.text


async def test_code_exchange_rules(twin: Twin) -> None:
    code = await twin.code()
    wrong_redirect = await twin.token(code, redirect_uri=REDIRECT + "/")
    assert wrong_redirect.status_code == 400 and error_of(wrong_redirect)["code"] == 100
    wrong_secret = await twin.token(code, client_secret="nope")
    assert wrong_secret.status_code == 400 and error_of(wrong_secret)["code"] == 1
    ok = await twin.token(code)
    assert ok.status_code == 200 and ok.json()["expires_in"] == 5400 and ok.json()["token_type"] == "bearer"
    reused = await twin.token(code)
    assert (error_of(reused)["code"], error_of(reused)["error_subcode"]) == (100, 36007)
    late = await twin.code()
    await twin.control.advance_clock(11 * 60)
    assert error_of(await twin.token(late))["error_subcode"] == 36007


async def test_long_lived_exchange_and_configurable_lifetime(twin: Twin) -> None:
    await twin.control.settings(code_expires_in=7200)
    assert (await twin.token()).json()["expires_in"] == 7200
    long = await twin.user_token()
    info = await twin.debug(long)
    assert info["is_valid"] and info["type"] == "USER" and info["user_id"] == OWNER
    assert info["expires_at"] - int(twin.state.now().timestamp()) == pytest.approx(5_184_000, abs=2)
    assert info["data_access_expires_at"] > info["issued_at"]


async def test_page_tokens_lifetime_follows_the_user_token(twin: Twin) -> None:
    for long_lived, lifetime in ((True, 0), (False, 3600)):
        user = await twin.user_token(long_lived=long_lived)
        pages = (await twin.get("me/accounts", user)).json()["data"]
        assert {p["name"] for p in pages} == {"The Red Lion", "The Red Lion Kitchen"}
        info = await twin.debug(pages[0]["access_token"])
        assert info["type"] == "PAGE" and info["profile_id"] == pages[0]["id"]
        expected = 0 if lifetime == 0 else int(twin.state.now().timestamp()) + lifetime
        assert info["expires_at"] == pytest.approx(expected, abs=2)


async def test_debug_token_invalid_and_auth(twin: Twin) -> None:
    garbage = await twin.debug("EAAUnot-a-real-token")
    assert garbage["is_valid"] is False and garbage["error"]["code"] == 190
    unauthenticated = await twin.http.post(f"{twin.url}/debug_token", data={"input_token": "x"})
    assert unauthenticated.status_code == 400
    user = await twin.user_token()
    by_user_token = await twin.http.get(f"{twin.url}/debug_token", params={"input_token": user, "access_token": user})
    assert by_user_token.json()["data"]["is_valid"] is True
    wrong_app = await twin.http.get(
        f"{twin.url}/debug_token", params={"input_token": user}, headers={"Authorization": "Bearer a|b"}
    )
    assert error_of(wrong_app)["code"] == 190


async def test_tokens_accepted_in_header_query_and_form_and_logged(twin: Twin) -> None:
    user = await twin.user_token()
    assert (await twin.http.get(f"{twin.url}/me", params={"access_token": user})).json()["name"] == "Sandbox Owner"
    assert (await twin.get("me", user, fields="id,name,picture")).json()["picture"]["data"]["url"]
    await twin.http.post(f"{twin.url}/v25.0/me/permissions/instagram_basic", data={"access_token": user})
    calls = await twin.control.calls()
    assert [c["token_source"] for c in calls[-3:]] == ["query", "header", "form"]
    assert [c["secret_in_url"] for c in calls[-3:]] == [True, False, False]
    assert calls[-1]["form_keys"] == ["access_token"]


async def test_json_bodies_are_accepted(twin: Twin) -> None:
    code = await twin.code()
    body = {"client_id": DEFAULT_APP_ID, "client_secret": DEFAULT_APP_SECRET, "redirect_uri": REDIRECT, "code": code}
    response = await twin.http.post(f"{twin.url}/oauth/access_token", json=body)
    assert response.status_code == 200 and response.json()["access_token"].startswith("EAA")


async def test_accounts_paging_and_instagram_field(twin: Twin) -> None:
    user = await twin.user_token()
    first = (
        await twin.get("me/accounts", user, limit="1", fields="id,name,instagram_business_account{id,username}")
    ).json()
    assert first["data"] == [
        {
            "id": RED_LION,
            "name": "The Red Lion",
            "instagram_business_account": {"id": IG_RED_LION, "username": "theredlion"},
        }
    ]
    assert "access_token=" in first["paging"]["next"]  # as Meta does; our client must not follow it
    after = first["paging"]["cursors"]["after"]
    second = (
        await twin.get("me/accounts", user, limit="1", after=after, fields="id,instagram_business_account")
    ).json()
    assert second["data"] == [{"id": KITCHEN}] and "next" not in second["paging"]


async def test_only_granted_pages_are_listed_and_reachable(twin: Twin) -> None:
    await twin.control.consent(page_ids=[KITCHEN])
    user = await twin.user_token()
    assert [p["id"] for p in (await twin.get("me/accounts", user)).json()["data"]] == [KITCHEN]
    hidden = await twin.get(RED_LION, user)
    assert (error_of(hidden)["code"], error_of(hidden)["error_subcode"]) == (100, 33)
    assert (await twin.get(KITCHEN, user, fields="id,name,tasks")).json()["tasks"][3] == "CREATE_CONTENT"


async def test_page_and_instagram_nodes(twin: Twin) -> None:
    user = await twin.user_token()
    page = (await twin.get(RED_LION, user, fields="id,name,access_token,instagram_business_account,tasks")).json()
    assert page["instagram_business_account"] == {"id": IG_RED_LION} and page["access_token"].startswith("EAAP")
    ig = (await twin.get(IG_RED_LION, page["access_token"], fields="username,name,profile_picture_url")).json()
    assert ig["username"] == "theredlion" and ig["profile_picture_url"].startswith("https://")
    assert (await twin.get("me", page["access_token"])).json() == {"id": RED_LION, "name": "The Red Lion"}


async def test_permissions_and_revocation(twin: Twin) -> None:
    await twin.control.consent(denied_scopes=["instagram_basic"])
    user = await twin.user_token()
    rows = (await twin.get("me/permissions", user)).json()["data"]
    assert {"permission": "instagram_basic", "status": "declined"} in rows
    assert {"permission": "pages_show_list", "status": "granted"} in rows
    page_token = (await twin.get("me/accounts", user)).json()["data"][0]["access_token"]
    deleted = await twin.http.delete(f"{twin.url}/v25.0/me/permissions", headers={"Authorization": f"Bearer {user}"})
    assert deleted.json() == {"success": True}
    for token in (user, page_token):
        error = error_of(await twin.get("me", token))
        assert (error["code"], error["error_subcode"]) == (190, 458)
    assert (await twin.control.state())["revocations"][0]["via"] == "api"


async def test_token_faults(twin: Twin) -> None:
    user = await twin.user_token()
    page_token = (await twin.get("me/accounts", user)).json()["data"][0]["access_token"]
    await twin.control.role_loss(RED_LION)
    assert error_of(await twin.get("me", page_token))["error_subcode"] == 492
    assert [p["id"] for p in (await twin.get("me/accounts", user)).json()["data"]] == [KITCHEN]
    await twin.control.password_change()
    assert error_of(await twin.get("me", user))["error_subcode"] == 460
    fresh = await twin.user_token()
    assert await twin.control.expire_token(token=fresh) == 1
    expired = error_of(await twin.get("me", fresh))
    assert expired["error_subcode"] == 463 and "Session has expired on" in expired["message"]
    assert error_of(await twin.get("me", "garbage"))["message"].startswith("Malformed access token")


async def test_drop_scope_and_unlink_instagram(twin: Twin) -> None:
    user = await twin.user_token()
    await twin.control.drop_scope("pages_show_list")
    refused = await twin.get("me/accounts", user)
    assert refused.status_code == 403 and error_of(refused)["code"] == 200
    await twin.control.unlink_instagram(RED_LION)
    assert (
        "instagram_business_account" not in (await twin.get(RED_LION, user, fields="instagram_business_account")).json()
    )


async def test_rate_limit_with_usage_headers(twin: Twin) -> None:
    user = await twin.user_token()
    page_token = (await twin.get("me/accounts", user)).json()["data"][0]["access_token"]
    await twin.control.rate_limit(2, code=32, regain_minutes=7)
    throttled = await twin.get("me", page_token)
    assert throttled.status_code == 400 and error_of(throttled)["code"] == 32
    assert throttled.headers["x-app-usage"] == '{"call_count": 100, "total_time": 100, "total_cputime": 100}'
    assert '"estimated_time_to_regain_access": 7' in throttled.headers["x-business-use-case-usage"]
    assert error_of(await twin.get("me", user))["code"] == 32
    assert (await twin.get("me", user)).status_code == 200


async def test_server_errors_and_path_filter(twin: Twin) -> None:
    user = await twin.user_token()
    await twin.control.server_error(1, code=2, path_contains="/me/accounts")
    assert (await twin.get("me", user)).status_code == 200
    failed = await twin.get("me/accounts", user)
    assert failed.status_code == 500 and error_of(failed)["code"] == 2 and error_of(failed)["is_transient"] is True
    assert (await twin.get("me/accounts", user)).status_code == 200


async def test_delay_fault_holds_the_answer(twin: Twin) -> None:
    await twin.control.delay(HELD)
    with pytest.raises(httpx.ReadTimeout):
        await twin.http.get(f"{twin.url}/me", timeout=httpx.Timeout(5.0, read=IMPATIENT))


async def test_usage_header_setting_and_reset(twin: Twin) -> None:
    await twin.control.settings(usage={"call_count": 40, "total_time": 10, "total_cputime": 5})
    assert "call_count" in (await twin.get("me", "x")).headers["x-app-usage"]
    await twin.control.reset()
    state = await twin.control.state()
    assert state["tokens"] == [] and state["calls"] == [] and state["faults"] == []


async def test_custom_scenario(twin: Twin) -> None:
    ids = await twin.control.scenario(
        [{"name": "Pat", "pages": [{"name": "The Anchor", "tasks": ["ANALYZE"], "instagram": {"username": "anchor"}}]}]
    )
    user = await twin.user_token()
    page = (await twin.get("me/accounts", user, fields="name,tasks,instagram_business_account{username}")).json()
    assert page["data"][0]["tasks"] == ["ANALYZE"]
    assert page["data"][0]["instagram_business_account"] == {"id": ids["instagram"][0], "username": "anchor"}


def test_parse_fields_handles_nesting_and_modifiers() -> None:
    assert parse_fields("id,picture.type(large),instagram_business_account{id,username},name") == {
        "id": None,
        "picture": None,
        "instagram_business_account": "id,username",
        "name": None,
    }
