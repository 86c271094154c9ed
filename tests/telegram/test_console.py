"""`cheers chat telegram`, the sandbox console of `make dev`, against the app served on a real port and the Telegram
twin delivering to its webhook with the secret: the console is another process, as a newcomer runs it; it prints
what the bot sent back (text, buttons by label, edits, the answer to a click, a worker's answer after "Working on
it…", what the bot sent meanwhile), and a wrong webhook secret is reported as the 401 it is."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import offer_data
from core.notifications.actions import Action, Offer
from core.runtime import Runtime
from sandbox.telegram.state import DEV_BOT_TOKEN, DEV_WEBHOOK_SECRET
from storage.models import Role
from tests import factories
from tests.bot.conftest import Pub, pub  # noqa: F401 - The Red Lion with a Facebook Page
from tests.bot.support import code_for
from tests.factories import eventually
from tests.telegram.conftest import WEBHOOK, Served, TelegramTwin
from tests.test_devserver import cheers, clean_env, dev_ports

CHEERS = str(Path(sys.executable).with_name("cheers"))
MO, VIC = 701, 703  # Telegram user ids


async def console(tmp_path: Path, telegram: TelegramTwin, *args: str, wait: float = 60) -> tuple[int, str, str]:
    """Run `cheers chat telegram ARGS` as a newcomer would, pointed at this twin; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHEERS_", "DATABASE_URL", "REDIS_URL"))}
    env["CHEERS_VAR_DIR"] = str(tmp_path / "console")
    proc = await asyncio.create_subprocess_exec(
        CHEERS,
        "chat",
        "telegram",
        *args,
        "--twin",
        telegram.url,
        "--wait",
        str(wait),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_console_sends_a_command_through_the_webhook_and_prints_the_answer(
    tmp_path: Path, served: Served, telegram: TelegramTwin
) -> None:
    code, out, err = await console(tmp_path, telegram, "/help")

    assert code == 0, err
    assert "→ Sam (4242) in their private chat with the bot: /help" in out  # the default sandbox person
    assert f"(delivered to {served.url}{WEBHOOK}: HTTP 200)" in out
    assert "← the bot sent message 2" in out and "What I can do" in out
    [update] = await telegram.control.updates()
    assert update["update"]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 5}]


async def test_a_person_links_by_command_and_by_deep_link_then_asks_for_the_week(
    tmp_path: Path, served: Served, telegram: TelegramTwin, runtime: Runtime
) -> None:
    venue_id = await factories.venue(runtime, name="The Red Lion")
    mo = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Mo Manager")
    vic = await factories.person(runtime, venue_id=venue_id, role=Role.viewer, name="Vic Viewer")

    code, out, err = await console(
        tmp_path, telegram, f"/link {await code_for(runtime, mo)}", "--user", str(MO), "--name", "Mo"
    )
    assert code == 0, err
    assert f"→ Mo ({MO}) in their private chat with the bot: /link" in out
    assert "Linked: here you are Mo Manager" in out

    deep_link = f"https://t.me/cheers_sandbox_bot?start={await code_for(runtime, vic)}"
    code, out, err = await console(tmp_path, telegram, deep_link, "--user", str(VIC), "--name", "Vic")
    assert code == 0, err
    assert f"→ Vic ({VIC}) in their private chat with the bot: /start " in out  # what opening the link sends
    assert "Linked: here you are Vic Viewer" in out

    code, out, err = await console(tmp_path, telegram, "/week", "--user", str(MO))
    assert code == 0, err
    assert "This week at The Red Lion: nothing scheduled" in out


async def test_in_a_new_group_the_bot_is_added_first_and_plain_talk_is_not_seen(
    tmp_path: Path, served: Served, telegram: TelegramTwin
) -> None:
    code, out, err = await console(tmp_path, telegram, "/help", "--group", "Red Lion staff")

    assert code == 0, err
    assert "→ Sam (4242) added @cheers_sandbox_bot to the group 'Red Lion staff'" in out
    assert "Hello, Red Lion staff! I'm CheersAI's assistant." in out  # the greeting, once
    assert "in the group 'Red Lion staff'" in out and "What I can do" in out

    code, out, err = await console(tmp_path, telegram, "what's on tonight?", "--group", "Red Lion staff")
    assert code == 0, err
    assert "added @cheers_sandbox_bot" not in out  # the same title is the same group
    assert "(privacy mode: in a group the bot sees only commands" in out


async def test_the_guided_schedule_is_driven_by_button_labels_and_a_photo(
    tmp_path: Path,
    served: Served,
    telegram: TelegramTwin,
    runtime: Runtime,
    pub: Pub,  # noqa: F811
) -> None:
    mo = await factories.person(runtime, venue_id=pub.id, role=Role.editor, name="Mo Editor")
    code, out, err = await console(tmp_path, telegram, f"/link {await code_for(runtime, mo)}", "--user", str(MO))
    assert code == 0 and "Linked" in out, err

    code, out, err = await console(tmp_path, telegram, "/schedule", "--user", str(MO))
    assert code == 0, err
    assert "Schedule a post for The Red Lion: where to?" in out
    assert "[Done]" in out and "[Cancel]" in out  # the buttons, by label, one keyboard row a line

    code, out, err = await console(tmp_path, telegram, "--click", "done", "--user", str(MO))  # any case
    assert code == 0, err
    assert f"→ Sam ({MO}) pressed [Done] on message" in out
    assert "← the click was answered" in out and "← the bot edited message" in out
    assert "What should the post say?" in out

    code, out, err = await console(tmp_path, telegram, "Quiz night from 8, free entry!", "--user", str(MO))
    assert code == 0 and "Add a photo?" in out and "[Skip (no photo)]" in out, err

    photo = tmp_path / "quiz.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (180, 80, 20)).save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())
    code, out, err = await console(tmp_path, telegram, "--photo", str(photo), "--user", str(MO))
    assert code == 0, err
    assert f"→ Sam ({MO}) sent the photo quiz.jpg in their private chat with the bot" in out
    assert "When should it go out?" in out and "[Tomorrow noon]" in out


