"""Meta's deauthorize and data-deletion callbacks: a verified signed_request marks that user's connections."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from core.connections.meta_callbacks import sign_request
from core.runtime import Runtime
from core.settings import Settings
from storage.models import ConnectionStatus, Role
from tests import factories
from tests.connections.conftest import Twins
from tests.connections.support_lifecycle import (
    KITCHEN_PAGE,
    OWNER_FB_USER,
    RED_LION_IG,
    RED_LION_PAGE,
    connect_one,
    data_requests,
    database_dump,
    notes,
    row,
    secret,
)

OTHER_FB_USER = "100000000000002"
CROWN_PAGE = "109000000000003"
SECRETS = ("access_token", "refresh_token", "user_token")
TWO_LANDLORDS: list[dict[str, Any]] = [
    {
        "id": OWNER_FB_USER,
        "name": "Sandbox Owner",
        "pages": [
            {
                "id": RED_LION_PAGE,
                "name": "The Red Lion",
                "instagram": {"id": RED_LION_IG, "username": "theredlion", "name": "The Red Lion"},
            },
            {"id": KITCHEN_PAGE, "name": "The Red Lion Kitchen", "category": "Restaurant"},
        ],
    },
    {"id": OTHER_FB_USER, "name": "Crown Landlord", "pages": [{"id": CROWN_PAGE, "name": "The Crown"}]},
]


def signed(settings: Settings, user_id: str, **extra: Any) -> str:
    """A signed_request as Meta sends it, signed with our app secret."""
    return sign_request(
        {"user_id": user_id, "issued_at": int(time.time()), **extra}, settings.cheers_facebook_app_secret
    )


async def new_venue(runtime: Runtime) -> tuple[int, factories.Person]:
    venue = await factories.venue(runtime)
    return venue, await factories.person(runtime, venue_id=venue, role=Role.admin)


async def connect_as(
    client: httpx.AsyncClient, twins: Twins, admin: factories.Person, venue: int, provider: str, fb_user: str
) -> int:
    """Connect with `fb_user` answering Facebook's consent dialog."""
    await twins.meta.consent(user_id=fb_user)
    return await connect_one(client, admin, venue, provider)


async def test_deauthorize_revokes_that_users_connections_in_every_venue_and_nothing_else(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, settings: Settings
) -> None:
    await twins.meta.scenario(TWO_LANDLORDS)
    venue_a, admin_a = await new_venue(runtime)
    venue_b, admin_b = await new_venue(runtime)
    page_a = await connect_as(client, twins, admin_a, venue_a, "facebook", OWNER_FB_USER)
    instagram_a = await connect_as(client, twins, admin_a, venue_a, "instagram", OWNER_FB_USER)
    page_b = await connect_as(client, twins, admin_b, venue_b, "facebook", OWNER_FB_USER)
    crown = await connect_as(client, twins, admin_a, venue_a, "facebook", OTHER_FB_USER)
    location = await connect_one(client, admin_a, venue_a, "google_business")
    affected = {page_a: venue_a, instagram_a: venue_a, page_b: venue_b}

    await twins.meta.revoke_app(OWNER_FB_USER)  # the owner removes CheersAI in their Facebook settings
    r = await client.post("/meta/deauthorize", data={"signed_request": signed(settings, OWNER_FB_USER)})
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "connections": 3}, r.json()

    for cid, venue in affected.items():
        stored = await row(runtime, cid)
        assert stored.status is ConnectionStatus.revoked, (cid, stored.status)
        assert stored.status_reason == "the Facebook user removed CheersAI", stored.status_reason
        [alert] = await notes(runtime, "connection_revoked", connection_id=cid)
        assert alert.account_id == venue and alert.payload["remedy"], vars(alert)
    for cid in (crown, location):
        assert (await row(runtime, cid)).status is ConnectionStatus.active, "another login's connection is untouched"
        assert await notes(runtime, "connection_revoked", connection_id=cid) == []
    assert len(await notes(runtime, "connection_revoked")) == 3

    [request] = await data_requests(runtime)
    assert (request.kind, request.provider_user_id, request.status) == ("deauthorize", OWNER_FB_USER, "completed")
    assert sorted(request.connection_ids) == sorted(affected), request.connection_ids
    audited = await factories.audit_entries(runtime, "meta_deauthorize")
    assert sorted(int(e.subject_id or 0) for e in audited) == sorted(affected), [vars(e) for e in audited]


