"""Submissions over HTTP, through the queue, a worker and an executor, to a stored result."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx

from tests.support.platform import Platform


def test_hello_world_succeeds(platform: Platform) -> None:
    accepted = platform.submit(code="print('hello')")
    assert accepted["status"] == "queued"
    assert accepted["timeout_seconds"] == 30
    assert accepted["memory_mb"] == 256

    done = platform.wait_terminal(accepted["id"])

    assert done["status"] == "completed"
    assert done["outcome"] == "success"
    assert done["exit_code"] == 0
    assert done["stdout"] == "hello\n"
    assert done["stderr"] == ""
    assert done["executor"]
    assert done["duration_ms"] >= 0
    queued, started, finished = (
        datetime.fromisoformat(done[key]) for key in ("queued_at", "started_at", "finished_at")
    )
    assert queued <= started <= finished


def test_exception_is_an_error_with_traceback_on_stderr(platform: Platform) -> None:
    done = platform.run(code="print('before')\nraise ValueError('x')")

    assert done["status"] == "completed"
    assert done["outcome"] == "error"
    assert done["exit_code"] == 1
    assert done["stdout"] == "before\n"
    assert "ValueError: x" in done["stderr"]


def test_endless_loop_times_out_within_its_bound(platform: Platform) -> None:
    done = platform.run(code="while True:\n    pass", timeout_seconds=2)

    assert done["outcome"] == "timeout"
    assert 2000 <= done["duration_ms"] < 3000


def test_allocation_over_the_memory_limit_is_memory_exceeded(platform: Platform) -> None:
    done = platform.run(code="b = bytearray(1024**3)\nprint(len(b))", memory_mb=256)

    assert done["outcome"] == "memory_exceeded"
    assert done["stdout"] == ""


def test_stdin_reaches_the_program(platform: Platform) -> None:
    done = platform.run(code="import sys\nprint(sys.stdin.read().upper())", stdin="shout")

    assert done["stdout"] == "SHOUT\n"


def test_twenty_concurrent_submissions_all_complete(platform: Platform) -> None:
    # A key that may have twenty in flight: the first admin's, like any key
    # made without options, may have ten.
    key = platform.new_key("researcher", "twenty", "--max-running", "20")
    researcher = httpx.Client(
        base_url=platform.front_door_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    codes = [f"print({n} * {n})" for n in range(20)]
    with researcher, ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(lambda c: researcher.post("/api/evaluations", json={"code": c}), codes)
        )
        assert [answer.status_code for answer in answers] == [202] * 20
        ids = [answer.json()["id"] for answer in answers]
        done = list(pool.map(lambda i: platform.wait_terminal(i, timeout=120), ids))

    assert [d["status"] for d in done] == ["completed"] * 20
    assert [d["stdout"] for d in done] == [f"{n * n}\n" for n in range(20)]


def test_history_lists_every_status_in_order(platform: Platform) -> None:
    done = platform.run(code="print(1)")

    events = platform.client.get(f"/api/evaluations/{done['id']}/events").json()

    assert [e["status"] for e in events] == ["queued", "provisioning", "running", "completed"]


def test_list_pages_newest_first(platform: Platform) -> None:
    ids = [platform.submit(code=f"print({n})", priority="low")["id"] for n in range(5)]

    first = platform.client.get("/api/evaluations", params={"priority": "low", "limit": 3}).json()
    second = platform.client.get(
        "/api/evaluations", params={"priority": "low", "limit": 3, "cursor": first["next_cursor"]}
    ).json()

    listed = [item["id"] for item in first["items"] + second["items"]]
    assert listed[:5] == list(reversed(ids))
    assert all(item["priority"] == "low" for item in first["items"] + second["items"])
