"""A newcomer's first run: `git clone`, then `./start-platform.sh`, with nothing built.

The repository's committed state is cloned into a temporary folder (no
frontend/dist, no .crucible/, no .venv) and started there with one variable,
CRUCIBLE_PORT, at a base whose every derived port is free. What the newcomer
opens is then checked as they would open it: the web app, the sign-in link
in Chromium, the API docs, an evaluation through the front door. A second
checkout (this one) then runs beside it by setting CRUCIBLE_PORT alone.
"""

import os
import random
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.frontdoor.support import assert_api_docs_self_contained
from tests.support.platform import REPO, SERVICES, START_PLATFORM, Platform, process_alive

# start-platform.sh's ports at CRUCIBLE_PORT=8080, as it lists them: each moves with it.
_DEFAULTS = re.search(r"^PORT_DEFAULTS=\(([0-9 ]+)\)$", START_PLATFORM.read_text(), re.MULTILINE)
assert _DEFAULTS, "start-platform.sh lists no PORT_DEFAULTS"
PORTS_AT_8080 = tuple(int(port) for port in _DEFAULTS.group(1).split())
# npm ci, uv sync and the web app's build, all from nothing.
FIRST_START_TIMEOUT = 900


@dataclass
class Checkout:
    root: Path
    env: dict[str, str]
    platform: Platform
    first_start: subprocess.CompletedProcess[str]
    first_start_seconds: float

    def script(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_script(self.root, self.env, *args)

    def pids(self) -> dict[str, int]:
        return {name: self.platform.pid(name) for name in SERVICES}


def run_script(
    root: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / START_PLATFORM.name), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def newcomer_env(base: int, **more: str) -> dict[str, str]:
    """The machine's environment with none of Crucible's settings but the port base:
    nothing the suite or its runner set reaches the start."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CRUCIBLE_")
        and name
        not in {"PROMETHEUS_MULTIPROC_DIR", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "DOCKER_HOST"}
    }
    return {**kept, "CRUCIBLE_PORT": str(base), **more}


def free_base() -> int:
    """A CRUCIBLE_PORT whose every port is free, all below the kernel's ephemeral
    range and below the suite's own free_port() picks (from 20000)."""
    lowest, highest = 3000 - min(PORTS_AT_8080) + 8080, 20000 - max(PORTS_AT_8080) + 8080
    for _ in range(200):
        base = random.randint(lowest, highest)
        if all(_port_free(port - 8080 + base) for port in PORTS_AT_8080):
            return base
    raise RuntimeError("no CRUCIBLE_PORT with every port free")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def printed(output: str, label: str) -> str:
    found = re.search(rf"^\s*{label}:\s+(\S+)", output, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{output}"
    return found.group(1)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkout]:
    root = tmp_path_factory.mktemp("fresh-clone") / "crucible"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(root)], check=True, timeout=120)
    assert not (root / "frontend" / "dist").exists() and not (root / ".crucible").exists()
    base = free_base()
    env = newcomer_env(base)
    began = time.monotonic()
    # As a newcomer types it: no command, no option.
    started = run_script(root, env, timeout=FIRST_START_TIMEOUT)
    seconds = time.monotonic() - began
    platform = Platform(root / ".crucible", env, base)
    try:
        assert started.returncode == 0, f"{started.stdout}\n{started.stderr}"
        yield Checkout(root, env, platform, started, seconds)
    finally:
        platform.client.close()
        run_script(root, env, "stop")
        # Its node_modules and .venv are hundreds of MB: not kept with pytest's last runs.
        shutil.rmtree(root, ignore_errors=True)