async def test_data_deletion_erases_the_tokens_and_answers_with_a_status_page(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, settings: Settings
) -> None:
    await twins.meta.scenario(TWO_LANDLORDS)
    venue, admin = await new_venue(runtime)
    page = await connect_as(client, twins, admin, venue, "facebook", OWNER_FB_USER)
    instagram = await connect_as(client, twins, admin, venue, "instagram", OWNER_FB_USER)
    crown = await connect_as(client, twins, admin, venue, "facebook", OTHER_FB_USER)
    erased = [await secret(runtime, cid, name) for cid in (page, instagram) for name in ("access_token", "user_token")]
    crown_token = await secret(runtime, crown)

    r = await client.post("/meta/data-deletion", data={"signed_request": signed(settings, OWNER_FB_USER)})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"url", "confirmation_code"}, answer
    code = answer["confirmation_code"]
    assert answer["url"] == f"{settings.cheers_public_url}/meta/data-deletion/{code}", answer

    status = await client.get(urlsplit(answer["url"]).path)
    assert status.status_code == 200, status.text
    assert code in status.text and "completed" in status.text, status.text
    assert (await client.get("/meta/data-deletion/not-a-code")).status_code == 404

    for cid in (page, instagram):
        stored = await row(runtime, cid)
        assert stored.status is ConnectionStatus.revoked, stored.status
        for name in SECRETS:
            assert getattr(stored, f"{name}_ciphertext") is None, f"{name} of {cid} should be erased"
            assert getattr(stored, f"{name}_hint") is None, f"{name} hint of {cid} should be erased"
        assert len(await notes(runtime, "connection_revoked", connection_id=cid)) == 1
    dump = await database_dump(runtime)
    leaked = [t[:8] for t in erased if t in dump]
    assert leaked == [], f"erased tokens still in the database: {leaked}"
    assert (await row(runtime, crown)).status is ConnectionStatus.active
    assert await secret(runtime, crown) == crown_token, "another Facebook user's tokens are kept"

    [request] = await data_requests(runtime)
    assert (request.kind, request.confirmation_code) == ("data_deletion", code), vars(request)
    assert sorted(request.connection_ids) == sorted([page, instagram]), request.connection_ids


def bad_requests(settings: Settings) -> dict[str, dict[str, str]]:
    # Meta's signature over one user's payload, put in front of another user's payload.
    signature = signed(settings, OTHER_FB_USER).split(".", 1)[0]
    payload = signed(settings, OWNER_FB_USER).split(".", 1)[1]
    return {
        "forged": {"signed_request": sign_request({"user_id": OWNER_FB_USER}, "not-our-app-secret")},
        "tampered": {"signed_request": f"{signature}.{payload}"},
        "malformed": {"signed_request": "this-is-not-a-signed-request"},
        "not-json": {"signed_request": "c2lnbmF0dXJl.bm90IGpzb24"},
        "no-user": {"signed_request": sign_request({"issued_at": 1}, settings.cheers_facebook_app_secret)},
        "missing": {},
    }


@pytest.mark.parametrize("variant", ["forged", "tampered", "malformed", "not-json", "no-user", "missing"])
async def test_a_callback_that_is_not_verifiably_from_meta_is_refused_and_changes_nothing(
    variant: str, runtime: Runtime, client: httpx.AsyncClient, twins: Twins, settings: Settings
) -> None:
    venue, admin = await new_venue(runtime)
    page = await connect_one(client, admin, venue, "facebook")
    instagram = await connect_one(client, admin, venue, "instagram")
    tokens = {cid: await secret(runtime, cid) for cid in (page, instagram)}
    form = bad_requests(settings)[variant]

    for path in ("/meta/deauthorize", "/meta/data-deletion"):
        r = await client.post(path, data=form)
        assert r.status_code == 422, f"{path}: {r.status_code} {r.text}"
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        assert "signed_request" in r.json()["detail"], r.json()

    for cid, token in tokens.items():
        stored = await row(runtime, cid)
        assert stored.status is ConnectionStatus.active, stored.status
        assert await secret(runtime, cid) == token, "tokens are untouched"
    assert await notes(runtime, "connection_revoked") == []
    assert await data_requests(runtime) == [], "nothing is recorded"
