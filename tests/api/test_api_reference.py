"""The API reference at /schema works without internet: its scripts and styles come from this app, and a
headless browser that can reach nothing but loopback renders the operations."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.runtime import Runtime, build_runtime
from sandbox.server import TwinServer
from tests.conftest import make_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ASSET_REF = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
BUSY_MACHINE_TIMEOUT = 60.0


def real_time_env() -> dict[str, str]:
    """The environment without libfaketime (CI's year-ahead run): the browser only renders, at real time."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


@pytest.fixture
async def reference_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime that is never asked for data (the reference needs none), so one database kind is enough."""
    runtime = build_runtime(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cheers.db'}", tmp_path))
    yield runtime
    await runtime.close()


@pytest.fixture
async def served(reference_runtime: Runtime) -> AsyncIterator[str]:
    """The app over real HTTP on a free loopback port, as a browser reaches it."""
    server = TwinServer(create_app(runtime=reference_runtime, configure_logs=False))
    yield await server.start()
    await server.stop()


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger", "/schema/scalar"])
async def test_every_script_style_and_icon_of_the_reference_is_served_here(served: str, path: str) -> None:
    # Swagger UI's bundle is over a megabyte: on a loaded machine httpx's default 5 s read timeout is not enough.
    async with httpx.AsyncClient(base_url=served, timeout=BUSY_MACHINE_TIMEOUT) as http:
        page = await http.get(path)
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text, page.text[:500]
        refs = ASSET_REF.findall(page.text)
        assert refs, "the page loads its scripts from somewhere"
        assert [r for r in refs if not r.startswith("/")] == [], "nothing is loaded from another host"
        for ref in refs:
            asset = await http.get(ref)
            assert asset.status_code == 200 and asset.content, f"{ref}: {asset.status_code}"
        spec = await http.get("/schema/openapi.json")
        assert spec.status_code == 200 and "/api/posts" in spec.json()["paths"]


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)"
)
async def test_the_reference_renders_its_operations_in_a_browser_with_no_network(served: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    browser = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # tests run as root in CI
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no name resolves: no CDN is reachable
        "--virtual-time-budget=15000",
        "--dump-dom",
        f"{served}/schema",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=real_time_env(),
    )
    out, err = await asyncio.wait_for(browser.communicate(), timeout=180)
    dom = out.decode(errors="replace")
    assert browser.returncode == 0, err.decode(errors="replace")[-2000:]
    # Swagger UI writes each operation as an "opblock" with its path; the served HTML has none of them.
    rendered = set(re.findall(r'data-path="([^"]+)"', dom))
    assert {"/api/posts", "/api/connections"} <= rendered, f"not rendered: {dom[:1500]}"
