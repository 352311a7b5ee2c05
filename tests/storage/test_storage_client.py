"""The shared `StorageClient` against the service run as production runs it, under uvicorn.

Pins that the client and the service agree on paths, bodies and status codes.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import pytest

from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority
from crucible_shared.schemas.evaluations import EvaluationCreate, EvaluationFilter, EvaluationUpdate
from crucible_shared.settings import StorageClientSettings
from crucible_shared.storage_client import (
    EvaluationNotFound,
    StorageClient,
    StorageError,
    TransitionRefused,
)
from tests.support.ports import free_port, wait_for_port

_S = EvaluationStatus


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageClient]:
    directory = tmp_path_factory.mktemp("storage-service")
    port = free_port()
    database = directory / ".crucible" / "crucible.db"
    with (directory / "uvicorn.log").open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "crucible_storage.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env={**os.environ, "CRUCIBLE_DATABASE_URL": f"sqlite:///{database}"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=60)
        client = StorageClient(StorageClientSettings(storage_url=f"http://127.0.0.1:{port}"))
        yield client
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_client_drives_an_evaluation_through_its_life(storage: StorageClient) -> None:
    assert storage.ready()
    created = storage.create_evaluation(
        EvaluationCreate(code="print(input())", stdin="hi\n", priority=Priority.HIGH)
    )
    assert created.status is _S.QUEUED
    assert storage.get_evaluation(created.id) == created

    storage.update_evaluation(
        created.id, EvaluationUpdate(status=_S.PROVISIONING, executor="executor-1")
    )
    storage.update_evaluation(created.id, EvaluationUpdate(status=_S.RUNNING))
    completed = storage.update_evaluation(
        created.id,
        EvaluationUpdate(
            status=_S.COMPLETED,
            outcome=Outcome.SUCCESS,
            exit_code=0,
            stdout="hi\n",
            duration_ms=12,
            detail="exit 0",
        ),
    )

    assert (completed.status, completed.outcome, completed.stdout) == (
        _S.COMPLETED,
        Outcome.SUCCESS,
        "hi\n",
    )
    assert completed.executor == "executor-1"
    assert storage.get_evaluation(created.id) == completed
    events = storage.list_events(created.id)
    assert [(e.sequence, e.status) for e in events] == [
        (1, _S.QUEUED),
        (2, _S.PROVISIONING),
        (3, _S.RUNNING),
        (4, _S.COMPLETED),
    ]
    assert events[-1].detail == "exit 0"


def test_the_client_pages_through_a_filtered_list(storage: StorageClient) -> None:
    first = storage.create_evaluation(EvaluationCreate(code="1", priority=Priority.LOW))
    second = storage.create_evaluation(EvaluationCreate(code="2", priority=Priority.LOW))
    low = EvaluationFilter(
        priority=Priority.LOW, since=first.created_at - timedelta(microseconds=1)
    )

    page = storage.list_evaluations(low, limit=1)
    rest = storage.list_evaluations(low, limit=1, cursor=page.next_cursor)

    assert [item.id for item in page.items + rest.items] == [second.id, first.id]
    assert rest.next_cursor is None
    queued = storage.list_evaluations(EvaluationFilter(status=_S.QUEUED))
    assert {first.id, second.id} <= {item.id for item in queued.items}


def test_the_client_raises_what_the_service_refuses(storage: StorageClient) -> None:
    cancelled = storage.create_evaluation(EvaluationCreate(code="pass"))
    storage.update_evaluation(cancelled.id, EvaluationUpdate(status=_S.CANCELLED))

    with pytest.raises(EvaluationNotFound, match="not found"):
        storage.get_evaluation(str(uuid4()))
    with pytest.raises(EvaluationNotFound):
        storage.list_events(str(uuid4()))
    with pytest.raises(TransitionRefused, match="is cancelled; it cannot become running"):
        storage.update_evaluation(cancelled.id, EvaluationUpdate(status=_S.RUNNING))
    with pytest.raises(StorageError, match="cursor"):
        storage.list_evaluations(cursor="not-a-cursor")


def test_the_client_lists_and_requeues_dead_letters(storage: StorageClient) -> None:
    dead = storage.create_evaluation(EvaluationCreate(code="print('again')"))
    storage.update_evaluation(
        dead.id, EvaluationUpdate(status=_S.FAILED, error="gave up", dead_letter=True)
    )
    (letter,) = [
        item for item in storage.list_dead_letters(limit=10) if item.evaluation_id == dead.id
    ]

    again = storage.requeue_dead_letter(letter.id)

    assert (again.status, again.code) == (_S.QUEUED, "print('again')")
    # The client names every 409 a refused transition.
    with pytest.raises(TransitionRefused, match="requeued already"):
        storage.requeue_dead_letter(letter.id)
    with pytest.raises(EvaluationNotFound, match="dead letter"):
        storage.requeue_dead_letter(str(uuid4()))


@pytest.mark.parametrize("evaluation_id", ["?", "?limit=1", "%3F", "a/b", "..", "../keys", " "])
def test_an_id_is_one_path_segment_never_another_path(
    storage: StorageClient, evaluation_id: str
) -> None:
    # Found by fuzzing the API: ids went into the storage URL unquoted, so that
    # "?" read the listing (a 500 at the API) and "../keys" reached other paths.
    storage.create_evaluation(EvaluationCreate(code="print(1)"))

    with pytest.raises(EvaluationNotFound):
        storage.get_evaluation(evaluation_id)
    with pytest.raises(EvaluationNotFound):
        storage.list_events(evaluation_id)
