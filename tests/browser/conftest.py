"""The planner in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright for Python through
`executable_path`; Playwright's own browser downloads are never used) against the whole `make dev` stack (web,
worker, scheduler and the sandbox twins in one `cheers dev` process), one stack per test module.

The stack runs on the test's clock: CHEERS_ENV=test with CHEERS_CLOCK_OFFSET_FILE (core.clock.OffsetClock) puts it
on the Wednesday 10:00 UTC at or after today, and the Meta and Google twins are moved by the same offset, so the
tests (and the screenshots) see a mid-week day whatever the date. Without chromium or Playwright every test here
is skipped with the reason (printed once at the start too).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
import pytest

from tests.test_devserver import CHEERS, clean_env, dev_ports

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HAS_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
NO_BROWSER = (
    None
    if CHROMIUM and HAS_PLAYWRIGHT
    else "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not HAS_PLAYWRIGHT
    else "chromium is not installed (apt-get install chromium; `make test` installs it when it can)"
)
WAIT_MS = 30_000  # generous: the machine may be busy; every wait is for a condition, never a fixed time
STACK_START_SECONDS = 180.0
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 812}
# The Meta twin refuses the next post to a Page's feed for good (Graph error 100): a delivery that fails at once.
REFUSAL = {"code": 100, "message": "(#100) Invalid parameter", "count": 1, "path_contains": "/feed"}
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    if NO_BROWSER:
        print(f"\n[cheers] skipping browser tests: {NO_BROWSER}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test's report ends with the stack's log (what the server said meanwhile)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    running = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(running, Stack):
        report.sections.append(("cheers dev (last lines)", running.log_tail()))


def poll(check: Callable[[], T | None], *, what: str, within: float) -> T:
    """Call `check` until it returns something other than None; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.1)


def pinned_moment(now: datetime) -> datetime:
    """The Wednesday 10:00 UTC at or after `now`: mid-week and mid-morning in Europe/London, far from a week's
    edges, so "this week" holds everything a test makes."""
    wednesday = (now + timedelta(days=(2 - now.weekday()) % 7)).replace(hour=10, minute=0, second=0, microsecond=0)
    return wednesday if wednesday >= now else wednesday + timedelta(days=7)


@dataclass
class Stack:
    """A running `cheers dev`: where it answers, the banner's facts, and the handles tests steer it with."""

    base: str
    login_link: str
    venue_id: int
    meta_url: str
    google_url: str
    home: Path
    faults_file: Path
    log_file: Path

    @property
    def offset_file(self) -> Path:
        return self.home / "clock-offset"

    def now(self) -> datetime:
        """The stack's time (real time plus the offset this fixture gave it)."""
        return datetime.now(UTC) + timedelta(seconds=float(self.offset_file.read_text()))

    def start_of_a_minute(self) -> datetime:
        """Move the stack's clock (and the twins') forward to 2 s past the next minute and return that moment: a
        time typed to the minute into a form is then "now", not a minute in the past (which core refuses)."""
        now = self.now()
        ahead = 62 - now.second - now.microsecond / 1e6
        self.move_clock(ahead)
        return now + timedelta(seconds=ahead)

    def move_clock(self, seconds: float) -> None:
        offset = float(self.offset_file.read_text()) + seconds
        staged = self.offset_file.with_suffix(".tmp")
        staged.write_text(f"{offset:.6f}\n")
        staged.replace(self.offset_file)  # atomic: the app never reads half a number
        self.twin(self.meta_url, "clock", {"advance_seconds": seconds})
        self.twin(self.google_url, "clock/advance", {"seconds": seconds})

    def arm(self, spec: str) -> None:
        """Arm fault points in the running app (core.faults, re-read at every point); "" disarms."""
        staged = self.faults_file.with_suffix(".tmp")
        staged.write_text(spec + "\n")
        staged.replace(self.faults_file)

    def twin(self, url: str, path: str, body: dict[str, object]) -> dict[str, object]:
        """A call to a twin's control interface (`/_twin/…`)."""
        answer = httpx.post(f"{url}/_twin/{path}", json=body, timeout=30)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
        result: dict[str, object] = answer.json()
        return result

    def log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]


