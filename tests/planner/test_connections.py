"""The planner's Connections page: each connection's health in plain words, connect and reconnect through the API's
consent flow, diagnose with its findings, disconnect after a confirm step, and admins' masked tokens with an audited
one-time reveal; buttons hidden and actions refused (403) below the role the API asks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.connections.lifecycle import REVEALS_PER_HOUR
from core.runtime import Runtime
from providers.base import Diagnosis, Finding, StoredCredentials
from storage.models import Connection, ConnectionStatus, Provider, Role
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies, sign_in
from tests.publishing.support import schedule

HTMX = {"HX-Request": "true"}
PAGE = "/planner/connections"
TOKEN = "EAAB-raw-page-token-0123456789"


@dataclass
class Clinic:
    """A platform as far as this page calls it: `diagnose` answers `findings`, `revoke` is counted."""

    provider: Provider
    findings: tuple[Finding, ...] = (Finding("token_valid", True, "The Page token works."),)
    revoked: list[str] = field(default_factory=list)
    uses_pkce: bool = False

    async def diagnose(self, credentials: StoredCredentials) -> Diagnosis:
        return Diagnosis(findings=self.findings, scopes=("pages_manage_posts",))

    async def revoke(self, credentials: StoredCredentials) -> None:
        self.revoked.append(credentials.external_id)


def use_clinic(runtime: Runtime, *findings: Finding) -> Clinic:
    clinic = Clinic(Provider.facebook, findings) if findings else Clinic(Provider.facebook)
    runtime.use_providers({p: clinic for p in Provider})  # type: ignore[misc]
    return clinic


def actions(html: str) -> list[str]:
    return re.findall(r'data-action="([a-z_-]+)"', html)


async def row(runtime: Runtime, connection_id: int) -> Connection:
    async with runtime.uow() as uow:
        found = await uow.session.get(Connection, connection_id)
        assert found is not None
        return found


async def test_the_page_lists_each_connection_with_its_health_in_plain_words(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    working = await factories.connection(runtime, signed_in.venue_id, access_token=TOKEN)
    broken = await factories.connection(
        runtime, signed_in.venue_id, access_token="other", status=ConnectionStatus.needs_reconnect
    )
    r = await signed_in.get(PAGE)
    assert r.status_code == 200, r.text
    assert 'href="/planner/connections" aria-current="page"' in r.text, "Connections is not in the nav"
    working_card = r.text.split(f'id="connection-{working}"')[1].split("</article>")[0]
    broken_card = r.text.split(f'id="connection-{broken}"')[1].split("</article>")[0]
    assert "Facebook Page" in working_card and "Working" in working_card, working_card
    assert "Needs reconnecting" in broken_card and "badge-error" in broken_card, broken_card
    assert TOKEN not in r.text, "the raw token is on the page before any reveal"
    assert actions(working_card) == ["reveal", "diagnose", "reconnect", "disconnect"], actions(working_card)
    assert actions(r.text)[-3:] == ["connect-facebook", "connect-instagram", "connect-google_business"]


async def test_a_viewer_sees_health_but_no_tokens_or_buttons_and_is_refused(
    signed_in: SignedIn, runtime: Runtime
) -> None:
    connection_id = await factories.connection(runtime, signed_in.venue_id, access_token=TOKEN)
    viewer = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.viewer)
    async with factories.app_client(runtime) as client:
        browser = await sign_in(client, runtime, viewer)
        page = await client.get(PAGE)
        assert page.status_code == 200 and "Working" in page.text, page.text
        assert actions(page.text) == [] and "Publishing token" not in page.text, actions(page.text)
        for action in ("diagnose", "reveal", "disconnect", "reconnect"):
            r = await client.post(f"{PAGE}/{connection_id}/{action}", data={"csrf_token": browser.csrf})
            assert r.status_code == 403, f"a viewer's {action}: {r.status_code}"
        refused = await client.post(f"{PAGE}/connect", data={"csrf_token": browser.csrf, "provider": "facebook"})
        assert refused.status_code == 403, refused.text
    assert (await row(runtime, connection_id)).status is ConnectionStatus.active, "a viewer's disconnect went through"
    assert await factories.audit_entries(runtime, "token_revealed") == [], "a viewer's reveal was recorded"


async def test_an_editor_diagnoses_and_sees_the_findings_but_no_admin_buttons(
    signed_in: SignedIn, runtime: Runtime
) -> None:
    connection_id = await factories.connection(runtime, signed_in.venue_id, access_token=TOKEN)
    use_clinic(
        runtime,
        Finding("token_valid", True, "The Page token works."),
        Finding("page_task", False, "You can no longer post to this Page.", "Ask a Page admin to give you posting."),
    )
    editor = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor)
    async with factories.app_client(runtime) as client:
        browser = await sign_in(client, runtime, editor)
        page = await client.get(PAGE)
        assert actions(page.text) == ["diagnose"], actions(page.text)
        toast = await client.post(f"{PAGE}/{connection_id}/diagnose", data={"csrf_token": browser.csrf}, headers=HTMX)
        assert toast.status_code == 200 and "toast-warning" in toast.text, toast.text
        assert "needs attention" in toast.text and "<html" not in toast.text, "htmx should get only the toast"
        shown = await client.get(PAGE)
    assert "Last checked" in shown.text and "Problem:" in shown.text, "the findings are not on the page"
    assert "You can no longer post to this Page." in shown.text, shown.text
    assert "Ask a Page admin to give you posting." in shown.text, "the finding's remedy is missing"
    assert "OK:" in shown.text and "The Page token works." in shown.text, "a passing check is not listed"


async def test_diagnose_without_javascript_redirects_with_a_flash_and_a_dead_token_needs_reconnecting(
    signed_in: SignedIn,
) -> None:
    runtime = signed_in.runtime
    connection_id = await factories.connection(runtime, signed_in.venue_id, access_token=TOKEN)
    use_clinic(runtime, Finding("token_valid", False, "Facebook no longer accepts this login.", "Reconnect it."))
    plain = await signed_in.post_form(f"{PAGE}/{connection_id}/diagnose")
    assert (plain.status_code, plain.headers["location"]) == (303, PAGE), plain.text
    carry_cookies(signed_in.client, plain)
    shown = await signed_in.get(PAGE)
    assert "toast-warning" in shown.text and "needs attention" in shown.text, "the flash did not show the outcome"
    assert "Needs reconnecting" in shown.text, "a dead token did not mark the connection for reconnecting"
    assert (await row(runtime, connection_id)).status is ConnectionStatus.needs_reconnect


async def test_connect_and_reconnect_start_the_apis_consent_flow_and_come_back_here(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    connection_id = await factories.connection(runtime, signed_in.venue_id, access_token=TOKEN)
    started = await signed_in.post_form(f"{PAGE}/connect", {"provider": "instagram"})
    assert started.status_code == 303 and "/oauth/instagram/start?state=" in started.headers["location"], started.text
    landing = await signed_in.get(started.headers["location"].removeprefix(runtime.settings.cheers_public_url))
    assert "Connect Instagram to The Crown" in landing.text, landing.text
    again = await signed_in.post_form(f"{PAGE}/{connection_id}/reconnect")
    assert again.status_code == 303 and "/oauth/facebook/start?state=" in again.headers["location"], again.text
    renewing = await signed_in.get(again.headers["location"].removeprefix(runtime.settings.cheers_public_url))
    assert "Reconnect Facebook Page" in renewing.text, renewing.text
    assert [len(await factories.audit_entries(runtime, a)) for a in ("connect_started", "reconnect_started")] == [1, 1]
    unknown = await signed_in.post_form(f"{PAGE}/connect", {"provider": "myspace"})
    assert unknown.status_code == 422 and "choose Facebook" in unknown.text, unknown.text


async def test_disconnect_asks_first_then_revokes_and_keeps_the_history(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    clinic = use_clinic(runtime)
    connection_id = await factories.connection(runtime, signed_in.venue_id, access_token=TOKEN)
    quiet = await signed_in.get(f"{PAGE}/{connection_id}/disconnect")
    assert quiet.status_code == 200 and "Disconnect Facebook Page" in quiet.text, quiet.text
    assert "No post is waiting to go out there." in quiet.text, quiet.text
    for day in ("2027-01-05", "2027-01-06"):
        await schedule(runtime, signed_in.venue_id, [connection_id], text="Roast", when=f"{day}T12:00")
    confirm = await signed_in.get(f"{PAGE}/{connection_id}/disconnect")
    assert "2 posts still to go out there" in confirm.text, "the confirm step does not say what it costs"
    forged = await signed_in.client.post(f"{PAGE}/{connection_id}/disconnect")
    assert forged.status_code == 403 and clinic.revoked == [], "disconnected without the CSRF token"
    done = await signed_in.post_form(f"{PAGE}/{connection_id}/disconnect", headers=HTMX)
    assert "Disconnected Page" in done.text and "Access revoked at the provider" in done.text, done.text
    assert len(clinic.revoked) == 1 and (await row(runtime, connection_id)).status is ConnectionStatus.disconnected
    page = await signed_in.get(PAGE)
    gone = page.text.split('id="gone-title"')[1]
    assert f'id="connection-{connection_id}"' in gone, "a disconnected connection is not listed as disconnected"
    assert (await signed_in.get(f"{PAGE}/{connection_id}/disconnect")).status_code == 404, "confirming twice"
    [entry] = await factories.audit_entries(runtime, "connection_disconnected")
    assert entry.actor_user_id == signed_in.person.user_id


async def test_an_admin_reveals_a_token_once_audited_and_the_list_stays_masked(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    connection_id = await factories.connection(runtime, signed_in.venue_id, access_token=TOKEN)
    page = await signed_in.get(PAGE)
    assert "Publishing token" in page.text and TOKEN[-4:] in page.text, "the masked hint is not shown to an owner"
    shown = await signed_in.post_form(f"{PAGE}/{connection_id}/reveal", {"which": "access_token"})
    assert shown.status_code == 200 and f'value="{TOKEN}"' in shown.text, shown.text
    assert shown.headers["cache-control"] == "no-store", "a revealed token may be cached"
    [entry] = await factories.audit_entries(runtime, "token_revealed")
    assert (entry.actor_user_id, entry.details.get("which")) == (signed_in.person.user_id, "access_token")
    assert TOKEN not in (await signed_in.get(PAGE)).text, "the token stays on the page after the reveal"
    missing = await signed_in.post_form(f"{PAGE}/{connection_id}/reveal", {"which": "refresh_token"})
    assert missing.status_code == 404 and "no refresh token" in missing.text, missing.text
    for _ in range(REVEALS_PER_HOUR - 1):
        assert (await signed_in.post_form(f"{PAGE}/{connection_id}/reveal")).status_code == 200
    limited = await signed_in.post_form(f"{PAGE}/{connection_id}/reveal")
    assert limited.status_code == 429 and TOKEN not in limited.text, "core's reveal limit did not hold on the page"
    assert "in the last hour" in limited.text and "ask on-call" in limited.text, "the limit is not explained"


async def test_another_venues_connection_is_not_found(signed_in: SignedIn, runtime: Runtime) -> None:
    other = await factories.venue(runtime, name="Elsewhere")
    theirs = await factories.connection(runtime, other, access_token=TOKEN)
    use_clinic(runtime)
    listed = re.findall(r'id="connection-(\d+)"', (await signed_in.get(PAGE)).text)
    assert str(theirs) not in listed, "another venue's connection is listed"
    for action in ("diagnose", "reveal", "disconnect", "reconnect"):
        r = await signed_in.post_form(f"{PAGE}/{theirs}/{action}")
        assert r.status_code == 404 and TOKEN not in r.text, f"{action} on another venue's connection: {r.status_code}"
    assert (await row(runtime, theirs)).status is ConnectionStatus.active
