"""`make dev` (`cheers dev`) stops quietly on Ctrl-C, even after its image pool has processed a photo: no
traceback from a pool worker, no "leaked semaphore" warning from multiprocessing's resource tracker."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from sandbox.server import free_port
from tests.factories import eventually

CHEERS = str(Path(sys.executable).with_name("cheers"))


def dev_ports() -> int:
    """A port such that it and the next five are free (`cheers dev` puts the twins on port+1 to +5)."""
    for _ in range(50):
        base = free_port()
        try:
            for port in (base + 1, base + 2, base + 3, base + 4, base + 5):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no six consecutive free ports")


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (180, 90, 40)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def clean_env() -> dict[str, str]:
    """The developer's environment without the suite's settings, so `cheers dev` uses its own var/ folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHEERS_", "DATABASE_URL", "REDIS_URL"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


async def cheers(cwd: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        CHEERS, *args, cwd=cwd, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.slow
async def test_ctrl_c_stops_make_dev_quietly_after_the_image_pool_ran(tmp_path: Path) -> None:
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
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
        )
    try:

        async def banner() -> re.Match[str] | None:
            return re.search(r"owner user (\d+)", log.read_text(errors="replace"))

        owner = (await eventually(banner, what="the make dev banner", within=180)).group(1)
        token = json.loads(await cheers(tmp_path, "--json", "tokens", "create", "--user", owner))["token"]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            r = await http.post(
                "/api/media",
                params={"filename": "pint.jpg"},
                content=jpeg(),
                headers={"Content-Type": "image/jpeg"},
            )
            assert r.status_code in (200, 201), r.text
            asset = r.json()["asset"]["id"]

            async def ready() -> bool | None:
                status = (await http.get(f"/api/media/{asset}")).json()["status"]
                assert status not in ("failed", "skipped"), status
                return True if status == "ready" else None

            await eventually(ready, what="the photo's derivatives (made in the image pool)", within=120)
        os.killpg(dev.pid, signal.SIGINT)
        await asyncio.wait_for(dev.wait(), timeout=120)
    finally:
        if dev.returncode is None:
            os.killpg(dev.pid, signal.SIGKILL)
            await dev.wait()
    output = log.read_text(errors="replace")
    assert "CheersAI stopped" in output, output[-3000:]
    assert "leaked semaphore" not in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.slow
async def test_make_dev_answers_slack_commands_typed_with_cheers_chat_slack(tmp_path: Path) -> None:
    """The README's first Slack step: with `make dev` running, `cheers chat slack` finds the app, the Slack twin and
    the signing secret by itself (var/dev-twins.env) and prints the bot's answer."""
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
        assert f"sandbox workspace at http://127.0.0.1:{port + 3}" in shown
        assert 'cheers chat slack "/cheers help"' in shown

        async def serving() -> bool | None:
            async with httpx.AsyncClient(timeout=5) as http:
                try:
                    await http.get(f"http://127.0.0.1:{port}/api/status")  # any answer: it is listening
                    return True
                except httpx.HTTPError:
                    return None

        await eventually(serving, what="make dev answering HTTP", within=60)
        said = await cheers(tmp_path, "chat", "slack", "/cheers help")

        assert "sam (U0OWNER001) typed in #general" in said and "# What I can do" in said, said
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(dev.wait(), timeout=120)
        finally:
            if dev.returncode is None:
                os.killpg(dev.pid, signal.SIGKILL)
                await dev.wait()
