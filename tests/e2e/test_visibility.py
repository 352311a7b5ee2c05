"""What operators look at: the queue overview, Prometheus metrics and Flower."""

import httpx

from tests.support.platform import Platform


def test_queue_overview_shows_the_fleet(platform: Platform) -> None:
    queue = platform.client.get("/api/queue").json()

    assert set(queue["depths"]) == {"high", "normal", "low"}
    assert queue["workers_online"] == 1
    assert [e["id"] for e in queue["executors"]] == ["executor-1"]
    assert queue["slots_total"] == queue["executors"][0]["capacity"]


def test_api_and_worker_serve_prometheus_metrics(platform: Platform) -> None:
    platform.run(code="print('counted')", priority="high")

    # Not through the front door: Prometheus scrapes each service inside.
    api = httpx.get(f"{platform.api_url}/metrics").text
    assert 'crucible_submissions_total{priority="high"}' in api
    assert 'crucible_queue_depth{priority="low"}' in api
    assert "crucible_lease_double_releases" in api

    worker_port = platform.env["CRUCIBLE_WORKER_METRICS_PORT"]
    worker = httpx.get(f"http://127.0.0.1:{worker_port}/metrics").text
    assert 'crucible_evaluations_finished_total{outcome="success",status="completed"}' in worker
    assert "crucible_queue_wait_seconds_bucket" in worker
    assert "crucible_run_seconds_count" in worker


def test_flower_lives_at_flower_behind_basic_auth(platform: Platform) -> None:
    url = f"{platform.front_door_url}/flower/"
    user, password = (platform.state_dir / "flower-credentials").read_text().strip().split(":")

    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=(user, password), follow_redirects=True).status_code == 200
