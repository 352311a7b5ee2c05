"""The ready queue and the executor pool's Lua scripts, against a real Redis."""

import threading
import time

from redis import Redis

from crucible_shared import redis_keys
from crucible_shared.executor_registry import deregister_executor, pool_status
from crucible_shared.lifecycle import Priority
from crucible_shared.pool.leases import Busy, Dispatched, Empty, ExecutorPool
from crucible_shared.pool.ready import ReadyQueue
from tests.support.servers import RedisServer
from tests.worker.conftest import add_executor


def _double_releases(redis: Redis) -> int:
    return int(redis.get(redis_keys.LEASE_DOUBLE_RELEASES) or 0)


def _queue(
    redis: Redis,
    *ids: str,
    owner: str = "a",
    priority: Priority = Priority.NORMAL,
    max_running: int | None = None,
) -> None:
    ReadyQueue(redis).enqueue(ids, owner=owner, priority=priority, max_running=max_running)


def _taken(pool: ExecutorPool) -> Dispatched:
    taken = pool.dispatch()
    assert isinstance(taken, Dispatched), taken
    return taken


def _order(pool: ExecutorPool, count: int) -> list[str]:
    """Dispatches `count` and gives each slot back at once."""
    ids = []
    for _ in range(count):
        taken = _taken(pool)
        ids.append(taken.lease.evaluation_id)
        pool.release_lease(taken.lease.token)
    return ids


def test_nothing_waiting_is_empty_and_work_without_a_slot_is_busy(pool_redis: Redis) -> None:
    pool = ExecutorPool(pool_redis, 30)
    assert pool.dispatch() == Empty(None)

    _queue(pool_redis, "e1")
    assert pool.dispatch() == Busy()
    # Nothing left the queue while no slot was free.
    assert ReadyQueue(pool_redis).waiting() == 1


def test_dispatch_stops_at_capacity(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=2)
    _queue(pool_redis, "e1", "e2", "e3")
    pool = ExecutorPool(pool_redis, 30)

    first, second = _taken(pool), _taken(pool)

    assert (first.lease.executor_id, first.lease.executor_url) == ("x1", "http://x1.test")
    assert [first.lease.evaluation_id, second.lease.evaluation_id] == ["e1", "e2"]
    assert first.lease.token != second.lease.token
    assert pool.dispatch() == Busy()
    assert pool_status(pool_redis)[0].slots_in_use == 2


def test_the_executor_with_most_free_slots_is_chosen(pool_redis: Redis) -> None:
    add_executor(pool_redis, "small", capacity=1)
    add_executor(pool_redis, "large", capacity=3)
    _queue(pool_redis, *(f"e{n}" for n in range(4)))
    pool = ExecutorPool(pool_redis, 30)

    chosen = [_taken(pool).lease.executor_id for _ in range(4)]

    assert chosen == ["large", "large", "large", "small"]


def test_an_executor_that_stopped_beating_gets_no_work(pool_redis: Redis) -> None:
    add_executor(pool_redis, "gone", capacity=4, ttl=0.1)
    _queue(pool_redis, "e1")
    time.sleep(0.2)

    assert ExecutorPool(pool_redis, 30).dispatch() == Busy()
    assert pool_status(pool_redis)[0].alive is False


