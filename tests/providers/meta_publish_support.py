"""Helpers for the Facebook and Instagram publishing tests: a connected twin, requests, and the step loop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from providers.base import ProviderConfig, StoredCredentials
from providers.http import build_http_client
from providers.meta.adapter import MetaAdapter
from providers.meta.facebook import FacebookAdapter
from providers.meta.instagram import InstagramAdapter
from providers.publishing import MediaItem, Pending, Publisher, PublishRequest, Recorder, StepOutcome, Surface
from sandbox.meta.state import MetaTwinState
from sandbox.meta.twin import DEFAULT_APP_ID, DEFAULT_APP_SECRET, MetaTwinControl, running_meta_twin

RED_LION, KITCHEN, IG_RED_LION = "109000000000001", "109000000000002", "17841400000000001"
REDIRECT = "http://127.0.0.1:8000/oauth/meta/callback"


def config_for(url: str) -> ProviderConfig:
    return ProviderConfig(
        graph_url=url, facebook_dialog_url=url, facebook_app_id=DEFAULT_APP_ID, facebook_app_secret=DEFAULT_APP_SECRET
    )


def photo(n: int = 1, *, width: int = 1080, height: int = 1350) -> MediaItem:
    return MediaItem("image", f"https://media.example/pic{n}.jpg", "image/jpeg", width=width, height=height)


def clip(n: int = 1, *, poster: bool = True) -> MediaItem:
    poster_url = f"https://media.example/clip{n}-cover.jpg" if poster else None
    return MediaItem("video", f"https://media.example/clip{n}.mp4", "video/mp4", duration=12.0, poster_url=poster_url)


def post(
    text: str = "Quiz night Thursday, 8pm",
    *media: MediaItem,
    surface: Surface = "feed",
    link: str | None = None,
) -> PublishRequest:
    return PublishRequest(delivery_id=1, text=text, media=media, link=link, surface=surface)


@dataclass
class Run:
    """Every step of one delivery: what each call answered and what it recorded."""

    outcomes: list[StepOutcome] = field(default_factory=list)
    recorders: list[Recorder] = field(default_factory=list)

    @property
    def last(self) -> StepOutcome:
        return self.outcomes[-1]

    @property
    def steps(self) -> list[str]:
        return [e.step for r in self.recorders for e in r.exchanges]

    def snapshots(self) -> list[dict[str, Any]]:
        return [s for r in self.recorders for s in r.snapshots()]


@dataclass
class MetaSession:
    """A running twin with both adapters on its clock, and helpers to connect and to publish step by step."""

    url: str
    control: MetaTwinControl
    state: MetaTwinState
    http: httpx.AsyncClient
    facebook: FacebookAdapter
    instagram: InstagramAdapter

    async def connect(self, adapter: MetaAdapter, *, external_id: str | None = None) -> StoredCredentials:
        """The whole Facebook Login round trip, then the stored credentials of the first (or named) target."""
        url = adapter.authorize_url(state="s-1", redirect_uri=REDIRECT, code_challenge=None)
        location = (await self.http.get(url)).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        grant = await adapter.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=None)
        targets = await adapter.list_targets(grant)
        target = next(t for t in targets if external_id in (None, t.external_id))
        return StoredCredentials(
            provider=target.provider,
            external_id=target.external_id,
            access_token=target.access_token,
            user_token=grant.access_token,
            scopes=grant.scopes,
            page_id=target.page_id,
            ig_business_id=target.ig_business_id,
        )

    async def publish(
        self,
        adapter: Publisher,
        credentials: StoredCredentials,
        request: PublishRequest,
        *,
        max_steps: int = 8,
        follow_clock: bool = True,
        run: Run | None = None,
        stage: dict[str, Any] | None = None,
    ) -> Run:
        """Call `publish` until it stops answering Pending, moving the twin's clock by each `check_after`.

        Exceptions propagate; pass your own `run` to inspect the steps taken before one was raised.
        """
        run = run if run is not None else Run()
        current: dict[str, Any] = dict(stage or {})
        for _ in range(max_steps):
            recorder = Recorder()
            run.recorders.append(recorder)
            outcome = await adapter.publish(credentials, request, current, recorder)
            run.outcomes.append(outcome)
            if not isinstance(outcome, Pending):
                return run
            current = dict(outcome.stage)
            if follow_clock and outcome.check_after:
                await self.control.advance_clock(outcome.check_after)
        return run

    def graph_calls(self, fragment: str, method: str | None = None) -> list[str]:
        """Paths of the Graph calls the twin received containing `fragment` (optionally one method only)."""
        return [c.path for c in self.state.calls if fragment in c.path and method in (None, c.method)]


def assert_no_secrets(session: MetaSession, run: Run, *secrets: str | None) -> None:
    """The recorded exchanges must never contain a token, the app secret or anything token-shaped."""
    text = json.dumps(run.snapshots())
    for secret in (*secrets, DEFAULT_APP_SECRET, *session.state.tokens):
        assert not secret or secret not in text, f"a secret leaked into the recorded exchanges: {secret[:8]}…"
    assert "EAA" not in text, "something token-shaped was recorded"


@asynccontextmanager
async def meta_session(*, read_timeout: float = 10.0) -> AsyncIterator[MetaSession]:
    """A twin under /graph, a real httpx client and both adapters judging time by the twin's clock."""
    async with (
        running_meta_twin(path_prefix="/graph") as (url, control, state),
        build_http_client(read_timeout=read_timeout) as http,
    ):
        now = state.clock.now
        config = config_for(url)
        yield MetaSession(
            url, control, state, http, FacebookAdapter(config, http, now=now), InstagramAdapter(config, http, now=now)
        )
        leaked = [c.path for c in state.calls if c.secret_in_url or c.token_source not in (None, "header")]
        assert leaked == [], f"a token travelled outside the Authorization header: {leaked}"
