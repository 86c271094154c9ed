"""The Slack app: slack-bolt's AsyncApp built by `build_slack_app`, answering slash commands, buttons and events.

Bolt checks each request's signature and timestamp (RequestVerification with CHEERS_SLACK_SIGNING_SECRET: a forged
or five-minute-old request is 401 before any listener runs), answers url_verification, and authorises from the
stored install (`StoredInstallAuthorize`: a database read, never an auth.test call). `process_before_response=True`
runs every listener to its end before the HTTP answer, so nothing is left running in the web process; a listener
only authorises, writes in one short transaction and enqueues slow work (bot.slack.later) after the commit.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.dispatch import handle_turn, home
from bot.messages import ChatMessage
from bot.slack import mark_published, reject, schedule_form
from bot.slack.blocks import button_offer, home_view
from bot.slack.later import TURN_TASK, LaterTurn, ephemeral, is_slow, slack_turn
from core.chat import installs
from core.chat.installs import InstalledBot
from core.runtime import Runtime
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)

WEB_API_TIMEOUT_SECONDS = 10
NOT_INSTALLED = (
    "CheersAI isn't installed in this workspace (or was removed). "
    "A venue admin can add it again from CheersAI: Settings → Slack → Add to Slack."
)
WORKING = "Working on it… the answer will appear here in a moment."
QUEUE_DOWN = "CheersAI couldn't start that just now (its workers are unreachable). Try again in a minute."


class StoredInstallAuthorize(AsyncAuthorize):
    """The workspace's bot token from its stored install (decrypted per request, one read; no auth.test call).

    In single-workspace mode (CHEERS_SLACK_BOT_TOKEN) every workspace is answered with that token.
    """

    def __init__(self, runtime: Runtime) -> None:  # AsyncAuthorize.__init__ sets nothing
        self.runtime = runtime

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        settings = self.runtime.settings
        if settings.slack_single_workspace:
            return AuthorizeResult(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=settings.cheers_slack_bot_token
            )
        if not team_id:
            return None
        async with self.runtime.uow() as uow:
            found = await installs.credentials(uow.session, self.runtime.cipher(), ChatPlatform.slack, team_id)
        if found is None:
            log.info("slack_not_installed", team_id=team_id)
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_user_id=found.bot_user_id,
            bot_token=found.bot_token,
        )


def build_slack_app(runtime: Runtime, *, client: AsyncWebClient) -> AsyncApp:
    """The AsyncApp for this runtime: signature checks, stored-install authorize, /cheers, buttons and events."""
    settings = runtime.settings
    app = AsyncApp(
        name="cheersai",
        signing_secret=settings.cheers_slack_signing_secret,
        client=client,
        # Bolt wraps it in AsyncCallableAuthorize and treats None as "not installed" (its stub says never None).
        authorize=StoredInstallAuthorize(runtime),  # type: ignore[arg-type]
        user_facing_authorize_error_message=NOT_INSTALLED,
        process_before_response=True,
        # A bolt OAuth flow would keep installs in its own (plaintext) store: ours is core.chat.installs.
        installation_store=None,
    )
    schedule_form.register(app, runtime)  # before /cheers' general listener: `schedule` alone opens the modal
    mark_published.register(app, runtime)  # before the general button listener: Mark published opens a modal
    reject.register(app, runtime)  # likewise: Reject opens a modal asking why
    _register(app, runtime)
    return app


def _register(app: AsyncApp, runtime: Runtime) -> None:
    @app.command("/cheers")
    async def cheers(ack: AsyncAck, body: dict[str, Any]) -> None:
        later = LaterTurn(
            team_id=str(body.get("team_id") or ""),
            user_id=str(body.get("user_id") or ""),
            user_name=body.get("user_name"),
            channel_id=str(body.get("channel_id") or ""),
            text=str(body.get("text") or ""),
            response_url=str(body.get("response_url") or ""),
        )
        if is_slow(later.text):
            await ack(text=await _enqueue(runtime, later), response_type="ephemeral")
            return
        async with runtime.uow() as uow:
            message = await handle_turn(runtime, uow, later.turn(), later.text)
            await uow.commit()
        await ack(**_ack_body(message))

    @app.action(re.compile(r"^[a-z_]+:[a-z0-9]+$"))
    async def clicked(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        # Anyone in the channel can click: the turn is the CLICKER's, so core authorises them, not the alert's
        # recipient. The answer goes to the clicker's response_url from a worker.
        user = body.get("user") or {}
        channel = body.get("channel") or {}
        value = str(action.get("value") or "")
        try:
            button_offer(value)  # only a value one of our messages could carry goes to a worker
        except ValueError:
            log.warning("slack_button_unknown", action_id=action.get("action_id"))
            await ack()
            return
        container = body.get("container") or {}
        # A message in the channel (not an ephemeral answer) has a thread: Manual package shares the zip there.
        in_channel = container.get("type") == "message" and not container.get("is_ephemeral")
        message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
        # A click on the Home tab has no channel and no response_url: the answer goes to the clicker's DM with the app.
        user_id = str(user.get("id") or "")
        later = LaterTurn(
            team_id=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
            user_id=user_id,
            user_name=user.get("username") or user.get("name"),
            channel_id=str(channel.get("id") or user_id),
            text="",
            response_url=str(body.get("response_url") or ""),
            button=value,
            message_ts=str(message_ts) if in_channel and message_ts else None,
        )
        await _enqueue(runtime, later)
        await ack()

    @app.event("app_uninstalled")
    async def uninstalled(ack: AsyncAck, body: dict[str, Any]) -> None:
        await _erase(runtime, body, why="app_uninstalled")
        await ack()

    @app.event("tokens_revoked")
    async def revoked(ack: AsyncAck, body: dict[str, Any]) -> None:
        if (body.get("event") or {}).get("tokens", {}).get("bot"):
            await _erase(runtime, body, why="tokens_revoked")
        await ack()

    @app.event("app_home_opened")
    async def home_opened(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        event = body.get("event") or {}
        async with runtime.uow() as uow:
            first = await installs.first_time(uow.session, runtime.clock, ChatPlatform.slack, str(body.get("event_id")))
            await uow.commit()
        await ack()
        if first and event.get("tab") == "home" and event.get("user"):
            await _publish_home(runtime, client, str(body.get("team_id") or ""), str(event["user"]))


async def _publish_home(runtime: Runtime, client: AsyncWebClient, team_id: str, user_id: str) -> None:
    """The Home tab of the person who opened it: their venues' problems and week, with the alerts' buttons (how to
    link when not linked). One read transaction, one views.publish; a refusal is logged, the event stays handled."""
    turn = slack_turn(team_id, user_id, None, user_id)
    async with runtime.uow() as uow:
        messages = await home(runtime, uow, turn, more_url=f"{runtime.settings.cheers_public_url}/api/posts?week=this")
    try:
        await client.views_publish(user_id=user_id, view=home_view(messages))
    except SlackApiError as exc:
        log.warning("slack_home_not_published", error=exc.response.get("error"))
    except (TimeoutError, aiohttp.ClientError) as exc:  # the session's timeout: the next opening tries again
        log.warning("slack_home_not_published", error=exc.__class__.__name__)


async def _erase(runtime: Runtime, body: dict[str, Any], *, why: str) -> None:
    """Forget the workspace's token, once per event id, in the same transaction as the event's mark."""
    team_id, event_id = str(body.get("team_id") or ""), str(body.get("event_id") or "")
    async with runtime.uow() as uow:
        if not await installs.first_time(uow.session, runtime.clock, ChatPlatform.slack, event_id):
            log.info("slack_event_repeated", event_id=event_id, type=why)
            return
        erased = await installs.erase(uow.session, runtime.clock, ChatPlatform.slack, team_id, why=why)
        await uow.commit()
    log.info("slack_install_erased", team_id=team_id, why=why, erased=erased)


async def _enqueue(runtime: Runtime, later: LaterTurn) -> str:
    """Hand the turn to a worker; what to tell the person meanwhile."""
    if runtime.queue is None:
        log.error("slack_turn_not_enqueued", reason="no queue", team_id=later.team_id)
        return QUEUE_DOWN
    try:
        await runtime.queue.enqueue(TURN_TASK, **later.kwargs())
    except Exception as exc:  # noqa: BLE001 - the person is told at once; nothing was written
        log.error("slack_turn_not_enqueued", reason=exc.__class__.__name__, team_id=later.team_id)
        return QUEUE_DOWN
    return WORKING


def _ack_body(message: ChatMessage) -> dict[str, Any]:
    """The answer carried in the ack itself (Slack shows it to the person who typed the command)."""
    body = ephemeral(message)
    return {"text": body["text"], "blocks": body["blocks"], "response_type": "ephemeral"}


class SlackFront:
    """The web process's Slack front door: one aiohttp session for the Web API client, the app built lazily."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._session: aiohttp.ClientSession | None = None
        self._app: AsyncApp | None = None

    @property
    def client(self) -> AsyncWebClient:
        """A Web API client on the process's one session (the base URL ends with "/")."""
        settings = self.runtime.settings
        if self._session is None or self._session.closed:
            # Calls made here run while Slack waits for our ack (views.open, a refusal): they must give up before
            # Slack's 3 seconds do. The timeout is the session's: slack_sdk's own applies only to sessions it makes.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=settings.cheers_slack_ack_timeout_seconds)
            )
        return AsyncWebClient(base_url=settings.slack_api_base, session=self._session, timeout=WEB_API_TIMEOUT_SECONDS)

    @property
    def app(self) -> AsyncApp:
        if self._app is None:
            self._app = build_slack_app(self.runtime, client=self.client)
        return self._app

    async def exchange(self, code: str) -> InstalledBot:
        """oauth.v2.access: the install's code for the workspace's bot token (SlackApiError when refused)."""
        settings = self.runtime.settings
        # A browser waits on this one, not Slack's 3 seconds: the longer timeout, on a session of its own.
        timeout = aiohttp.ClientTimeout(total=settings.cheers_slack_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = AsyncWebClient(base_url=settings.slack_api_base, session=session, timeout=WEB_API_TIMEOUT_SECONDS)
            answer = await client.oauth_v2_access(
                client_id=settings.cheers_slack_client_id,
                client_secret=settings.cheers_slack_client_secret,
                code=code,
                redirect_uri=redirect_uri(settings.cheers_public_url),
            )
        team = answer.get("team") or {}
        return InstalledBot(
            workspace_id=str(team.get("id") or ""),
            workspace_name=team.get("name"),
            app_id=answer.get("app_id"),
            bot_user_id=answer.get("bot_user_id"),
            bot_token=str(answer.get("access_token") or ""),
            scopes=tuple(s for s in str(answer.get("scope") or "").split(",") if s),
        )

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def redirect_uri(public_url: str) -> str:
    """Where Slack sends the browser back after "Allow" (built from CHEERS_PUBLIC_URL, never from the request)."""
    return f"{public_url}/slack/oauth_redirect"
