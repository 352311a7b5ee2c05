"""The web app in a real headless Chromium, against the platform started by ./start-platform.sh.

Debian's `chromium` (./run-tests.sh installs it) driven by Playwright; the
browser Playwright would download is never used. Screenshots go to
tests/browser/artifacts/; with CRUCIBLE_UPDATE_DOC_IMAGES=1 the ones the user
guide shows are copied to docs/images/ too.
"""

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.platform import REPO, Platform, local_platform

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOC_IMAGES = REPO / "docs" / "images"


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # The start script builds frontend/dist and its front door serves it at /researcher/.
    with local_platform(tmp_path_factory.mktemp("browser-platform")) as running:
        yield running


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (./run-tests.sh does)")
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture
def page_without_key(browser: Browser, platform: Platform) -> Iterator[Page]:
    """A fresh browser profile (empty localStorage) on the platform's front door."""
    context = browser.new_context(
        base_url=platform.front_door_url, viewport={"width": 1400, "height": 900}
    )
    yield context.new_page()
    context.close()


@pytest.fixture
def page(page_without_key: Page, platform: Platform) -> Page:
    """As `page_without_key`, with the admin API key already given to the page."""
    key = json.dumps(platform.admin_key)
    page_without_key.add_init_script(f"localStorage.setItem('crucible.apiKey', {key})")
    return page_without_key


def screenshot(page: Page, name: str, *, for_docs: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if for_docs and os.environ.get("CRUCIBLE_UPDATE_DOC_IMAGES"):
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / path.name)
    return path
