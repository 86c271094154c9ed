"""`make dev` runs the Slack twin beside the Meta and Google twins and points the Slack app at it, so `/cheers`
works in the sandbox workspace without installing anything."""

from __future__ import annotations

from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from api.devtwins import sandbox_twins
from core.settings import Settings
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