def _banner(log_file: Path) -> str | None:
    shown = log_file.read_text(errors="replace") if log_file.exists() else ""
    if "Traceback" in shown and "Ctrl-C stops everything" not in shown:
        raise AssertionError(f"cheers dev failed to start:\n{shown[-4000:]}")
    return shown if "Ctrl-C stops everything" in shown else None


def _serving(base: str) -> bool | None:
    try:
        httpx.get(f"{base}/api/status", timeout=5)
    except httpx.HTTPError:
        return None
    return True


@dataclass
class Booting:
    """A `cheers dev` process started in a folder of its own (its var/ starts empty: a fresh demo venue)."""

    process: subprocess.Popen[bytes]
    home: Path
    port: int
    offset: float

    def stop(self) -> None:
        # Its data goes with the folder, so there is nothing to stop cleanly (which takes seconds): kill the group.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def ready(self) -> Stack:
        """Wait for the banner and for HTTP, then put the twins on the stack's clock."""
        log_file = self.home / "dev.log"
        shown = poll(lambda: _banner(log_file), what="the cheers dev banner", within=STACK_START_SECONDS)
        base = f"http://127.0.0.1:{self.port}"
        poll(lambda: _serving(base), what="cheers dev answering HTTP", within=60)
        found = re.search(r"planner  : (\S+)", shown)
        venue = re.search(r"demo     : venue (\d+)", shown)
        twins = re.search(r"Facebook/Instagram (\S+), Google (\S+) ", shown)
        assert found and venue and twins, f"the banner changed:\n{shown}"
        running = Stack(
            base=base,
            login_link=found.group(1),
            venue_id=int(venue.group(1)),
            meta_url=twins.group(1),
            google_url=twins.group(2),
            home=self.home,
            faults_file=self.home / "faults",
            log_file=log_file,
        )
        running.twin(running.meta_url, "clock", {"advance_seconds": self.offset})  # the twins on the same clock
        running.twin(running.google_url, "clock/advance", {"seconds": self.offset})
        return running


