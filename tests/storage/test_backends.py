"""What differs between backends: where data lives, restarts, the cache's absence."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from crucible_storage.app import create_app
from crucible_storage.backends.database import DatabaseBackend
from crucible_storage.db.engine import create_database_engine
from crucible_storage.objects.claim import DirectoryTaken
from tests.storage.conftest import settings_for
from tests.storage.factories import move, submit, submit_in
from tests.support.ports import free_port

_S = EvaluationStatus


def test_storage_info_says_where_evaluations_and_blobs_live(
    client: TestClient, backend: str
) -> None:
    running = submit_in(client, _S.RUNNING)
    move(client, running.id, _S.COMPLETED, stdout="y" * 150_000, stderr="z" * 120_000)
    submit(client)

    info = client.get("/storage-info").json()

    assert info["backend"] == ("database" if backend in ("sqlite", "postgresql") else backend)
    expected_blobs = {"sqlite": "file", "postgresql": "file"}.get(backend, backend)
    assert info["blob_backend"] == expected_blobs
    assert (info["evaluations"], info["deleted"]) == (2, 0)
    assert (info["blobs"], info["blob_bytes"]) == (2, 270_000)
    assert info["blob_threshold_bytes"] == 100 * 1024


@pytest.mark.parametrize("backend", ["sqlite", "file", "s3"])
def test_a_restarted_service_finds_everything_it_stored(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for(backend, request, tmp_path)
    with TestClient(create_app(settings)) as client:
        running = submit_in(client, _S.RUNNING, code="print('kept')")
        move(client, running.id, _S.COMPLETED, stdout="w" * 200_000, dead_letter=False)
        failed = submit_in(client, _S.RUNNING)
        move(client, failed.id, _S.FAILED, dead_letter=True)
        before = client.get("/evaluations", params={"limit": 10}).json()

    with TestClient(create_app(settings)) as client:
        assert client.get("/evaluations", params={"limit": 10}).json() == before
        assert client.get(f"/evaluations/{running.id}/output/stdout").text == "w" * 200_000
        assert [letter["evaluation_id"] for letter in client.get("/dead-letters").json()] == [
            failed.id
        ]
        assert len(client.get(f"/evaluations/{running.id}/events").json()) == 4


def test_the_file_backend_refuses_a_second_process_on_its_directory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for("file", request, tmp_path)
    with TestClient(create_app(settings)):
        second = TestClient(create_app(settings))
        with pytest.raises(DirectoryTaken, match="in use by another storage process"):
            second.__enter__()


def test_the_file_backend_writes_whole_documents_only(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for("file", request, tmp_path)
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            evaluation = submit_in(client, _S.COMPLETED)

    files = sorted(
        p.relative_to(settings.data_dir).as_posix() for p in settings.data_dir.rglob("*")
    )
    assert ".lock" in files
    assert f"evaluations/{evaluation.id}.json" in files
    assert not [name for name in files if ".tmp-" in name]


def test_without_its_cache_the_service_works_on(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_for(backend, request, tmp_path, cache_redis_url=nowhere)
    with TestClient(create_app(settings)) as client:
        evaluation = submit_in(client, _S.RUNNING)
        move(client, evaluation.id, _S.COMPLETED, stdout="done")

        stored = client.get(f"/evaluations/{evaluation.id}").json()

    assert (stored["status"], stored["stdout"]) == ("completed", "done")


def test_the_database_location_never_shows_its_password() -> None:
    engine = create_database_engine("postgresql+psycopg://crucible:s3cret@db.internal:5432/x")

    location = DatabaseBackend(engine).location

    assert "s3cret" not in location and "db.internal:5432/x" in location
    engine.dispose()
