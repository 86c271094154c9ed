"""`make dev` runs the Slack and Telegram twins beside the Meta and Google twins and points the app at them, so
`/cheers` works in the sandbox workspace and the bot in the sandbox Telegram without installing anything."""

from __future__ import annotations

from pathlib import Path

import httpx
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot

from api.devtwins import sandbox_twins
from bot.telegram.application import ALLOWED_UPDATES, COMMANDS
from bot.telegram.client import open_bot
from core.settings import Settings
from sandbox.telegram.state import DEV_BOT_TOKEN as TELEGRAM_DEV_BOT_TOKEN
from sandbox.telegram.state import DEV_WEBHOOK_SECRET
from sandbox.telegram.twin import TelegramTwinControl
from tests.test_devserver import dev_ports


async def test_make_dev_starts_the_slack_twin_and_the_app_talks_to_it_with_the_dev_bot_token(tmp_path: Path) -> None:
    base = dev_ports()
    given = Settings(_env_file=None, cheers_public_url=f"http://127.0.0.1:{base}")

    async with sandbox_twins(given, tmp_path, base) as settings:
        slack_url = f"http://127.0.0.1:{base + 3}"
        assert settings.cheers_slack_oauth_url == slack_url
        assert settings.slack_single_workspace  # a bot token and the twin's signing secret: no install needed
        bot = AsyncWebClient(token=settings.cheers_slack_bot_token, base_url=settings.slack_api_base)
        who = await bot.auth_test()
        assert who["team_id"] == "T0SANDBOX1" and who["user_id"] == "U0CHEERSBOT"
        written = (tmp_path / "dev-twins.env").read_text()
        # Other `cheers` commands (cheers chat slack) find the twin and the signing secret here.
        assert f"CHEERS_SLACK_API_URL={slack_url}/api/\n" in written
        assert f"CHEERS_SLACK_OAUTH_URL={slack_url}\n" in written
        assert f"CHEERS_SLACK_SIGNING_SECRET={settings.cheers_slack_signing_secret}\n" in written
    assert (tmp_path / "twins" / "slack.json").is_file()  # the sandbox workspace's messages kept for next time


async def test_a_slack_setting_given_explicitly_wins_over_the_twin(tmp_path: Path) -> None:
    base = dev_ports()
    given = Settings(_env_file=None, cheers_slack_signing_secret="my-own-app-secret")

    async with sandbox_twins(given, tmp_path, base) as settings:
        assert settings.cheers_slack_signing_secret == "my-own-app-secret"
        assert settings.cheers_slack_oauth_url == f"http://127.0.0.1:{base + 3}"
        assert "my-own-app-secret" not in (tmp_path / "dev-twins.env").read_text()


async def test_make_dev_starts_the_telegram_twin_with_its_webhook_on_the_dev_server(tmp_path: Path) -> None:
    base = dev_ports()
    given = Settings(_env_file=None, cheers_public_url=f"http://127.0.0.1:{base}")

    async with sandbox_twins(given, tmp_path, base) as settings:
        telegram_url = f"http://127.0.0.1:{base + 4}"
        assert settings.telegram_api_origin == telegram_url
        assert settings.cheers_telegram_bot_token == TELEGRAM_DEV_BOT_TOKEN
        assert settings.telegram_bot_id == "7000000001"
        assert settings.cheers_telegram_webhook_secret == DEV_WEBHOOK_SECRET
        bot = Bot(
            settings.cheers_telegram_bot_token,
            base_url=f"{settings.telegram_api_origin}/bot",
            base_file_url=f"{settings.telegram_api_origin}/file/bot",
        )
        async with bot:
            assert bot.username == settings.cheers_telegram_bot_username == "cheers_sandbox_bot"
            info = await bot.get_webhook_info()
        # People's messages reach the dev server's webhook, with the secret it checks.
        assert info.url == f"http://127.0.0.1:{base}/telegram/webhook"
        async with httpx.AsyncClient() as client:
            hook = await TelegramTwinControl(telegram_url, client).webhook()
        assert hook["secret_token"] == DEV_WEBHOOK_SECRET
        written = (tmp_path / "dev-twins.env").read_text()
        assert f"CHEERS_TELEGRAM_API_URL={telegram_url}\n" in written  # `cheers chat telegram` finds the twin here
    assert (tmp_path / "twins" / "telegram.json").is_file()


async def test_make_dev_registers_the_telegram_webhook_exactly_as_cheers_telegram_webhook_set(tmp_path: Path) -> None:
    base = dev_ports()
    given = Settings(_env_file=None, cheers_public_url=f"http://127.0.0.1:{base}")

    async with sandbox_twins(given, tmp_path, base) as settings, open_bot(settings) as bot:
        info = await bot.get_webhook_info()
        commands = await bot.get_my_commands()
    # The updates we handle and the command menu, so `cheers telegram webhook info` needs no `webhook set` first.
    assert info.url == f"http://127.0.0.1:{base}/telegram/webhook"
    assert tuple(info.allowed_updates or ()) == ALLOWED_UPDATES
    assert [(c.command, c.description) for c in commands] == list(COMMANDS)