async def test_a_slow_button_waits_for_the_workers_answer_and_shows_what_came_meanwhile(
    tmp_path: Path, served: Served, telegram: TelegramTwin
) -> None:
    code, out, err = await console(tmp_path, telegram, "/help", "--user", str(VIC))  # Vic opens a chat with the bot
    assert code == 0, err
    retry = Offer(Action.retry, "Retry", target_id=424242)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Retry", callback_data=offer_data(retry))]])
    async with Bot(DEV_BOT_TOKEN, base_url=f"{telegram.url}/bot") as bot:  # an alert, while no console runs
        await bot.send_message(VIC, "Not published", reply_markup=keyboard)

    code, out, err = await console(tmp_path, telegram, "--click", "Retry", "--user", str(VIC))

    assert code == 0, err
    assert out.index("← meanwhile the bot sent message") < out.index(f"→ Sam ({VIC}) pressed [Retry]")
    assert "Not published\n  [Retry]" in out
    assert "← the click was answered: “Working on it…”" in out
    # The worker's answer: Vic is not linked, so they are told how to link.
    assert "Link your chat account to CheersAI first" in out
    assert "no answer from a worker" not in out


async def test_a_wrong_webhook_secret_is_reported_as_the_401_and_nothing_is_done(
    tmp_path: Path, served: Served, telegram: TelegramTwin
) -> None:
    await telegram.control.set_webhook(f"{served.url}{WEBHOOK}", "not-the-secret")

    code, out, err = await console(tmp_path, telegram, "/help")

    assert code == 1 and out == ""
    assert err.startswith("cheers: CheersAI refused the update: HTTP 401") and err.count("\n") == 1
    assert "webhook secret did not match" in err and "CHEERS_TELEGRAM_WEBHOOK_SECRET" in err
    assert await telegram.control.messages(4242) == []  # the bot said nothing
    await telegram.control.set_webhook(f"{served.url}{WEBHOOK}", DEV_WEBHOOK_SECRET)
    code, out, err = await console(tmp_path, telegram, "/help")
    assert code == 0 and "What I can do" in out, err


async def test_without_a_webhook_the_update_waits_for_a_poller_and_the_console_says_so(
    tmp_path: Path, served: Served, telegram: TelegramTwin
) -> None:
    await telegram.control.delete_webhook()

    code, out, err = await console(tmp_path, telegram, "/help", wait=1)

    assert code == 0, err
    assert "(the twin has no webhook: the update waits for getUpdates, e.g. `cheers telegram poll`)" in out
    assert "(nothing fetched it within 1s: run `cheers telegram poll`, or `make dev`)" in out
    [update] = await telegram.control.updates()
    assert not update["confirmed"]  # still there for getUpdates


async def test_without_a_twin_the_console_says_how_to_start_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHEERS_", "DATABASE_URL", "REDIS_URL"))}
    proc = await asyncio.create_subprocess_exec(
        CHEERS,
        "chat",
        "telegram",
        "/week",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)

    assert proc.returncode == 1 and out == b""
    assert b"CHEERS_TELEGRAM_API_URL is Telegram itself" in err and b"make dev" in err


@pytest.mark.slow
async def test_make_dev_answers_telegram_messages_written_with_cheers_chat_telegram(tmp_path: Path) -> None:
    """The README's Telegram steps: `make dev` runs the twin on port+4 with its webhook on the dev server, the banner
    says how to write to the bot, and `cheers chat telegram` finds the twin by itself (var/dev-twins.env): a person
    links with the deep link `cheers chat link-code` prints and asks for the week."""
    port = dev_ports()
    log = tmp_path / "dev.log"
    with log.open("wb") as sink:
        dev = await asyncio.create_subprocess_exec(
            CHEERS,
            "dev",
            "--port",
            str(port),
            cwd=tmp_path,
            env=clean_env(),
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        async def banner() -> str | None:
            shown = log.read_text(errors="replace")
            return shown if "Ctrl-C stops everything" in shown else None

        shown = await eventually(banner, what="the make dev banner", within=180)
        assert f"sandbox Telegram at http://127.0.0.1:{port + 4} with @cheers_sandbox_bot" in shown
        assert 'cheers chat telegram "/help"' in shown
        owner = re.search(r"owner user (\d+)", shown)
        assert owner is not None, shown

        async def serving() -> bool | None:
            async with httpx.AsyncClient(timeout=5) as http:
                try:
                    await http.get(f"http://127.0.0.1:{port}/api/status")  # any answer: it is listening
                    return True
                except httpx.HTTPError:
                    return None

        await eventually(serving, what="make dev answering HTTP", within=60)
        issued = json.loads(await cheers(tmp_path, "--json", "chat", "link-code", "--user", owner.group(1)))
        assert issued["telegram_link"] == f"https://t.me/cheers_sandbox_bot?start={issued['code']}"

        said = await cheers(tmp_path, "chat", "telegram", issued["telegram_link"])
        assert f"(delivered to http://127.0.0.1:{port}/telegram/webhook: HTTP 200)" in said, said
        assert "Linked: here you are Demo Owner" in said, said
        said = await cheers(tmp_path, "chat", "telegram", "/week")
        assert "This week at The Red Lion (demo)" in said, said
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(dev.wait(), timeout=120)
        finally:
            if dev.returncode is None:
                os.killpg(dev.pid, signal.SIGKILL)
                await dev.wait()
