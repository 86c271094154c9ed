"""`cheers telegram`: the Telegram bot's set-up from the shell (the webhook, the command menu) and a polling runner
for local use without a public URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import click
import structlog
from telegram import Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, TelegramError

from api.cli_support import emit, run
from bot.telegram.application import ALLOWED_UPDATES, COMMANDS, TelegramFront, register_webhook
from bot.telegram.client import open_bot
from bot.telegram.webhook import handle_update
from core.errors import Conflict as ConflictError
from core.errors import Invalid
from core.runtime import Runtime
from core.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")
WEBHOOK_PATH = "/telegram/webhook"
POLL_SECONDS = 25  # getUpdates' long poll: Telegram holds the request open until an update or this long
RETRY_SECONDS = 3.0  # after Telegram or the database failed, before asking again


@click.group()
def telegram() -> None:
    """The Telegram bot: its webhook and command menu (docs/telegram.md), and a polling runner for local use."""


@telegram.group()
def webhook() -> None:
    """Where Telegram sends updates: set once per deploy, delete, or show."""


def _configured(settings: Settings, *, secret: bool) -> None:
    if not settings.cheers_telegram_bot_token:
        raise Invalid("no Telegram bot token", remedy="set CHEERS_TELEGRAM_BOT_TOKEN (BotFather's token)")
    if secret and not settings.cheers_telegram_webhook_secret:
        raise Invalid("no webhook secret", remedy="set CHEERS_TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)")


async def _api(call: Callable[[], Awaitable[T]]) -> T:
    """A Bot API call whose failure is one line without the token (PTB's errors can carry the request URL)."""
    try:
        return await call()
    except InvalidToken:
        raise Invalid("Telegram refused the bot token", remedy="check CHEERS_TELEGRAM_BOT_TOKEN") from None
    except (BadRequest, Forbidden, Conflict) as exc:
        raise Invalid(f"Telegram refused: {exc.message}") from None
    except TelegramError as exc:
        raise ConflictError(
            f"Telegram did not answer ({exc.__class__.__name__})", remedy="check CHEERS_TELEGRAM_API_URL and retry"
        ) from None


@webhook.command("set")
@click.option("--drop-pending", is_flag=True, help="Forget updates Telegram is holding for the bot.")
@click.pass_context
def set_webhook(ctx: click.Context, drop_pending: bool) -> None:
    """Register CHEERS_PUBLIC_URL/telegram/webhook with the secret and the updates we handle, and the command menu."""
    settings = Settings()
    _configured(settings, secret=True)
    url = f"{settings.cheers_public_url.rstrip('/')}{WEBHOOK_PATH}"

    async def go(rt: Runtime) -> None:
        async with open_bot(rt.settings) as bot:
            secret = rt.settings.cheers_telegram_webhook_secret
            await _api(lambda: register_webhook(bot, url, secret, drop_pending=drop_pending))

    run(go)
    emit(
        ctx,
        {"url": url, "allowed_updates": list(ALLOWED_UPDATES), "commands": [name for name, _ in COMMANDS]},
        f"webhook set: {url}\nupdates: {', '.join(ALLOWED_UPDATES)}\ncommands: "
        + " ".join(f"/{name}" for name, _ in COMMANDS),
    )


@webhook.command("delete")
@click.option("--drop-pending", is_flag=True, help="Forget updates Telegram is holding for the bot.")
@click.pass_context
def delete_webhook(ctx: click.Context, drop_pending: bool) -> None:
    """Stop Telegram calling the webhook (`cheers telegram poll` needs it deleted)."""
    _configured(Settings(), secret=False)

    async def go(rt: Runtime) -> None:
        async with open_bot(rt.settings) as bot:
            await _api(lambda: bot.delete_webhook(drop_pending_updates=drop_pending))

    run(go)
    emit(ctx, {"url": ""}, "webhook deleted")


@webhook.command("info")
@click.pass_context
def webhook_info(ctx: click.Context) -> None:
    """What Telegram has: the webhook's URL, updates waiting, its last error, and the command menu."""
    _configured(Settings(), secret=False)

    async def go(rt: Runtime) -> dict[str, Any]:
        async with open_bot(rt.settings) as bot:
            info = await _api(bot.get_webhook_info)
            commands = await _api(bot.get_my_commands)
        return {
            "url": info.url,
            "pending_update_count": info.pending_update_count,
            "last_error_message": info.last_error_message,
            "last_error_date": info.last_error_date,
            "allowed_updates": list(info.allowed_updates or ()),
            "commands": [c.command for c in commands],
        }

    found = run(go)
    lines = [
        f"url: {found['url'] or '(none: updates wait for getUpdates)'}",
        f"pending updates: {found['pending_update_count']}",
        f"allowed updates: {', '.join(found['allowed_updates']) or '(all but a few)'}",
        f"commands: {' '.join('/' + c for c in found['commands']) or '(none)'}",
    ]
    if found["last_error_message"]:
        lines.append(f"last error: {found['last_error_message']} at {found['last_error_date']}")
    emit(ctx, found, "\n".join(lines))


@telegram.command("poll")
@click.option("--once", is_flag=True, help="Handle the updates waiting now, then stop.")
@click.pass_context
def poll(ctx: click.Context, once: bool) -> None:
    """Fetch updates with getUpdates and handle them as the webhook does (same handlers, same once-only claim):
    for a machine Telegram cannot reach. The webhook must be deleted first. Ctrl-C stops."""
    _configured(Settings(), secret=False)
    handled = run(lambda rt: poll_updates(rt, once=once))
    emit(ctx, {"handled": handled}, f"{handled} update(s) handled")


async def poll_updates(runtime: Runtime, *, once: bool = False, stop: asyncio.Event | None = None) -> int:
    """The polling runner: each update handled through bot.telegram.webhook.handle_update; an update the database
    could not take is asked for again (the offset only moves past what was handled). Slow work goes to the task
    queue the settings name (in-process without REDIS_URL)."""
    from tasks.broker import create_broker
    from tasks.queue import TaskiqQueue

    broker = create_broker(runtime.settings, runtime)
    runtime.queue = TaskiqQueue(broker)
    await broker.startup()
    front = TelegramFront(runtime)
    handled, offset = 0, None
    wait = 0 if once else POLL_SECONDS
    try:
        async with open_bot(runtime.settings, long_poll=POLL_SECONDS) as bot:
            while stop is None or not stop.is_set():
                updates: tuple[Update, ...] = await _api(
                    partial(bot.get_updates, offset=offset, timeout=wait, allowed_updates=list(ALLOWED_UPDATES))
                )
                deferred = False
                for update in updates:
                    outcome = await handle_update(front, update.to_dict())
                    if outcome.status == 503:  # asked for again after a pause, as Telegram would resend it
                        log.warning("telegram_poll_deferred", update_id=update.update_id, reason=outcome.text)
                        deferred = True
                        await asyncio.sleep(RETRY_SECONDS)
                        break
                    offset = update.update_id + 1
                    handled += 1
                if once and (deferred or not updates):
                    break
            if offset is not None:  # confirm the last ones, so a next run does not fetch them again
                await _api(partial(bot.get_updates, offset=offset, timeout=0, allowed_updates=list(ALLOWED_UPDATES)))
    finally:
        await front.close()
        await broker.shutdown()
    return handled


def register(cli: click.Group) -> None:
    """Add the Telegram commands to the `cheers` group."""
    cli.add_command(telegram)
