import httpx

from tests.executor.support import ExecutorServer


def test_health(http: httpx.Client, executor: ExecutorServer) -> None:
    response = http.get(f"{executor.url}/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_the_sandbox_works(http: httpx.Client, executor: ExecutorServer) -> None:
    response = http.get(f"{executor.url}/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_not_ready_when_the_sandbox_cannot_work(
    http: httpx.Client, broken_executor: ExecutorServer
) -> None:
    health = http.get(f"{broken_executor.url}/health")
    ready = http.get(f"{broken_executor.url}/ready")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert "/usr/bin/no-such-python" in ready.json()["detail"]
