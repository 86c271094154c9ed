"""`cheers chat`: chat front doors from the shell (a one-time code that links a person's Slack or Telegram account)."""

from __future__ import annotations

import click

from api.cli_chat_slack import slack_console
from api.cli_chat_telegram import telegram_console
from api.cli_support import emit, in_uow, run
from bot.telegram.application import deep_link
from bot.telegram.client import bot_username
from core.access.policy import OPERATOR
from core.chat import linking
from core.chat.linking import LinkCode
from core.runtime import Runtime
from storage.uow import UnitOfWork


@click.group()
def chat() -> None:
    """Slack and Telegram: link a person's chat account."""


@chat.command("link-code")
@click.option("--user", "user_id", type=int, required=True, help="The person the chat account will act as.")
@click.pass_context
def link_code(ctx: click.Context, user_id: int) -> None:
    """A one-time code the person types in chat as `link CODE` (10 minutes, once; audited)."""

    async def issue(rt: Runtime, uow: UnitOfWork) -> LinkCode:
        return await linking.issue_link_code(uow.session, rt.clock, OPERATOR, user_id)

    async def go(rt: Runtime) -> tuple[LinkCode, str | None]:
        issued = await in_uow(rt, issue)  # committed before asking Telegram for the bot's name
        return issued, deep_link(await bot_username(rt.settings), issued.code)

    issued, telegram_link = run(go)
    minutes = int(linking.CODE_TTL.total_seconds() // 60)
    text = f"{issued.code}\n(type `link {issued.code}` to the CheersAI bot within {minutes} minutes; works once)"
    if telegram_link:
        text += f"\nIn Telegram, open {telegram_link}"
    emit(ctx, {"code": issued.code, "expires_at": issued.expires_at, "telegram_link": telegram_link}, text)


chat.add_command(slack_console)  # `cheers chat slack "/cheers week"`: the sandbox Slack console (make dev)
chat.add_command(telegram_console)  # `cheers chat telegram "/week"`: the sandbox Telegram console (make dev)


def register(cli: click.Group) -> None:
    """Add the chat commands to the `cheers` group."""
    cli.add_command(chat)