def boot(home: Path) -> Booting:
    """Start `cheers dev` in `home` on the test's clock, with a faults file the tests arm; it answers in seconds."""
    now = datetime.now(UTC)
    offset = (pinned_moment(now) - now).total_seconds()
    (home / "clock-offset").write_text(f"{offset:.6f}\n")
    (home / "faults").write_text("")
    env = {
        k: v for k, v in clean_env().items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")
    }  # never under libfaketime: the offset file is the clock
    env |= {
        "CHEERS_ENV": "test",
        "CHEERS_CLOCK_OFFSET_FILE": str(home / "clock-offset"),
        "CHEERS_FAULTS_FILE": str(home / "faults"),
        "CHEERS_MEDIA_MAX_ATTEMPTS": "1",  # a photo whose derivatives fail once is `failed` at once (Retry mends it)
        "CHEERS_LOG_FORMAT": "json",
    }
    port = dev_ports()
    with (home / "dev.log").open("wb") as sink:
        process = subprocess.Popen(
            [CHEERS, "dev", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the twins and the image pool stop with it
        )
    return Booting(process, home, port, offset)


STACK_MODULES = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """How many test modules will ask for a stack: all of them boot at once (on xdist, a worker boots its own)."""
    modules = {item.nodeid.split("::")[0] for item in items if "stack" in getattr(item, "fixturenames", ())}
    config.stash[STACK_MODULES] = 1 if hasattr(config, "workerinput") else len(modules)


class Stacks:
    """Boots every module's `cheers dev` when the first is asked for, so the later ones are up by their turn."""

    def __init__(self, factory: pytest.TempPathFactory, wanted: int) -> None:
        self.factory, self.wanted = factory, max(wanted, 1)
        self.booting: list[Booting] = []
        self.started = False

    def take(self) -> Booting:
        if not self.started:
            self.started = True
            self.booting = [boot(self.factory.mktemp("cheers-dev")) for _ in range(self.wanted)]
        return self.booting.pop(0) if self.booting else boot(self.factory.mktemp("cheers-dev"))

    def stop(self) -> None:
        for spare in self.booting:
            spare.stop()


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Stacks]:
    if NO_BROWSER:
        pytest.skip(NO_BROWSER)
    started = Stacks(tmp_path_factory, pytestconfig.stash.get(STACK_MODULES, 1))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def stack(stacks: Stacks) -> Iterator[Stack]:
    """This module's own `cheers dev` (web, worker, scheduler and the twins), on the test's clock."""
    booting = stacks.take()
    try:
        yield booting.ready()
    finally:
        booting.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright for one module: while it runs, this thread has an event loop running, so it must stop before a
    module of async tests runs in the same process (`make test` mixes them)."""
    if NO_BROWSER:
        pytest.skip(NO_BROWSER)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium for the module's tests (one context: the signed-in cookies, each test a tab)."""
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],  # root in CI; small /dev/shm in containers
        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")},
    )
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def context(browser: Browser, stack: Stack) -> Iterator[BrowserContext]:
    """A browser signed in as the demo owner through the login link the banner prints (its confirm button)."""
    ctx = browser.new_context(base_url=stack.base, viewport=DESKTOP, accept_downloads=True)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    page.goto(stack.login_link)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/planner/week$"))
    page.close()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A fresh tab at desktop size in the signed-in browser."""
    tab = context.new_page()
    yield tab
    tab.close()


def csrf(context: BrowserContext) -> str:
    """The session's CSRF token (the `cheers_csrf` cookie), for the API calls a test makes as the signed-in person."""
    return next(c["value"] for c in context.cookies() if c.get("name") == "cheers_csrf")


def api(context: BrowserContext, method: str, path: str, body: object | None = None) -> object:
    """The JSON API as the signed-in person (session cookie + CSRF header), for setting up what a test is not about."""
    answer = context.request.fetch(path, method=method, data=body, headers={"X-CSRF-Token": csrf(context)})
    assert answer.ok, f"{method} {path}: {answer.status} {answer.text()}"
    return answer.json()


def connect_facebook(page: Page, stack: Stack) -> None:
    """Connect the demo venue's Facebook Page "The Red Lion" through the sandbox's consent, as a person does."""
    started = api(page.context, "POST", "/api/connections/facebook/authorize", {})
    assert isinstance(started, dict)
    page.goto(str(started["url"]))
    page.get_by_role("button", name=re.compile("Continue")).click()
    page.get_by_role("heading", name="Choose what to connect").wait_for()
    page.get_by_label(re.compile("The Red Lion Kitchen")).uncheck()
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("heading", name="Connected", exact=True).wait_for()


def facebook_page_id(context: BrowserContext) -> int:
    """The id of the venue's connected Facebook Page (what the API's posts name as connection_ids)."""
    listed = api(context, "GET", "/api/connections")
    assert isinstance(listed, list)
    return next(int(c["id"]) for c in listed if c["provider"] == "facebook")


def photo(folder: Path, name: str, colour: tuple[int, int, int]) -> Path:
    """A 1600x1200 JPEG: a glass of `colour` on a dark bar (each colour its own file: the library spots copies)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (1600, 1200), (40, 28, 22))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 900, 1600, 1200), fill=(92, 60, 36))
    draw.polygon([(600, 260), (1000, 260), (950, 980), (650, 980)], fill=colour)
    draw.ellipse((590, 200, 1010, 330), fill=(245, 238, 220))
    path = folder / name
    picture.save(path, "JPEG", quality=85)
    return path


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """A viewport-sized PNG of the page, in $CHEERS_SCREENSHOTS_DIR (`make screenshots`: docs/screenshots) or the
    test's tmp_path."""
    folder = Path(os.environ.get("CHEERS_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
    return path
