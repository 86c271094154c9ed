"""Manual package clicked on an alert: the zip uploaded into the alert's thread, from a worker (never in the ack).

files_upload_v2 is Slack's three-step upload: files.getUploadURLExternal, the bytes POSTed to the upload URL, then
files.completeUploadExternal sharing the file in the channel's thread with an initial comment. If any step fails
(a missing scope, the bot not in the channel, Slack not answering in time), the clicker gets the private
download link instead, with the reason.
"""

from __future__ import annotations

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.dispatch import TurnUnit, handle_package_in_thread
from bot.messages import ChatMessage
from core.chat import installs
from core.chat.packages import PackageFile
from core.chat.people import ChatTurn
from core.runtime import Runtime
from core.vocabulary import ChatPlatform

log = structlog.get_logger(__name__)


async def share_package(runtime: Runtime, turn: ChatTurn, target_id: int, thread_ts: str) -> ChatMessage:
    """Upload delivery `target_id`'s zip into the thread of message `thread_ts`, as the clicker `turn`; what to tell
    the clicker privately (done, the private link with why it wasn't shared, or a refusal)."""
    async with runtime.uow() as uow:
        found = await handle_package_in_thread(runtime, uow, turn, target_id, message_ref=thread_ts)
        token = await bot_token(runtime, uow, turn.workspace_id) if isinstance(found, PackageFile) else None
        await uow.commit()
    if not isinstance(found, PackageFile):
        return found  # the private link (not our alert here), or a refusal
    # The transaction is over before Slack is called: an upload can take a while.
    if token is None:
        why: str | None = "the app isn't installed in this workspace"
    else:
        why = await _upload(runtime, token, turn, found, thread_ts)
    if why is not None:
        log.warning("slack_package_not_shared", target_id=target_id, why=why, team_id=turn.workspace_id)
        return render.package(found.link, target_id, not_shared=why)
    log.info("slack_package_shared", target_id=target_id, team_id=turn.workspace_id, bytes=len(found.content))
    return render.package_shared(found.filename, target_id)


async def bot_token(runtime: Runtime, uow: TurnUnit, workspace_id: str) -> str | None:
    """The workspace's bot token (the configured one in single-workspace mode); None when not installed."""
    settings = runtime.settings
    if settings.slack_single_workspace:
        return settings.cheers_slack_bot_token
    found = await installs.credentials(uow.session, runtime.cipher(), ChatPlatform.slack, workspace_id)
    return found.bot_token if found is not None else None


async def _upload(runtime: Runtime, token: str, turn: ChatTurn, package: PackageFile, thread_ts: str) -> str | None:
    """files_upload_v2 into the thread; None when shared, else why not in a few words."""
    settings = runtime.settings
    timeout = settings.cheers_slack_upload_timeout_seconds
    # The timeout is the session's (slack_sdk's own applies only to sessions it makes): a held answer gives up.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        client = AsyncWebClient(
            token=token, base_url=settings.slack_api_base, session=session, timeout=int(timeout) or 1
        )
        try:
            await client.files_upload_v2(
                channel=turn.chat_id,
                thread_ts=thread_ts,
                content=package.content,
                filename=package.filename,
                title=package.filename,
                initial_comment=package.comment,
            )
        except SlackApiError as exc:
            return f"Slack said {exc.response.get('error') or exc.response.status_code}"
        except TimeoutError:
            return f"Slack didn't answer within {timeout:g} seconds"
        except aiohttp.ClientError as exc:
            return f"Slack couldn't be reached ({exc.__class__.__name__})"
    return None
