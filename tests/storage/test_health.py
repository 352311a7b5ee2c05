"""`/health` says the process answers; `/ready` says the database does too."""

from datetime import timedelta

from fastapi.testclient import TestClient

from crucible_shared.settings import StorageSettings
from crucible_storage.app import create_app
from crucible_storage.backends.database import DatabaseBackend
from crucible_storage.db.engine import create_database_engine
from crucible_storage.objects.memory import MemoryObjects
from crucible_storage.routes.deps import get_storage
from crucible_storage.service import Storage
from tests.support.ports import free_port


def test_a_started_service_is_healthy_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}


def test_without_its_database_the_service_is_alive_but_not_ready() -> None:
    nowhere = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/crucible"
    engine = create_database_engine(nowhere)
    no_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(StorageSettings(database_url=nowhere, cache_redis_url=no_redis))
    storage = Storage(
        DatabaseBackend(engine),
        blobs=MemoryObjects(),
        blob_backend="memory",
        blob_threshold_bytes=1024,
        retention=timedelta(days=1),
    )
    app.dependency_overrides[get_storage] = lambda: storage
    # Not started: start-up would fail to migrate the database that is not there.
    client = TestClient(app)

    assert client.get("/health").status_code == 200
    response = client.get("/ready")
    assert (response.status_code, response.json()) == (503, {"status": "storage unavailable"})
    engine.dispose()
