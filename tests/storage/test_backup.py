"""docs/operations.md's backup recipe, run for real: dump, wipe, restore."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from crucible_storage.app import create_app
from tests.storage.conftest import settings_for
from tests.storage.factories import move, submit_in
from tests.support.ports import free_port
from tests.support.servers import PostgresServer

_S = EvaluationStatus
_SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str, directory: Path, database_url: str, data_dir: Path) -> None:
    env = {**os.environ, "CRUCIBLE_DATABASE_URL": database_url, "CRUCIBLE_DATA_DIR": str(data_dir)}
    subprocess.run([_SCRIPTS / name, str(directory)], env=env, check=True, capture_output=True)


def test_a_backup_restores_the_database_and_the_blobs_after_a_wipe(
    postgres: PostgresServer, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for("postgresql", request, tmp_path)
    database = settings.database_url.rsplit("/", 1)[1]
    with TestClient(create_app(settings)) as client:
        running = submit_in(client, _S.RUNNING)
        move(client, running.id, _S.COMPLETED, stdout="b" * 250_000, stderr="small")
        move(client, submit_in(client, _S.RUNNING).id, _S.FAILED, dead_letter=True)
        before = {
            path: client.get(path).content
            for path in (
                "/evaluations?include_deleted=true",
                f"/evaluations/{running.id}",
                f"/evaluations/{running.id}/events",
                f"/evaluations/{running.id}/output/stdout",
                "/dead-letters",
            )
        }

    _script("backup.sh", tmp_path / "backup", settings.database_url, settings.data_dir)
    # The wipe: the database dropped and made anew, the blobs gone.
    postgres.drop_database(database)
    postgres.create_database(database)
    shutil.rmtree(settings.data_dir)
    _script("restore.sh", tmp_path / "backup", settings.database_url, settings.data_dir)

    # Without the cache, which still holds what was there before the wipe.
    uncached = settings.model_copy(update={"cache_redis_url": f"redis://127.0.0.1:{free_port()}"})
    with TestClient(create_app(uncached)) as client:
        after = {path: client.get(path).content for path in before}
    assert after == before
    assert len(before[f"/evaluations/{running.id}/output/stdout"]) == 250_000
