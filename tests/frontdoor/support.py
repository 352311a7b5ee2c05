"""What every test of the front door checks on a response, and reading an event stream."""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx

# Keeps an evaluation (and its event stream) going for as long as a test needs;
# the tests cancel it long before it ends.
SLEEPER = {"code": "import time; time.sleep(600)", "timeout_seconds": 900}


def content_security_policy(response: httpx.Response) -> dict[str, set[str]]:
    policy = response.headers["content-security-policy"]
    directives = (part.split() for part in policy.split(";") if part.strip())
    return {name: set(values) for name, *values in directives}


# Any absolute or scheme-relative URL: a page that names one depends on a
# network the platform may not have.
_OUTSIDE_URL = re.compile(r"""(?:https?:)?//[^\s"'<>]+""")
_ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def assert_api_docs_self_contained(client: httpx.Client) -> None:
    """/api/docs names no outside URL, every asset it names answers through the
    front door, and its policy lets it load from this origin alone."""
    docs = client.get("/api/docs")
    assert docs.status_code == 200, docs.text
    assert _OUTSIDE_URL.findall(docs.text) == []
    assets = _ASSET.findall(docs.text)
    assert any(asset.endswith(".js") for asset in assets), docs.text
    assert any(asset.endswith(".css") for asset in assets), docs.text
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    policy = content_security_policy(docs)
    assert policy["script-src"] == {"'self'"}
    sources = set().union(*policy.values())
    assert sources <= {"'self'", "'none'", "'unsafe-inline'", "data:"}, sources


def assert_security_headers(response: httpx.Response, *, https: bool = False) -> None:
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert content_security_policy(response)["frame-ancestors"] == {"'none'"}
    if https:
        assert response.headers["strict-transport-security"].startswith("max-age=")
    else:
        assert "strict-transport-security" not in response.headers


def evaluation_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The evaluations a Server-Sent Events stream carries, as they arrive."""
    for line in lines:
        if line.startswith("data: "):
            evaluation: dict[str, Any] = json.loads(line.removeprefix("data: "))
            yield evaluation
