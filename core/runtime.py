"""The process's dependencies in one place, built by a factory and injected everywhere."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx

from core.chat.sending import ChatSender
from core.clock import Clock, SystemClock, system_clock
from core.media.budget import PixelBudget
from core.settings import Settings
from providers.base import ProviderConfig
from providers.email import EmailSender, ResendClient
from providers.http import build_http_client
from providers.registry import ProviderRegistry, build_registry
from storage.blobs import BlobStore, build_blob_store
from storage.crypto import TokenCipher
from storage.db import WORKER_PING_AFTER_IDLE_SECONDS, Database
from storage.enums import ChatPlatform
from storage.uow import UnitOfWork


class JobQueue(Protocol):
    """Hands a task to the broker by name; implemented by `tasks.queue`."""

    async def enqueue(self, task_name: str, **kwargs: object) -> None: ...

    async def depth(self) -> int | None: ...

    async def ping(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    queue: JobQueue | None = None
    http: httpx.AsyncClient | None = None
    _providers: ProviderRegistry | None = None
    _blobs: BlobStore | None = None
    _image_pool: Executor | None = None
    _owns_image_pool: bool = False
    _decode_budget: PixelBudget | None = None
    # How alerts reach each chat platform (bot.slack.sender for Slack), installed by the process that sends them.
    chat_senders: dict[ChatPlatform, ChatSender] = field(default_factory=dict)
    _email_sender: EmailSender | None = None

    def uow(self) -> UnitOfWork:
        """A unit of work whose commit wakes the tasks its session asked for (storage.uow.wake_after_commit)."""
        return UnitOfWork(self.db, self.queue)

    def cipher(self) -> TokenCipher:
        return TokenCipher(self.settings.token_keys)

    @property
    def providers(self) -> ProviderRegistry:
        """The provider adapters, built on first use around one shared http client."""
        if self._providers is None:
            if self.http is None:
                self.http = build_http_client()
            self._providers = build_registry(provider_config(self.settings), self.http, now=self.provider_now)
        return self._providers

    @property
    def email_sender(self) -> EmailSender | None:
        """Resend's client, built on first use from settings; None without CHEERS_RESEND_API_KEY (nothing is sent)."""
        if self._email_sender is None and self.settings.cheers_resend_api_key:
            self._email_sender = ResendClient(
                api_url=self.settings.cheers_resend_api_url,
                api_key=self.settings.cheers_resend_api_key,
                timeout=self.settings.cheers_email_timeout_seconds,
            )
        return self._email_sender

    def use_email_sender(self, sender: EmailSender | None) -> None:
        """Swap in another sender (tests: a twin's client with other settings); the caller closes the old one."""
        self._email_sender = sender

    def provider_now(self) -> datetime:
        """The time adapters stamp and judge token expiry by: the runtime's one clock (tests give the twins it too)."""
        return self.clock.now()

    @property
    def blobs(self) -> BlobStore:
        """Where media bytes live (local folder or S3-compatible bucket), built on first use."""
        if self._blobs is None:
            self._blobs = build_blob_store(self.settings)
        return self._blobs

    @property
    def image_pool(self) -> Executor:
        """The process pool that decodes and encodes images (never the event loop), built on first use."""
        if self._image_pool is None:
            from core.media.imaging.derive import make_image_pool  # Pillow loads only where images are processed

            self._image_pool = make_image_pool()
            self._owns_image_pool = True
        return self._image_pool

    @property
    def decode_budget(self) -> PixelBudget:
        """This process's gate on pixels being decoded at once (CHEERS_MEDIA_DECODE_PIXEL_BUDGET)."""
        if self._decode_budget is None:
            self._decode_budget = PixelBudget(self.settings.cheers_media_decode_pixel_budget)
        return self._decode_budget

    def use_image_pool(self, pool: Executor) -> None:
        """Swap in another executor (tests share one pool across tests; the caller shuts it down)."""
        if self._owns_image_pool and self._image_pool is not None:
            self._image_pool.shutdown(wait=False, cancel_futures=True)
        self._image_pool, self._owns_image_pool = pool, False

    def use_providers(self, providers: ProviderRegistry) -> None:
        """Swap in other adapters (tests: an in-memory adapter for core state transitions)."""
        self._providers = providers

    async def close(self) -> None:
        """Release what the runtime opened: the image pool (its workers waited for), the HTTP client, the database."""
        if self._owns_image_pool and self._image_pool is not None:
            pool, self._image_pool, self._owns_image_pool = self._image_pool, None, False
            # Wait for the workers to exit (off the event loop): a pool left for the interpreter's exit hooks is
            # torn down after the resource tracker has looked, which then warns of leaked semaphores.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        senders, self.chat_senders = list(self.chat_senders.values()), {}
        for sender in senders:
            await sender.close()
        email_sender, self._email_sender = self._email_sender, None
        if email_sender is not None:
            await email_sender.close()
        if self.http is not None:
            await self.http.aclose()
            self.http = None
        await self.db.dispose()


def provider_config(settings: Settings) -> ProviderConfig:
    return ProviderConfig(
        graph_url=settings.cheers_graph_url,
        facebook_dialog_url=settings.cheers_facebook_dialog_url,
        google_auth_url=settings.cheers_google_auth_url,
        google_token_url=settings.cheers_google_token_url,
        gbp_accounts_url=settings.cheers_gbp_accounts_url,
        gbp_info_url=settings.cheers_gbp_info_url,
        gbp_posts_url=settings.cheers_gbp_posts_url,
        facebook_app_id=settings.cheers_facebook_app_id,
        facebook_app_secret=settings.cheers_facebook_app_secret,
        google_client_id=settings.cheers_google_client_id,
        google_client_secret=settings.cheers_google_client_secret,
    )


def build_runtime(settings: Settings, *, clock: Clock | None = None, worker: bool = False) -> Runtime:
    """Create the runtime (engine objects only; nothing connects until first use).

    `worker`: a publish worker's pool pings only idle connections (storage.db), saving round trips per delivery.
    """
    ping_after_idle = WORKER_PING_AFTER_IDLE_SECONDS if worker else 0.0
    return Runtime(
        settings=settings,
        db=Database(settings.database, pool_size=settings.db_pool_size, ping_after_idle=ping_after_idle),
        clock=clock or system_clock(settings.cheers_env),  # tests: CHEERS_CLOCK_OFFSET_FILE (core.clock)
    )
