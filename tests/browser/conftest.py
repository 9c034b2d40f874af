"""Browser test fixtures: the app served on 127.0.0.1 in a thread, and headless Debian Chromium.

Shared by the firm-flow and the hub's technician tests. Fixtures:
- ``live_server``: ``.url`` (``http://127.0.0.1:PORT``), ``.app``; CSRF on, background analysis
  (one worker) as in production, a fresh database per test (the root ``app`` fixture).
- ``browser`` (session): Chromium from ``/usr/bin/chromium`` with SwiftShader WebGL; never a
  downloaded browser (no ``playwright install``).
- ``browser_page``: a fresh context and page (1280×900, German); ``page.console_errors`` lists the
  console errors and page errors seen.
- ``screenshot(page, name)``: save ``artifacts/screenshots/<name>.png`` and return its path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def app_config(app_config):
    """Browser tests run the app as in production: CSRF on, tasks in a background worker."""
    return {**app_config, "WTF_CSRF_ENABLED": True, "HUEY_IMMEDIATE": False,
            "HUEY_STORAGE": "memory"}


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/install.sh --test)")
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def browser_page(browser):
    # the harness's wait_for_function() evaluates strings, which the app's CSP forbids
    # (rightly); the policy itself is tested by test_csp.py in contexts without the bypass
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE",
                                  bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text)
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, **kwargs) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), **kwargs)
        return path

    return take
