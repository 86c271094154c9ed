"""`cheers chat slack`, the sandbox console of `make dev`, against the app served on a real port and the Slack twin:
the command is typed as Slack would send it (signed, with the twin's trigger_id and response_url) and the console
prints what the bot answered and posted; a wrong signing secret is reported as the 401 it is."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from api.devtwins import slack_twin_settings
from core.runtime import Runtime
from core.settings import Settings
from sandbox.server import TwinServer
from sandbox.slack.state import DEFAULT_SIGNING_SECRET
from storage.models import Role
from tests import factories
from tests.bot.support import code_for
from tests.conftest import make_settings
from tests.sandbox_slack.conftest import SlackTwin

CHEERS = str(Path(sys.executable).with_name("cheers"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path, slack: SlackTwin) -> Settings:
    """The app wired to the twin exactly as `make dev` wires it (single workspace, the twin's dev bot token)."""
    return make_settings(database_url, tmp_path, **slack_twin_settings(slack.url))


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[str]:
    """The app on a free loopback port, as `make dev` serves it (the console is another process)."""
    app: Any = create_app(runtime=runtime, configure_logs=False)
    async with LifespanManager(app):
        server = TwinServer(app)
        url = await server.start()
        try:
            yield url
        finally:
            await server.stop()


async def console(
    tmp_path: Path, served: str, slack: SlackTwin, *args: str, secret: str = DEFAULT_SIGNING_SECRET
) -> tuple[int, str, str]:
    """Run `cheers chat slack ARGS` as a newcomer would, pointed at this app and twin; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHEERS_", "DATABASE_URL", "REDIS_URL"))}
    env["CHEERS_VAR_DIR"] = str(tmp_path / "console")
    proc = await asyncio.create_subprocess_exec(
        CHEERS,
        "chat",
        "slack",
        *args,
        "--url",
        served,
        "--twin",
        slack.url,
        "--signing-secret",
        secret,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cheers_chat_slack_types_the_command_and_prints_the_bots_answer(
    tmp_path: Path, served: str, slack: SlackTwin
) -> None:
    code, out, err = await console(tmp_path, served, slack, "/cheers help")

    assert code == 0, err
    assert "sam (U0OWNER001) typed in #general (C0GENERAL1): /cheers help" in out
    assert "← the bot answered (HTTP 200, only they see it):" in out
    assert "# What I can do" in out and "week [next]" in out


async def test_a_person_links_their_slack_account_from_the_console(
    tmp_path: Path, served: str, slack: SlackTwin, runtime: Runtime
) -> None:
    venue_id = await factories.venue(runtime, name="The Red Lion")
    mo = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Mo Manager")

    code, out, err = await console(
        tmp_path, served, slack, f"/cheers link {await code_for(runtime, mo)}", "--user", "U0MANAGER1"
    )
    assert code == 0, err
    assert "mo (U0MANAGER1) typed" in out and "Linked: here you are Mo Manager" in out

    code, out, err = await console(tmp_path, served, slack, "/cheers week", "--user", "mo", "--channel", "#alerts")
    assert code == 0, err
    assert "mo (U0MANAGER1) typed in #alerts (C0ALERTS01): /cheers week" in out  # names work as well as ids
    assert "This week at The Red Lion: nothing scheduled" in out


async def test_a_wrong_signing_secret_is_reported_as_the_401_and_nothing_is_done(
    tmp_path: Path, served: str, slack: SlackTwin, runtime: Runtime
) -> None:
    venue_id = await factories.venue(runtime, name="The Red Lion")
    mo = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Mo Manager")
    link = f"/cheers link {await code_for(runtime, mo)}"

    code, out, err = await console(tmp_path, served, slack, link, "--user", "U0MANAGER1", secret="not-the-secret")

    assert code == 1 and out == ""
    assert err.startswith("cheers: CheersAI refused the request: HTTP 401") and err.count("\n") == 1
    assert "signature did not verify" in err and "CHEERS_SLACK_SIGNING_SECRET" in err
    assert await slack.control.activity() == ([], 0)  # the bot said nothing anywhere
    code, out, err = await console(tmp_path, served, slack, link, "--user", "U0MANAGER1")
    assert code == 0 and "Linked" in out, err  # the code was not used up by the forged request


async def test_clicking_a_button_on_the_last_message_prints_the_workers_answer(
    tmp_path: Path, served: str, slack: SlackTwin
) -> None:
    retry_button = {
        "type": "button",
        "action_id": "retry:m",
        "text": {"type": "plain_text", "text": "Retry"},
        "value": "retry t=424242",
    }
    await slack.client().chat_postMessage(
        channel="C0ALERTS01",
        text="Not published",
        blocks=[{"type": "actions", "block_id": "m", "elements": [retry_button]}],
    )

    code, out, err = await console(tmp_path, served, slack, "--click", "retry", "--user", "U0VIEWER01")

    assert code == 0, err
    assert "vic (U0VIEWER01) clicked [Retry] (retry t=424242) in C0ALERTS01" in out
    assert "← the bot acknowledged it (HTTP 200, nothing shown)" in out
    # A worker answers at the click's response_url: this clicker is not linked, so they are told how to link.
    assert "showed U0VIEWER01 privately in C0ALERTS01 via response_url" in out
    assert "Link your chat account to CheersAI first" in out
