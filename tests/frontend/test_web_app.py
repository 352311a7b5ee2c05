"""The web app's own checks, so that they run with the suite: its build and its component tests.

The build type-checks the page against types generated from the API's
OpenAPI document, so a change of the API's contract that the page does not
follow fails here.
"""

import subprocess

from tests.support.platform import REPO

FRONTEND = REPO / "frontend"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_the_web_app_builds_against_the_current_api_contract() -> None:
    built = _run(str(REPO / "scripts" / "build-frontend.sh"))

    assert built.returncode == 0, built.stdout + built.stderr
    assert (FRONTEND / "dist" / "index.html").is_file()


def test_the_component_tests_pass() -> None:
    # After the build above (or run alone): the packages must be installed first.
    installed = _run(str(REPO / "scripts" / "build-frontend.sh"))
    assert installed.returncode == 0, installed.stdout + installed.stderr

    tested = subprocess.run(
        ["npm", "test", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=600
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr
