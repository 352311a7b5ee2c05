from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform, local_platform

INDEX = '<!doctype html><script type="module" src="/researcher/assets/app-0123abcd.js"></script>\n'
ASSET = "document.body.append('researcher');\n"


@pytest.fixture(scope="package")
def web_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built web app of the tests' own (Vite's layout), so that the routes are
    tested apart from whatever frontend/dist holds now."""
    root = tmp_path_factory.mktemp("web-app")
    (root / "assets").mkdir()
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-0123abcd.js").write_text(ASSET)
    (root / ".build-stamp").write_text("not to be served\n")
    return root


@pytest.fixture(scope="package")
def front_door(tmp_path_factory: pytest.TempPathFactory, web_app: Path) -> Iterator[Platform]:
    """The platform with its front door as it starts by default (self-signed TLS)."""
    with local_platform(
        tmp_path_factory.mktemp("front-door"), CRUCIBLE_WEB_APP_DIR=str(web_app)
    ) as running:
        yield running
