"""API keys, roles, quotas and the service credential, through the front door."""

import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


Clients = Callable[..., httpx.Client]


@pytest.fixture
def client_for(platform: Platform) -> Iterator[Clients]:
    """Makes clients of the front door, signed with the key given (or none); closes them."""
    made: list[httpx.Client] = []

    def make(key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        made.append(httpx.Client(base_url=platform.front_door_url, headers=headers, timeout=30))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_without_a_key_only_health_answers(platform: Platform, client_for: Clients) -> None:
    anonymous = client_for()

    for path in ("/api/evaluations", "/api/queue", "/api/statistics", "/api/keys"):
        response = anonymous.get(path)
        assert response.status_code == 401, path
        assert "API key" in response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.post("/api/evaluations", json={"code": "print(1)"}).status_code == 401
    assert (
        anonymous.get("/api/evaluations", headers={"X-API-Key": "cru_nonsense"}).status_code == 401
    )
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/ready").status_code == 200


def test_a_key_works_as_bearer_or_x_api_key(platform: Platform, client_for: Clients) -> None:
    anonymous = client_for()

    assert anonymous.get("/api/queue", headers={"X-API-Key": platform.admin_key}).status_code == 200
    assert platform.client.get("/api/queue").status_code == 200


def test_a_viewer_reads_but_may_not_submit(platform: Platform, client_for: Clients) -> None:
    viewer = client_for(platform.new_key("viewer", "vera"))
    finished = platform.run(code="print('seen')")

    assert viewer.get(f"/api/evaluations/{finished['id']}").json()["stdout"] == "seen\n"
    refused = viewer.post("/api/evaluations", json={"code": "print(1)"})
    assert refused.status_code == 403
    assert "viewer" in refused.json()["detail"]
    assert viewer.post(f"/api/evaluations/{finished['id']}/cancel").status_code == 403
    assert viewer.get("/api/keys").status_code == 403


def test_a_researcher_sees_only_their_own_evaluations(
    platform: Platform, client_for: Clients
) -> None:
    alice = client_for(platform.new_key("researcher", "alice"))
    bob = client_for(platform.new_key("researcher", "bob"))

    submitted = alice.post("/api/evaluations", json={"code": "import time; time.sleep(30)"})
    assert submitted.status_code == 202, submitted.text
    mine = submitted.json()["id"]

    assert alice.get(f"/api/evaluations/{mine}").status_code == 200
    for attempt in (
        bob.get(f"/api/evaluations/{mine}"),
        bob.get(f"/api/evaluations/{mine}/events"),
        bob.get(f"/api/evaluations/{mine}/output/stdout"),
        bob.post(f"/api/evaluations/{mine}/cancel"),
        bob.delete(f"/api/evaluations/{mine}"),
    ):
        assert attempt.status_code == 404, attempt.request.url
    assert [item["id"] for item in alice.get("/api/evaluations").json()["items"]] == [mine]
    assert bob.get("/api/evaluations").json()["items"] == []
    assert bob.get("/api/evaluations/count").json() == {"count": 0}
    # Asking for someone else's by owner does not widen a researcher's view.
    owner = alice.get(f"/api/evaluations/{mine}").json()["owner"]
    assert bob.get("/api/evaluations", params={"owner": owner}).json()["items"] == []
    assert platform.client.get(f"/api/evaluations/{mine}").status_code == 200
    assert bob.get("/api/dead-letters").status_code == 403

    cancelled = alice.post(f"/api/evaluations/{mine}/cancel").json()
    assert cancelled["status"] == "cancelled"
    events = alice.get(f"/api/evaluations/{mine}/events").json()
    assert events[-1]["detail"] == "cancelled by alice"


def test_admins_make_list_and_revoke_keys(platform: Platform, client_for: Clients) -> None:
    made = platform.client.post("/api/keys", json={"name": "carol", "role": "researcher"})
    assert made.status_code == 201, made.text
    key = made.json()
    carol = client_for(key["key"])
    assert carol.get("/api/evaluations").status_code == 200

    listed = platform.client.get("/api/keys").json()
    (entry,) = [item for item in listed if item["id"] == key["id"]]
    assert "key" not in entry and "key_sha256" not in entry
    assert key["key"].startswith(entry["prefix"])

    revoked = platform.client.delete(f"/api/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert carol.get("/api/evaluations").status_code == 401
    assert (
        platform.client.delete("/api/keys/00000000-0000-4000-8000-000000000000").status_code == 404
    )
    assert carol.post("/api/keys", json={"name": "x", "role": "admin"}).status_code == 401


def test_the_command_line_lists_keys_without_their_secrets(platform: Platform) -> None:
    platform.new_key("viewer", "dave")

    listed = platform.script("keys", "list")

    assert listed.returncode == 0, listed.stderr
    assert "dave  viewer" in listed.stdout
    assert platform.admin_key not in listed.stdout


def test_the_credentials_are_kept_private(platform: Platform) -> None:
    assert stat.S_IMODE(platform.credentials.stat().st_mode) == 0o600


def test_a_key_s_backlog_is_bounded_and_what_never_fits_is_422(
    platform: Platform, client_for: Clients
) -> None:
    erin = client_for(platform.new_key("researcher", "erin", "--max-queued", "1"))
    first = erin.post("/api/evaluations", json={"code": "import time; time.sleep(30)"})
    assert first.status_code == 202

    second = erin.post("/api/evaluations", json={"code": "print(2)"})

    assert second.status_code == 429
    assert "may have 1 evaluations accepted and not yet finished" in second.json()["detail"]
    assert int(second.headers["retry-after"]) > 0
    never = erin.post("/api/evaluations/batch", json=[{"code": "print(1)"}] * 2)
    assert never.status_code == 422
    assert "max_queued 1" in never.json()["detail"]
    erin.post(f"/api/evaluations/{first.json()['id']}/cancel")
    assert erin.post("/api/evaluations", json={"code": "print(3)"}).status_code == 202


def test_a_key_s_share_of_slots_queues_the_rest(platform: Platform, client_for: Clients) -> None:
    fay = client_for(platform.new_key("researcher", "fay", "--max-running", "1"))
    first = fay.post("/api/evaluations", json={"code": "import time; time.sleep(30)"}).json()
    second = fay.post("/api/evaluations", json={"code": "print(2)"})
    assert second.status_code == 202
    platform.wait_status(first["id"], "running")
    time.sleep(2)  # a slot is free (two on this platform), but fay's one share is taken

    assert fay.get(f"/api/evaluations/{second.json()['id']}").json()["status"] == "queued"
    fay.post(f"/api/evaluations/{first['id']}/cancel")
    assert platform.wait_terminal(second.json()["id"])["stdout"] == "2\n"


def test_submissions_at_once_never_exceed_the_backlog_bound(platform: Platform) -> None:
    key = platform.new_key("researcher", "gina", "--max-queued", "3")
    # To the API itself: the front door's rate limit would refuse some first.
    gina = httpx.Client(
        base_url=platform.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    start = threading.Barrier(10)

    def submit(_: int) -> int:
        start.wait()
        return gina.post(
            "/api/evaluations", json={"code": "import time; time.sleep(20)"}
        ).status_code

    with gina, ThreadPoolExecutor(10) as pool:
        codes = sorted(pool.map(submit, range(10)))
        # A researcher lists only their own.
        in_flight = gina.get("/api/evaluations", params={"active": "true"}).json()["items"]
        for evaluation in in_flight:
            gina.post(f"/api/evaluations/{evaluation['id']}/cancel")

    assert codes == [202] * 3 + [429] * 7
    assert len(in_flight) == 3


def test_a_key_may_submit_so_many_a_minute(platform: Platform, client_for: Clients) -> None:
    frank = client_for(platform.new_key("researcher", "frank", "--submissions-per-minute", "2"))
    # Not across a minute's turn, where the count starts again.
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)

    codes = [frank.post("/api/evaluations", json={"code": "1"}).status_code for _ in range(3)]

    assert codes == [202, 202, 429]
    over = frank.post("/api/evaluations/batch", json=[{"code": "1"}])
    assert over.status_code == 429
    assert 0 < int(over.headers["retry-after"]) <= 60


def test_storage_and_executors_refuse_calls_without_the_service_credential(
    platform: Platform, client_for: Clients
) -> None:
    for port in (platform.env["CRUCIBLE_STORAGE_PORT"], platform.env["CRUCIBLE_EXECUTOR_PORT"]):
        inside = client_for()
        inside.base_url = httpx.URL(f"http://127.0.0.1:{port}")
        assert inside.get("/health").status_code == 200
        refused = (
            inside.post("/execute", json={})
            if port == platform.env["CRUCIBLE_EXECUTOR_PORT"]
            else inside.get("/evaluations")
        )
        assert refused.status_code == 401
        assert "X-Crucible-Service-Token" in refused.json()["detail"]
