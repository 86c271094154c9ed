"""`cheers telegram webhook set|info|delete` and `cheers telegram poll` against the twin (a real `cheers` process),
and the Telegram deep link `cheers chat link-code` prints."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.runtime import Runtime
from core.settings import Settings
from sandbox.telegram.state import DEV_BOT_TOKEN, DEV_BOT_USERNAME, DEV_WEBHOOK_SECRET
from storage.enums import ChatPlatform
from storage.models import ChatInboundEvent, Role
from tests import factories
from tests.telegram.conftest import TelegramTwin
from tests.test_cli import acheers, as_json, refused

USER = 901


def _env(telegram: TelegramTwin) -> dict[str, str]:
    return {
        "CHEERS_TELEGRAM_API_URL": telegram.url,
        "CHEERS_TELEGRAM_BOT_TOKEN": DEV_BOT_TOKEN,
        "CHEERS_TELEGRAM_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
    }


async def test_webhook_set_info_and_delete(settings: Settings, tmp_path: Path, telegram: TelegramTwin) -> None:
    env = _env(telegram)
    done = as_json(await acheers(settings, "--json", "telegram", "webhook", "set", cwd=tmp_path, **env))
    assert done["url"] == "http://testserver.local/telegram/webhook"
    hook = await telegram.control.webhook()
    assert hook["url"] == "http://testserver.local/telegram/webhook" and hook["secret_token"] == DEV_WEBHOOK_SECRET
    assert sorted(hook["allowed_updates"]) == ["callback_query", "message", "my_chat_member"]
    info = as_json(await acheers(settings, "--json", "telegram", "webhook", "info", cwd=tmp_path, **env))
    assert info["url"] == "http://testserver.local/telegram/webhook"
    assert {"week", "schedule", "link", "cancel", "help"} <= set(info["commands"]), info
    as_json(await acheers(settings, "--json", "telegram", "webhook", "delete", cwd=tmp_path, **env))
    assert (await telegram.control.webhook())["url"] == ""


async def test_webhook_set_without_a_secret_is_refused(
    settings: Settings, tmp_path: Path, telegram: TelegramTwin
) -> None:
    env = {**_env(telegram), "CHEERS_TELEGRAM_WEBHOOK_SECRET": ""}
    said = refused(await acheers(settings, "telegram", "webhook", "set", cwd=tmp_path, **env))
    assert "CHEERS_TELEGRAM_WEBHOOK_SECRET" in said
    wrong = {**_env(telegram), "CHEERS_TELEGRAM_BOT_TOKEN": "7000000002:AAHwrong-token-the-twin-refuses-000001"}
    result = await acheers(settings, "telegram", "webhook", "info", cwd=tmp_path, **wrong)
    assert "refused the bot token" in refused(result)
    assert "AAHwrong-token" not in result.stderr + result.stdout


async def test_poll_handles_waiting_updates_once(
    settings: Settings, tmp_path: Path, telegram: TelegramTwin, runtime: Runtime
) -> None:
    sent = await telegram.control.user_says("/help", user_id=USER)  # no webhook: it waits for getUpdates
    assert sent["via"] != "webhook", sent
    env = _env(telegram)
    polled = as_json(await acheers(settings, "--json", "telegram", "poll", "--once", cwd=tmp_path, **env))
    assert polled["handled"] == 1
    [answer] = await telegram.control.messages(USER)
    assert answer["text"].startswith("What I can do")
    # Telegram giving the same update again (the offset was lost): claimed already, nothing sent twice.
    await telegram.control.resend(sent["update_id"])
    as_json(await acheers(settings, "--json", "telegram", "poll", "--once", cwd=tmp_path, **env))
    assert len(await telegram.control.messages(USER)) == 1
    async with runtime.uow() as uow:
        claims = (
            await uow.session.execute(
                select(ChatInboundEvent.event_id).where(ChatInboundEvent.platform == ChatPlatform.telegram)
            )
        ).scalars()
        assert list(claims) == [f"update:{sent['update_id']}"]


async def test_link_code_prints_the_telegram_deep_link(
    settings: Settings, tmp_path: Path, telegram: TelegramTwin, runtime: Runtime
) -> None:
    sam = await factories.person(runtime, role=Role.viewer, name="Sam")
    issued = as_json(
        await acheers(
            settings, "--json", "chat", "link-code", "--user", str(sam.user_id), cwd=tmp_path, **_env(telegram)
        )
    )
    assert issued["telegram_link"] == f"https://t.me/{DEV_BOT_USERNAME}?start={issued['code']}"
    plain = await acheers(settings, "chat", "link-code", "--user", str(sam.user_id), cwd=tmp_path)
    assert plain.returncode == 0 and "t.me" not in plain.stdout, plain  # Telegram not set up: no link
