"""Faults while evaluations flow through the whole platform, started for real.

Each test breaks one service while submissions arrive every half second,
then checks that every evaluation the API accepted is still there and ends
(completed, or failed with a reason and a dead letter: never lost, never
stuck), that nothing is left held, and that the platform runs the next one.
Services come back through ./start-platform.sh, which starts what is missing.
"""

import os
import signal
import time
from collections.abc import Callable

import pytest

from tests.chaos.conftest import Traffic, settle
from tests.support.platform import Platform, process_alive
from tests.support.servers import PostgresServer

pytestmark = pytest.mark.chaos


def _restart_missing(platform: Platform) -> None:
    started = platform.script("start", "--local")
    assert started.returncode == 0, f"{started.stdout}\n{started.stderr}"


def _stop(platform: Platform, service: str) -> None:
    """SIGTERM to the service's process group, as an operator's stop would."""
    pid = platform.pid(service)
    os.killpg(pid, signal.SIGTERM)
    while process_alive(pid):
        time.sleep(0.05)


def _through(platform: Platform, fault: Callable[[], None]) -> Traffic:
    """Traffic before, during and just after `fault`; returns once the platform is whole again."""
    with Traffic(platform) as traffic:
        traffic.wait_for_running()
        traffic.at_fault = len(traffic.accepted)
        broken_at = time.monotonic()
        fault()
        _restart_missing(platform)
        # Traffic into the restarted platform too.
        time.sleep(2)
    # Proof of recovery, and a measure of it for docs/architecture.md: ahead of
    # the backlog, so that it measures the platform, not the queue.
    after = platform.run(code="print('after')", priority="high")
    assert after["outcome"] == "success", after
    print(f"\nran a new evaluation {time.monotonic() - broken_at:.1f} s after the fault")
    return traffic


def _assert_nothing_lost(platform: Platform, traffic: Traffic, *, may_fail: bool) -> None:
    assert traffic.unexpected == [], traffic.unexpected
    # Work in flight when it broke, and work accepted once it was back.
    assert 0 < traffic.at_fault < len(traffic.accepted), traffic.accepted

    evaluations = settle(platform, list(traffic.accepted))

    dead = {letter["evaluation_id"] for letter in platform.client.get("/api/dead-letters").json()}
    for evaluation in evaluations:
        if evaluation["status"] == "completed":
            assert evaluation["outcome"] == "success", evaluation
            assert evaluation["stdout"] == f"{traffic.accepted[evaluation['id']]}\n", evaluation
        else:
            # The platform gave up on it: it says why, and keeps it to run again.
            assert may_fail, evaluation
            assert evaluation["status"] == "failed", evaluation
            assert evaluation["error"], evaluation
            assert evaluation["id"] in dead, evaluation
    completed = sum(e["status"] == "completed" for e in evaluations)
    print(f"{completed} of {len(evaluations)} completed, {traffic.refused} refused with 503")

    for status in ("queued", "provisioning", "running"):
        page = platform.client.get("/api/evaluations", params={"status": status}).json()
        assert page["items"] == [], f"left {status}: {page['items']}"
    _wait_for(lambda: platform.client.get("/api/queue").json()["leases_held"] == 0)

    nxt = platform.run(code="print('next')")
    assert (nxt["status"], nxt["outcome"], nxt["stdout"]) == ("completed", "success", "next\n")


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.1)


def test_worker_killed(chaos_platform: Platform) -> None:
    traffic = _through(chaos_platform, lambda: chaos_platform.kill("celery-worker"))

    # Its evaluations are found by the reaper and run again: none is given up on.
    _assert_nothing_lost(chaos_platform, traffic, may_fail=False)


def test_executor_killed(chaos_platform: Platform) -> None:
    traffic = _through(chaos_platform, lambda: chaos_platform.kill("executor-service"))

    _assert_nothing_lost(chaos_platform, traffic, may_fail=True)


def test_redis_restarted(chaos_platform: Platform) -> None:
    def crash() -> None:
        # kill -9: Redis syncs every write, so even a crash keeps the queue.
        chaos_platform.kill("redis")
        _restart_missing(chaos_platform)
        # Celery's worker does not always outlive its broker: with a task in
        # flight it can stop on "Unrecoverable error" while reconnecting. Give
        # it time to, then start again what is missing, as a supervisor would.
        time.sleep(3)
        worker_died = not process_alive(chaos_platform.pid("celery-worker"))
        print(f"\nthe worker {'died' if worker_died else 'survived'} with Redis")

    traffic = _through(chaos_platform, crash)

    _assert_nothing_lost(chaos_platform, traffic, may_fail=True)


def test_storage_stopped_for_ten_seconds(chaos_platform: Platform) -> None:
    def outage() -> None:
        _stop(chaos_platform, "storage-service")
        time.sleep(10)

    traffic = _through(chaos_platform, outage)

    # Writes are retried for longer than the outage: results are late, not lost.
    _assert_nothing_lost(chaos_platform, traffic, may_fail=False)


def test_postgres_restarted(chaos_platform: Platform, chaos_postgres: PostgresServer) -> None:
    def crash_and_restart() -> None:
        chaos_postgres.stop()
        time.sleep(3)
        chaos_postgres.start()

    traffic = _through(chaos_platform, crash_and_restart)

    _assert_nothing_lost(chaos_platform, traffic, may_fail=False)