def test_a_deregistered_executor_leaves_the_pool(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    deregister_executor(pool_redis, executor_id="x1")
    _queue(pool_redis, "e1")

    assert pool_status(pool_redis) == []
    assert ExecutorPool(pool_redis, 30).dispatch() == Busy()


def test_release_gives_the_slot_back_once_and_wakes_a_waiter(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    _queue(pool_redis, "e1", "e2")
    pool = ExecutorPool(pool_redis, 30)
    taken = _taken(pool)
    assert pool.is_held("e1")

    assert pool.release_lease(taken.lease.token) is True
    assert not pool.is_held("e1")
    assert _double_releases(pool_redis) == 0
    started = time.monotonic()
    pool.wait_for_slot(5)  # the release left a wake-up
    assert time.monotonic() - started < 1
    assert pool.release_lease(taken.lease.token) is False
    assert _double_releases(pool_redis) == 1
    assert _taken(pool).lease.evaluation_id == "e2"
    assert pool_status(pool_redis)[0].slots_in_use == 1


def test_an_expired_lease_gives_its_slot_back(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    _queue(pool_redis, "e1", "e2")
    pool = ExecutorPool(pool_redis, 0.1)
    taken = _taken(pool)
    time.sleep(0.2)

    assert _taken(pool).lease.evaluation_id == "e2"
    assert pool.renew_leases([taken.lease.token]) == [False]
    assert pool.release_lease(taken.lease.token) is False


def test_renewing_keeps_a_lease_past_its_ttl(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    _queue(pool_redis, "e1", "e2")
    pool = ExecutorPool(pool_redis, 0.3)
    taken = _taken(pool)

    for _ in range(4):
        time.sleep(0.15)
        assert pool.renew_leases([taken.lease.token, "never-issued"]) == [True, False]

    assert pool.dispatch() == Busy()
    assert pool.is_held("e1")


def test_two_workers_racing_for_the_last_slot_exactly_one_wins(
    pool_redis: Redis, redis: RedisServer
) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    pools = [ExecutorPool(Redis.from_url(redis.url), 30) for _ in range(2)]

    for round_number in range(200):
        _queue(pool_redis, f"a{round_number}", f"b{round_number}")
        barrier = threading.Barrier(2)
        won: list[object] = []

        def race(
            pool: ExecutorPool, barrier: threading.Barrier = barrier, won: list[object] = won
        ) -> None:
            barrier.wait()
            won.append(pool.dispatch())

        threads = [threading.Thread(target=race, args=(pool,)) for pool in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        winners = [taken for taken in won if isinstance(taken, Dispatched)]
        assert len(winners) == 1, f"round {round_number}: {won}"
        assert pools[0].release_lease(winners[0].lease.token)
        # The loser's evaluation still waits: it goes next.
        assert _order(pools[0], 1) == [f"b{round_number}"]


def test_an_evicted_executor_gets_no_work_until_it_beats_again(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    _queue(pool_redis, "e1")
    pool = ExecutorPool(pool_redis, 30)

    pool.evict("x1")
    assert pool.dispatch() == Busy()

    add_executor(pool_redis, "x1", capacity=1)  # its next heartbeat
    assert _taken(pool).lease.evaluation_id == "e1"


def test_high_goes_before_normal_before_low(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    _queue(pool_redis, "low", priority=Priority.LOW)
    _queue(pool_redis, "normal", priority=Priority.NORMAL)
    _queue(pool_redis, "high", priority=Priority.HIGH)

    assert _order(ExecutorPool(pool_redis, 30), 3) == ["high", "normal", "low"]


def test_keys_with_work_waiting_take_turns(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    _queue(pool_redis, *(f"a{n}" for n in range(5)), owner="a")
    _queue(pool_redis, "b0", "b1", owner="b")
    pool = ExecutorPool(pool_redis, 30)

    assert _order(pool, 7) == ["a0", "b0", "a1", "b1", "a2", "a3", "a4"]
    assert pool.dispatch() == Empty(None)


def test_a_key_at_its_share_of_slots_waits_while_others_run(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=3)
    _queue(pool_redis, "a0", "a1", "a2", owner="a", max_running=1)
    _queue(pool_redis, "b0", owner="b", max_running=5)
    pool = ExecutorPool(pool_redis, 30)

    first, second = _taken(pool), _taken(pool)
    assert [first.lease.evaluation_id, second.lease.evaluation_id] == ["a0", "b0"]
    # A slot is free, but a's one share is taken.
    assert pool.dispatch() == Busy()
    pool.release_lease(first.lease.token)
    assert _taken(pool).lease.evaluation_id == "a1"


def test_a_cancelled_evaluation_is_dropped_not_dispatched(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    _queue(pool_redis, "e1", "e2")
    ReadyQueue(pool_redis).cancel(["e1"])

    assert _order(ExecutorPool(pool_redis, 30), 1) == ["e2"]
    assert ExecutorPool(pool_redis, 30).dispatch() == Empty(None)


def test_a_delayed_retry_waits_out_its_backoff_then_goes_first(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    ready = ReadyQueue(pool_redis)
    _queue(pool_redis, "e1")
    ready.enqueue(["retry"], owner="a", priority=Priority.NORMAL, where="later", delay_seconds=0.3)
    pool = ExecutorPool(pool_redis, 30)

    assert _order(pool, 1) == ["e1"]
    waiting = pool.dispatch()
    assert isinstance(waiting, Empty) and waiting.due_ms is not None
    time.sleep(0.35)
    _queue(pool_redis, "e2")
    assert _order(pool, 2) == ["retry", "e2"]


def test_enqueueing_twice_adds_once(pool_redis: Redis) -> None:
    ready = ReadyQueue(pool_redis)
    assert ready.enqueue(["e1", "e2"], owner="a", priority=Priority.NORMAL) == 2
    assert ready.enqueue(["e2", "e3"], owner="a", priority=Priority.NORMAL) == 1
    assert ready.waiting() == 3
    assert ready.depths() == {Priority.HIGH: 0, Priority.NORMAL: 3, Priority.LOW: 0}


def test_a_place_in_line_is_read_without_walking_the_line(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=1)
    ready = ReadyQueue(pool_redis)
    _queue(pool_redis, *(f"e{n}" for n in range(1000)))
    assert [ready.position(i) for i in ("e0", "e1", "e999")] == [1, 2, 1000]

    ready.enqueue(["retry"], owner="a", priority=Priority.NORMAL, where="front")
    assert [ready.position(i) for i in ("retry", "e0", "e999")] == [1, 2, 1001]

    _order(ExecutorPool(pool_redis, 30), 2)
    assert ready.position("retry") is None
    assert [ready.position(i) for i in ("e1", "e999")] == [1, 999]


def test_a_worker_lost_between_dispatch_and_claim_is_found(pool_redis: Redis) -> None:
    add_executor(pool_redis, "x1", capacity=2)
    _queue(pool_redis, "lost", "kept")
    pool = ExecutorPool(pool_redis, 0.1)
    _taken(pool)
    pool.claimed(_taken(pool).lease.evaluation_id)
    time.sleep(0.2)

    assert ReadyQueue(pool_redis).lost_in_claiming() == ["lost"]
    assert ReadyQueue(pool_redis).lost_in_claiming() == []
