"""PATCH /api/me chooses how the caller's own alerts reach them; GET /api/me shows it; the OpenAPI says so."""

from __future__ import annotations

import httpx

from core.runtime import Runtime
from tests import factories


async def test_patch_me_sets_alert_via(client: httpx.AsyncClient, runtime: Runtime) -> None:
    who = await factories.person(runtime, email="ada@anchor.test")
    assert (await client.get("/api/me", headers=who.headers)).json()["alert_via"] == "chat", "chat by default"
    r = await client.patch("/api/me", json={"alert_via": "email"}, headers=who.headers)
    assert r.status_code == 200, r.text
    assert r.json()["alert_via"] == "email"
    assert (await client.get("/api/me", headers=who.headers)).json()["alert_via"] == "email", "it was stored"
    assert len(await factories.audit_entries(runtime, "alert_via_changed")) == 1


async def test_patch_me_refuses_a_bad_value_and_email_without_an_address(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    who = await factories.person(runtime)  # no e-mail address
    bad = await client.patch("/api/me", json={"alert_via": "fax"}, headers=who.headers)
    assert bad.status_code == 422, bad.text
    assert "chat, email, both" in bad.json()["remedy"], bad.json()
    no_address = await client.patch("/api/me", json={"alert_via": "email"}, headers=who.headers)
    assert no_address.status_code == 422 and "no e-mail address" in no_address.json()["detail"], no_address.text
    assert (await client.get("/api/me", headers=who.headers)).json()["alert_via"] == "chat", "nothing changed"


async def test_the_openapi_shows_patch_me_with_alert_via(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/me"]["patch"]
    assert "alerts" in operation["summary"], operation["summary"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "alert_via" in schema["components"]["schemas"][ref]["properties"], schema["components"]["schemas"][ref]
