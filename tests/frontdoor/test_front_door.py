"""The front door (nginx) of a platform started for real by ./start-platform.sh:
routes, security headers, TLS, the body limit and Server-Sent Events."""

import ssl
from pathlib import Path

import httpx
import pytest

from crucible_shared.limits import MAX_REQUEST_BYTES
from tests.frontdoor.conftest import ASSET, INDEX
from tests.frontdoor.support import (
    SLEEPER,
    assert_api_docs_self_contained,
    assert_security_headers,
    content_security_policy,
    evaluation_events,
)
from tests.support.platform import Platform


def test_the_root_and_the_bare_prefix_redirect_to_the_web_app(front_door: Platform) -> None:
    root = front_door.client.get("/")
    bare = front_door.client.get("/researcher")

    assert root.status_code == 302 and root.headers["location"] == "/researcher/"
    assert bare.status_code == 301 and bare.headers["location"] == "/researcher/"


def test_the_web_app_is_served_with_its_client_side_routes(front_door: Platform) -> None:
    app = front_door.client.get("/researcher/")
    client_side_route = front_door.client.get("/researcher/evaluations/6f1c/details")
    asset = front_door.client.get("/researcher/assets/app-0123abcd.js")

    assert app.status_code == 200 and app.text == INDEX
    assert app.headers["content-type"].startswith("text/html")
    assert app.headers["cache-control"] == "no-cache"
    assert client_side_route.status_code == 200 and client_side_route.text == INDEX
    assert asset.status_code == 200 and asset.text == ASSET
    assert asset.headers["content-type"] == "application/javascript"
    # Hashed names: a new build has new ones, so these may be kept for good.
    assert "max-age=315360000" in asset.headers["cache-control"]


def test_missing_assets_hidden_files_and_unknown_paths_are_404(front_door: Platform) -> None:
    for path in ("/researcher/assets/gone-99.js", "/researcher/.build-stamp", "/nowhere"):
        assert front_door.client.get(path).status_code == 404, path
    assert front_door.client.get("/nowhere").json() == {"detail": "Not Found"}


def test_api_metrics_stay_inside(front_door: Platform) -> None:
    assert front_door.client.get("/metrics").status_code == 404
    assert httpx.get(f"{front_door.api_url}/metrics").status_code == 200


def test_flower_is_reached_through_the_front_door_behind_its_basic_auth(
    front_door: Platform,
) -> None:
    user, password = (front_door.state_dir / "flower-credentials").read_text().strip().split(":")

    assert front_door.client.get("/flower/").status_code == 401
    signed_in = front_door.client.get("/flower/", auth=(user, password), follow_redirects=True)
    assert signed_in.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/researcher/",
        "/researcher/assets/app-0123abcd.js",
        "/api/queue",
        "/api/evaluations/no-such-id",
        "/health",
        "/flower/",
        "/nowhere",
    ],
)
def test_every_response_carries_the_security_headers(front_door: Platform, path: str) -> None:
    assert_security_headers(front_door.client.get(path))


def test_the_content_security_policy_lets_the_web_app_and_its_editor_work_and_no_more(
    front_door: Platform,
) -> None:
    policy = content_security_policy(front_door.client.get("/researcher/"))

    assert policy["default-src"] == {"'self'"}
    # Scripts only from the app's own files: nothing inline, no eval.
    assert policy["script-src"] == {"'self'"}
    # Monaco starts its workers from the same origin or from blob: URLs, and
    # sets styles inline.
    assert policy["worker-src"] == {"'self'", "blob:"}
    assert policy["style-src"] == {"'self'", "'unsafe-inline'"}
    assert policy["connect-src"] == {"'self'"}
    assert policy["object-src"] == {"'none'"}
    assert policy["base-uri"] == {"'self'"}
    assert not any("unsafe-eval" in values for values in policy.values())


def test_the_api_docs_are_served_by_the_platform_alone(front_door: Platform) -> None:
    # Swagger UI's assets too, which come from a Python package, not a CDN.
    assert_api_docs_self_contained(front_door.client)


def test_https_with_the_self_signed_certificate_made_at_first_start(
    front_door: Platform,
) -> None:
    trusting = ssl.create_default_context(cafile=front_door.certificate)

    with httpx.Client(
        base_url=front_door.tls_url, verify=trusting, auth=front_door.client.auth
    ) as https:
        queue = https.get("/api/queue")
        evaluation = https.post("/api/evaluations", json={"code": "print('over tls')"})

    assert queue.status_code == 200 and "workers_online" in queue.json()
    assert evaluation.status_code == 202
    assert front_door.wait_terminal(evaluation.json()["id"])["stdout"] == "over tls\n"
    assert_security_headers(queue, https=True)
    # Signed by nobody a client trusts by default: only its own copy vouches for it.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{front_door.tls_url}/health")


def test_the_key_of_the_self_signed_certificate_is_readable_by_its_owner_only(
    front_door: Platform,
) -> None:
    key = Path(front_door.certificate).with_suffix(".key")

    assert key.stat().st_mode & 0o777 == 0o600


def test_a_body_over_the_limit_gets_the_apis_own_413_in_json(front_door: Platform) -> None:
    too_big = b"x" * (MAX_REQUEST_BYTES + 1)
    headers = {"content-type": "application/json"}

    refused = front_door.client.post("/api/evaluations", content=too_big, headers=headers)
    chunked = front_door.client.post(
        "/api/evaluations", content=iter([too_big[:MAX_REQUEST_BYTES], b"x"]), headers=headers
    )
    from_the_api = httpx.post(f"{front_door.api_url}/api/evaluations", content=too_big)

    assert refused.status_code == chunked.status_code == 413
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == chunked.json() == from_the_api.json()
    assert_security_headers(refused)


def test_a_body_of_exactly_the_limit_reaches_the_api(front_door: Platform) -> None:
    opening, closing = b'{"code": "', b'"}'
    body = opening + b"x" * (MAX_REQUEST_BYTES - len(opening) - len(closing)) + closing

    answer = front_door.client.post(
        "/api/evaluations", content=body, headers={"content-type": "application/json"}
    )

    # The API's own verdict: the code alone is over its 1 MiB.
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "code"]


def test_server_sent_events_arrive_as_they_are_sent(front_door: Platform) -> None:
    evaluation_id = front_door.submit(**SLEEPER)["id"]
    path = f"/api/evaluations/{evaluation_id}/stream"

    with front_door.client.stream("GET", path) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = evaluation_events(stream.iter_lines())
        statuses = []
        for event in events:
            statuses.append(event["status"])
            if event["status"] == "running":
                break
        # The program sleeps for ten minutes and the stream ends only when it
        # does: had nginx held the stream back, nothing would have come yet.
        assert front_door.client.get(f"/api/evaluations/{evaluation_id}").json()["status"] == (
            "running"
        )
        front_door.client.post(f"/api/evaluations/{evaluation_id}/cancel")
        statuses += [event["status"] for event in events]

    assert statuses[0] in ("queued", "provisioning", "running")
    assert "running" in statuses
    assert statuses[-1] == "cancelled"
