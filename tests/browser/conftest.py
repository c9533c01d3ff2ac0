"""Browser tests: the web client (web/dist) in headless Chromium, against the local stack.

The stack runs as in tests/e2e (`LocalStackProcess`, free ports) and also serves the web
client (`--web-port 0`). Chromium is Debian's (`chromium` on PATH, or CHROMIUM=/path):
Playwright drives it and never downloads a browser. Without Chromium or without the
built client the tests fail with what to do: they never skip.

Screenshots go to a temporary folder; `make screenshots` (SCREENSHOTS=docs/screenshots)
writes the ones web/README.md shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.conftest import ROOT, LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"
DESKTOP = {"width": 1100, "height": 700}
PHONE = {"width": 390, "height": 760}
expect.set_options(timeout=20_000)


def chromium_path() -> str:
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not path:
        pytest.fail(
            "Chromium is needed for the browser tests: `make test` installs Debian's package "
            "when run as root; otherwise `apt-get install chromium` or set CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    if not (ROOT / "web" / "dist" / "index.html").exists():
        pytest.fail("the web client is not built: run `make web` first", pytrace=False)
    running = LocalStackProcess(
        tmp_path_factory.mktemp("web-stack"), extra_args=["--web-port", "0"]
    ).wait_ready()
    try:
        warm_up_the_bot(running)
    except BaseException:
        running.kill()
        raise
    yield running
    running.stop()


def warm_up_the_bot(stack: LocalStackProcess, timeout: float = 120) -> None:
    """One bot answer before the tests: the worker's cold start (seconds on a busy machine)
    is paid here, with a generous budget, not inside a test's wait."""
    rest = Rest(stack.urls["rest"])
    username = unique("warmup")
    token = rest.post("/auth/register", {"username": username, "password": PASSWORD}).json()[
        "access_token"
    ]
    room = rest.post("/rooms", {"name": "warm-up"}, token=token).json()
    socket = Socket(f"{stack.urls['ws']}?token={token}")
    try:
        socket.send(type="join", room_id=room["room_id"])
        socket.wait_for_type("joined", room_id=room["room_id"])
        sent = rest.post(f"/rooms/{room['room_id']}/messages", {"content": "@bot hi"}, token=token)
        assert sent.status_code == 201, sent.text
        try:
            socket.wait_for_type("bot_stream", timeout=timeout, is_complete=True)
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- stack log ---\n{stack.log_tail(80)}") from None
    finally:
        socket.close()


# One browser per file: Playwright's sync API keeps its event loop marked as running on the
# worker's main thread while it is open, and the next file on this worker may run asyncio.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("SCREENSHOTS")
    folder = (ROOT / target) if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Person:
    """One user with their own browser context (own sessionStorage, own socket)."""

    def __init__(self, browser: Browser, stack: LocalStackProcess, name: str, **context: Any):
        self.stack = stack
        self.username = unique(name)
        self.context: BrowserContext = browser.new_context(**{"viewport": DESKTOP, **context})
        self.page: Page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def open(self) -> Page:
        self.page.goto(self.stack.urls["web"])
        return self.page

    def register_by_api(self) -> str:
        response = Rest(self.stack.urls["rest"]).post(
            "/auth/register", {"username": self.username, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        return response.json()["access_token"]

    def sign_in(self) -> Page:
        page = self.open()
        page.fill("#login-username", self.username)
        page.fill("#login-password", PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#me")).to_have_text(self.username)
        return page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def people(browser: Browser, web_stack: LocalStackProcess) -> Iterator[Any]:
    made: list[Person] = []

    def make(name: str, **context: Any) -> Person:
        person = Person(browser, web_stack, name, **context)
        made.append(person)
        return person

    yield make
    for person in made:
        person.close()
    for person in made:
        assert not person.errors, f"uncaught errors in {person.username}'s page: {person.errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test reports the end of the local stack's log with it."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    stack = getattr(item, "funcargs", {}).get("web_stack")
    if report.when == "call" and report.failed and isinstance(stack, LocalStackProcess):
        report.sections.append(("local stack log (last 60 lines)", stack.log_tail(60)))