def test_the_first_start_builds_and_serves_the_web_app(clone: Checkout) -> None:
    print(f"first start of a fresh clone: {clone.first_start_seconds:.0f} s")
    assert "could not be built" not in clone.first_start.stdout, clone.first_start.stdout
    web_app = printed(clone.first_start.stdout, "Web app")
    assert web_app == f"http://localhost:{clone.platform.port}/researcher/"

    page = httpx.get(web_app.replace("localhost", "127.0.0.1"))

    assert page.status_code == 200
    assert '<div id="root">' in page.text and "/researcher/assets/" in page.text


def test_the_api_docs_need_no_outside_network(clone: Checkout) -> None:
    assert printed(clone.first_start.stdout, "API docs").endswith("/api/docs")
    assert_api_docs_self_contained(clone.platform.client)


def test_hello_through_the_front_door(clone: Checkout) -> None:
    evaluation = clone.platform.run(code="print('hello')")

    assert evaluation["status"] == "completed", evaluation
    assert evaluation["stdout"] == "hello\n"


def test_the_sign_in_link_and_the_api_docs_work_in_chromium(clone: Checkout) -> None:
    link = printed(clone.first_start.stdout, "Sign in")
    key = link.split("#key=", 1)[1]
    assert key == clone.platform.admin_key
    # What the policy refuses, and scripts that fail (the web app has no
    # favicon.ico: that 404 is neither).
    refused: list[str] = []

    def note_refusal(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(f"{message.text} ({message.location.get('url')})")

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", note_refusal)
            page.on("pageerror", lambda error: refused.append(str(error)))
            page.goto(link)
            expect(page.locator(".monaco-editor")).to_be_visible()
            assert page.evaluate("localStorage.getItem('crucible.apiKey')") == key
            assert "#key=" not in page.url
            expect(page.get_by_role("button", name="Forget key")).to_be_visible()

            # Swagger UI draws the operations under the docs' own policy, or not at all.
            page.goto(link.split("/researcher/", 1)[0] + "/api/docs")
            expect(page.get_by_text("/api/evaluations").first).to_be_visible()
        finally:
            browser.close()
    assert refused == []


def test_a_second_checkout_runs_beside_it_with_one_variable(
    clone: Checkout, tmp_path: Path
) -> None:
    # This checkout, with a state of its own: the ports are what the two share.
    same = newcomer_env(clone.platform.port, CRUCIBLE_STATE_DIR=str(tmp_path / "state"))

    refused = run_script(REPO, same, "start", "--local")

    assert refused.returncode != 0
    assert "is taken by another program" in refused.stderr, refused.stderr
    suggested = re.search(r"set CRUCIBLE_PORT=(\d+)", refused.stderr)
    assert suggested, refused.stderr
    beside = {**same, "CRUCIBLE_PORT": suggested.group(1)}
    started = run_script(REPO, beside, "start", "--local")
    second = Platform(tmp_path / "state", beside, int(suggested.group(1)))
    try:
        assert started.returncode == 0, f"{started.stdout}\n{started.stderr}"
        assert second.run(code="print('second')")["stdout"] == "second\n"
        assert clone.platform.run(code="print('first')")["stdout"] == "first\n"
    finally:
        second.client.close()
        run_script(REPO, beside, "stop")


def test_stop_then_a_second_start_starts_each_service_once(clone: Checkout) -> None:
    before = clone.pids()
    again = clone.script("start")
    assert again.returncode == 0, again.stderr
    assert clone.pids() == before
    assert again.stdout.count("already runs") == len(SERVICES)

    stopped = clone.script("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not any(process_alive(pid) for pid in before.values())

    began = time.monotonic()
    restarted = clone.script("start")
    print(f"start after stop: {time.monotonic() - began:.0f} s")

    assert restarted.returncode == 0, f"{restarted.stdout}\n{restarted.stderr}"
    assert restarted.stdout.count(" started (pid") == len(SERVICES)
    assert "already runs" not in restarted.stdout
    assert "up to date" in (clone.root / ".crucible" / "logs" / "web-app-build.log").read_text()
    assert clone.platform.run(code="print('again')")["stdout"] == "again\n"
