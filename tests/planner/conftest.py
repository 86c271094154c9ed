"""Planner fixtures: an app client signed in (through a real login link) as the owner of one venue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Request, Response, get, post
from litestar.response import Template

from api.planner.auth import Viewer
from api.planner.render import outcome, render
from core.runtime import Runtime
from storage.models import Role
from tests import factories

# The planner's pages render what core returns, and core's reads and writes run on SQLite and PostgreSQL in their
# own tests; so page tests run on SQLite only, except the modules whose page owns database work of its own (the
# sign-in throttle's upsert, the streamed export's batches). Keeps CI inside its 20 minutes (docs/ci.md).
BOTH_DATABASES = frozenset({"test_sign_in.py", "test_alerts.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the PostgreSQL runs of planner page tests outside BOTH_DATABASES (shown as deselected)."""
    here = Path(__file__).parent
    dropped = [
        item
        for item in items
        if item.path.parent == here
        and item.path.name not in BOTH_DATABASES
        and item.get_closest_marker("postgres") is not None
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in set(dropped)]


@dataclass
class SignedIn:
    """A browser signed in to the planner: its client keeps the session cookies like a browser would."""

    client: httpx.AsyncClient
    runtime: Runtime
    venue_id: int
    person: factories.Person
    browser: factories.Browser

    @property
    def csrf(self) -> str:
        return self.browser.csrf

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post_form(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """A planner form post as the page sends it: the session's CSRF token in the hidden field."""
        return await self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


def carry_cookies(client: httpx.AsyncClient, response: httpx.Response) -> None:
    """Keep what `response` set or deleted, as a browser on HTTPS would (test settings mark cookies Secure, which
    httpx's jar then refuses to send to http://testserver.local)."""
    for name, parsed in factories.set_cookies(response).items():
        morsel = parsed[name]
        if morsel["max-age"] == "0" or (morsel["expires"] and not morsel.value):
            client.cookies.delete(name)
        else:
            client.cookies.set(name, morsel.value)


async def sign_in(client: httpx.AsyncClient, runtime: Runtime, who: factories.Person) -> factories.Browser:
    """Sign `who` in through a login link and keep the session in the client's cookie jar."""
    browser = await factories.login(client, runtime, who)
    client.cookies.set("cheers_session", browser.session)
    client.cookies.set("cheers_csrf", browser.csrf)
    return browser


@pytest.fixture
async def signed_in(runtime: Runtime, client: httpx.AsyncClient) -> AsyncIterator[SignedIn]:
    """The owner of "The Crown" (Europe/London), signed in through the real login-link flow."""
    venue = await factories.venue(runtime, name="The Crown")
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner, name="Olive Owner")
    browser = await sign_in(client, runtime, owner)
    yield SignedIn(client=client, runtime=runtime, venue_id=venue, person=owner, browser=browser)


@get("/probe", name="planner.test_probe", include_in_schema=False)
async def probe_page(request: Request[Any, Any, Any], viewer: Viewer) -> Template:
    """A page behind the guard that shows only the layout (the foundation's tests need one before any real page)."""
    return render(
        request,
        "planner/error.html",
        title="Probe",
        detail=f"probe for {viewer.user.name}",
        remedy=None,
        request_id=None,
    )


@post("/probe", name="planner.test_probe_post", include_in_schema=False)
async def probe_post(request: Request[Any, Any, Any], viewer: Viewer) -> Response[Any]:
    """A planner form post: the guard has checked CSRF; answers like a real action (toast or redirect + flash)."""
    return outcome(request, f"Done in {viewer.venue.name}", redirect_to="/planner/probe")


@asynccontextmanager
async def app_with(runtime: Runtime, *pages: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus extra planner pages (behind the same guard and error pages) under /planner."""
    async with factories.app_client(runtime, pages=pages) as c:
        yield c
