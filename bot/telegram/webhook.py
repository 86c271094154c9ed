"""`POST /telegram/webhook`: Telegram delivers each update here, with our secret in X-Telegram-Bot-Api-Secret-Token.

One update, one unit of work: its update_id is claimed with an insert-once row (Telegram resends an update we were
slow to answer or answered non-2xx, and its ids restart after a quiet week, so there is no high-water mark), the
handlers run inline through `process_update` (never PTB's in-memory queue, which a stop would drop), and the claim
commits with the work. Then the replies are sent and slow work enqueued; 200. A database that is down is 503, so
Telegram resends the update later. `handle_update` is shared with `cheers telegram poll`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from litestar import Litestar, Request, Response, post
from litestar.datastructures import State
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from telegram import Update

from bot.dispatch import TurnUnit
from bot.messages import ChatMessage
from bot.telegram.application import TelegramFront, TelegramUnavailable
from bot.telegram.handlers import catching_failures
from bot.telegram.inbound import CURRENT, Inbound
from bot.telegram.later import QUEUE_DOWN, telegram_turn
from bot.telegram.replies import Say
from bot.telegram.send import send_one, send_replies
from core.chat import installs
from core.clock import Clock
from core.runtime import Runtime
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)

STATE_KEY = "telegram_front"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - the header's name, not a secret
NOT_CONFIGURED = (
    "Telegram is not set up on this CheersAI: set CHEERS_TELEGRAM_BOT_TOKEN and CHEERS_TELEGRAM_WEBHOOK_SECRET, "
    "then run `cheers telegram webhook set` (docs/telegram.md)."
)
FAILED = "Sorry, something went wrong on our side"
TRY_AGAIN = "Nothing was changed. Try again in a minute; if it keeps happening, tell your CheersAI operator."
# The database is unreachable (or its pool exhausted): nothing was kept, Telegram resends the update later.
DATABASE_DOWN = (DBAPIError, PoolTimeout, OSError)


@dataclass(frozen=True)
class Handled:
    """What the webhook answers Telegram."""

    status: int
    text: str = "ok"


class ClaimedUnit:
    """The update's unit of work, holding its update_id claim: a refused command rolls its writes back (as
    bot.dispatch does), and the claim is made again in the fresh transaction so a resend is still ignored."""

    def __init__(self, uow: TurnUnit, clock: Clock, event_id: str) -> None:
        self._uow, self._clock, self.event_id = uow, clock, event_id
        self.session = uow.session

    async def claim(self) -> bool:
        return await installs.first_time(self.session, self._clock, ChatPlatform.telegram, self.event_id)

    async def commit(self) -> None:
        await self._uow.commit()

    async def rollback(self) -> None:
        await self._uow.rollback()
        await self.claim()

    def after_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once the update's transaction commits (a photo's derivatives start at once, as after an
        API upload)."""
        register = getattr(self._uow, "after_commit", None)
        if register is not None:
            register(hook)


