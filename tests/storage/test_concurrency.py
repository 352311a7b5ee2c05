"""Several writers at once: racing transitions and requeues, concurrent submissions."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationFilter,
    EvaluationUpdate,
    OwnedSubmission,
)
from crucible_storage import rules
from crucible_storage.db import repository
from crucible_storage.db.engine import for_writing
from crucible_storage.errors import AlreadyRequeued, TransitionRefused
from tests.storage.factories import submit

T = TypeVar("T")

_S = EvaluationStatus
_PROVISIONING = EvaluationUpdate(status=_S.PROVISIONING)


@pytest.fixture
def sessions(emptied_engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(for_writing(emptied_engine))


def _in_transaction(sessions: sessionmaker[Session], act: Callable[[Session], T]) -> T:
    with sessions.begin() as session:
        return act(session)


def _now() -> datetime:
    return datetime.now(UTC)


def _create(session: Session) -> Evaluation:
    evaluation = rules.new_evaluation(OwnedSubmission(code="1"), _now())
    repository.insert(session=session, evaluations=[evaluation])
    return evaluation


def _move(session: Session, evaluation_id: str, update: EvaluationUpdate) -> Evaluation:
    moved, _ = repository.modify(
        session=session,
        evaluation_id=evaluation_id,
        decide=lambda current: rules.transition(current, update, _now()),
    )
    return moved


def _run_twice_at_once(sessions: sessionmaker[Session], act: Callable[[Session], T]) -> Future[T]:
    """Runs `act` in a transaction held open while another thread runs it too.

    Asserts that the second waits for the first to commit; returns the second.
    """
    pool = ThreadPoolExecutor(1)
    with sessions.begin() as first:
        act(first)
        second = pool.submit(_in_transaction, sessions, act)
        time.sleep(0.5)
        assert not second.done(), "the second did not wait for the first to commit"
    pool.shutdown(wait=False)
    return second


def test_a_second_transition_waits_for_the_first_and_then_sees_its_status(
    sessions: sessionmaker[Session],
) -> None:
    evaluation = _in_transaction(sessions, _create)

    second = _run_twice_at_once(sessions, lambda s: _move(s, evaluation.id, _PROVISIONING))

    with pytest.raises(TransitionRefused, match="is provisioning; it cannot become provisioning"):
        second.result(timeout=30)
    events = _in_transaction(
        sessions, lambda s: repository.events(session=s, evaluation_id=evaluation.id)
    )
    assert [(event.sequence, event.status) for event in events] == [
        (1, _S.QUEUED),
        (2, _S.PROVISIONING),
    ]


def test_a_second_requeue_waits_for_the_first_and_then_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    def give_up(session: Session) -> DeadLetter:
        evaluation = _create(session)
        _move(
            session,
            evaluation.id,
            EvaluationUpdate(status=_S.FAILED, error="gave up", dead_letter=True),
        )
        (letter,) = repository.dead_letters(session=session, limit=1)
        return letter

    letter = _in_transaction(sessions, give_up)

    second = _run_twice_at_once(
        sessions,
        lambda s: repository.requeue(
            session=s,
            dead_letter_id=letter.id,
            resubmit=lambda dead: rules.new_evaluation(rules.resubmission(dead), _now()),
        ),
    )

    with pytest.raises(AlreadyRequeued):
        second.result(timeout=30)
    everything = _in_transaction(
        sessions, lambda s: repository.count(session=s, where=EvaluationFilter())
    )
    assert everything == 2


def test_of_racing_updates_exactly_one_wins(client: TestClient) -> None:
    racers = 8
    evaluation = submit(client)
    start = threading.Barrier(racers)

    def provision(executor: str) -> Response:
        start.wait()
        return client.patch(
            f"/evaluations/{evaluation.id}", json={"status": "provisioning", "executor": executor}
        )

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(provision, [f"executor-{n}" for n in range(racers)]))

    codes = sorted(response.status_code for response in responses)
    assert codes == [200] + [409] * (racers - 1)
    winner = next(r for r in responses if r.status_code == 200).json()["executor"]
    assert client.get(f"/evaluations/{evaluation.id}").json()["executor"] == winner
    events = client.get(f"/evaluations/{evaluation.id}/events").json()
    assert [event["status"] for event in events] == ["queued", "provisioning"]


def test_concurrent_submissions_are_all_kept(client: TestClient) -> None:
    def submit_many(_: int) -> list[str]:
        return [submit(client).id for _ in range(10)]

    with ThreadPoolExecutor(4) as pool:
        ids = [i for batch in pool.map(submit_many, range(4)) for i in batch]

    listed = client.get("/evaluations", params={"limit": 200}).json()["items"]
    assert len(set(ids)) == 40
    assert {item["id"] for item in listed} == set(ids)


def test_a_purge_never_removes_an_evaluation_restored_meanwhile(
    sessions: sessionmaker[Session],
) -> None:
    def delete_long_ago(session: Session) -> Evaluation:
        evaluation = _create(session)
        _move(session, evaluation.id, EvaluationUpdate(status=_S.CANCELLED))
        repository.modify(
            session=session,
            evaluation_id=evaluation.id,
            decide=lambda current: rules.deletion(current, datetime(2000, 1, 1, tzinfo=UTC)),
        )
        return evaluation

    evaluation = _in_transaction(sessions, delete_long_ago)
    pool = ThreadPoolExecutor(1)
    with sessions.begin() as restoring:
        repository.modify(
            session=restoring,
            evaluation_id=evaluation.id,
            decide=lambda current: rules.restoration(current, _now()),
        )
        # Started while the restore is not yet committed: on PostgreSQL it
        # read the evaluation as deleted, and would delete it once restored.
        purge = pool.submit(
            _in_transaction,
            sessions,
            lambda s: repository.purge(session=s, deleted_before=_now(), limit=10),
        )
        time.sleep(0.5)
    pool.shutdown(wait=False)

    assert purge.result(timeout=30) == []
    restored = _in_transaction(
        sessions, lambda s: repository.get(session=s, evaluation_id=evaluation.id)
    )
    assert restored.deleted_at is None