async def handle_update(front: TelegramFront, data: dict[str, Any]) -> Handled:
    """Handle one update's JSON once (see the module docstring): the webhook's and the polling runner's work."""
    runtime = front.runtime
    try:
        application = await front.ensure_ready()
    except TelegramUnavailable as exc:
        return Handled(503, str(exc))
    if not isinstance(data.get("update_id"), int):
        return Handled(400, "not a Telegram update")
    try:
        update = Update.de_json(data, application.bot)
    except (KeyError, TypeError, ValueError):
        return Handled(400, "not a Telegram update")
    user, chat = update.effective_user, update.effective_chat
    if user is None:  # a channel post or a poll: nothing of ours to do (channels are not supported)
        log.info("telegram_update_ignored", update_id=update.update_id)
        return Handled(200)
    turn = telegram_turn(
        runtime.settings,
        user_id=user.id,
        user_name=user.full_name or user.username,
        chat_id=chat.id if chat is not None else user.id,  # an inline message's click has no chat: answer privately
        private=chat is None or chat.type == chat.PRIVATE,
    )
    try:
        async with runtime.uow() as uow:
            unit = ClaimedUnit(uow, runtime.clock, f"update:{update.update_id}")
            if not await unit.claim():
                log.info("telegram_update_repeated", update_id=update.update_id)
                return Handled(200)
            inbound = Inbound(runtime, unit, turn)
            token = CURRENT.set(inbound)
            try:
                with catching_failures() as failed:
                    await application.process_update(update)
            finally:
                CURRENT.reset(token)
            if failed:
                raise failed[0]
            await unit.commit()
    except DATABASE_DOWN as exc:
        log.warning("telegram_update_deferred", update_id=update.update_id, reason=exc.__class__.__name__)
        return Handled(503, "the database is unavailable; Telegram will resend this update")
    except Exception as exc:  # a bug in one update must not make Telegram resend it forever
        # Handlers make no Bot API calls (replies wait for the commit), so the traceback holds no request URL;
        # core.logging redacts token-shaped text in it all the same.
        log.error("telegram_update_failed", update_id=update.update_id, reason=exc.__class__.__name__, exc_info=exc)
        await send_one(application.bot, Say(turn.chat_id, ChatMessage(title=FAILED, lines=(TRY_AGAIN,))))
        return Handled(200, "failed")
    await _enqueue(runtime, inbound)
    await send_replies(application.bot, inbound.replies)
    return Handled(200)


async def _enqueue(runtime: Runtime, inbound: Inbound) -> None:
    """The update's slow work, now that its transaction has committed; the person hears when it couldn't start."""
    for work in inbound.later:
        try:
            if runtime.queue is None:
                raise RuntimeError("no task queue")
            await runtime.queue.enqueue(work.task_name, **work.kwargs)
        except Exception as exc:  # noqa: BLE001 - told at once; nothing of the slow work was done
            log.error("telegram_turn_not_enqueued", reason=exc.__class__.__name__, chat_id=work.kwargs.get("chat_id"))
            inbound.replies.say(str(work.kwargs.get("chat_id")), ChatMessage(title=QUEUE_DOWN))


def front_of(state: State, runtime: Runtime) -> TelegramFront:
    """The process's one TelegramFront (built at the first update)."""
    front: TelegramFront | None = state.get(STATE_KEY)
    if front is None or front.runtime is not runtime:
        front = TelegramFront(runtime)
        state[STATE_KEY] = front
    return front


async def close_front(app: Litestar) -> None:
    """On shutdown: shut the Application's HTTP clients down."""
    front: TelegramFront | None = app.state.get(STATE_KEY)
    if front is not None:
        await front.close()


def secret_matches(given: str | None, expected: str) -> bool:
    """The header against our secret, in constant time (a missing header never matches)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@post(
    "/telegram/webhook",
    tags=["telegram"],
    summary="Telegram's webhook: one update per call, with our secret in X-Telegram-Bot-Api-Secret-Token",
    status_code=200,
    include_in_schema=False,
)
async def telegram_webhook(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    settings = runtime.settings
    if not settings.cheers_telegram_bot_token or not settings.cheers_telegram_webhook_secret:
        # Without a secret anyone could post updates as Telegram: refuse everything instead.
        return Response(content=NOT_CONFIGURED, status_code=503)
    if not secret_matches(request.headers.get(SECRET_HEADER), settings.cheers_telegram_webhook_secret):
        log.warning("telegram_webhook_refused", reason="secret")
        return Response(content="wrong or missing secret", status_code=401)
    try:
        data = json.loads(await request.body())
    except ValueError:
        return Response(content="not JSON", status_code=400)
    if not isinstance(data, dict):
        return Response(content="not a Telegram update", status_code=400)
    handled = await handle_update(front_of(request.app.state, runtime), data)
    return Response(content=handled.text, status_code=handled.status)


routes = [telegram_webhook]
