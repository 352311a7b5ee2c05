"""What the API serves from storage: whole outputs, batches, deletion, queries, statistics."""

import time
from pathlib import Path

import pytest

from tests.support.platform import Platform, local_platform
from tests.support.servers import s3_server

pytestmark = pytest.mark.e2e

# 300,000 characters, 2 bytes each in UTF-8 every seventh one: well past the
# 100 KB blob threshold, and not all ASCII.
_BIG_OUTPUT = (
    "import sys\n"
    "sys.stdout.write(''.join('é' if i % 7 == 0 else chr(33 + i % 90) for i in range(300_000)))\n"
)
_EXPECTED = "".join("é" if i % 7 == 0 else chr(33 + i % 90) for i in range(300_000)).encode()


def _assert_whole_output_comes_back(platform: Platform) -> None:
    finished = platform.run(code=_BIG_OUTPUT)
    assert (finished["status"], finished["outcome"]) == ("completed", "success"), finished

    whole = platform.client.get(f"/api/evaluations/{finished['id']}/output/stdout")

    assert whole.status_code == 200
    assert whole.content == _EXPECTED
    assert finished["stdout_preview"] is True
    assert finished["stdout_bytes"] == len(_EXPECTED)
    preview = finished["stdout"].encode()
    assert _EXPECTED.startswith(preview)
    # The preview is the output up to the threshold (less a cut UTF-8 character), not empty.
    threshold = platform.client.get("/api/storage").json()["blob_threshold_bytes"]
    assert threshold - 4 < len(preview) <= threshold


def test_a_300_kb_stdout_comes_back_byte_for_byte_from_file_blobs(platform: Platform) -> None:
    _assert_whole_output_comes_back(platform)
    assert platform.client.get("/api/storage").json()["blob_backend"] == "file"


def test_a_300_kb_stdout_comes_back_byte_for_byte_from_s3_blobs(tmp_path: Path) -> None:
    with (
        s3_server() as s3,
        local_platform(
            tmp_path / "state",
            CRUCIBLE_BLOB_BACKEND="s3",
            CRUCIBLE_S3_ENDPOINT_URL=s3.endpoint_url,
            CRUCIBLE_S3_BUCKET="crucible-e2e",
            **s3.environment(),
        ) as platform,
    ):
        _assert_whole_output_comes_back(platform)
        info = platform.client.get("/api/storage").json()
        assert (info["blob_backend"], info["blobs"]) == ("s3", 1)


def test_a_batch_queues_the_valid_and_says_what_is_wrong_with_the_rest(
    platform: Platform,
) -> None:
    batch = [
        {"code": "print('first')"},
        {"code": ""},
        {"code": "print('third')", "priority": "high"},
        {"code": "print(4)", "timeout_seconds": 100_000},
    ]

    response = platform.client.post("/api/evaluations/batch", json=batch)

    assert response.status_code == 202, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 2)
    first, empty, third, slow = result["items"]
    assert [item["index"] for item in result["items"]] == [0, 1, 2, 3]
    assert empty["id"] is None and "code" in empty["errors"][0]
    assert slow["id"] is None and "timeout_seconds" in slow["errors"][0]
    assert "900" in slow["errors"][0]
    for item, printed in ((first, "first\n"), (third, "third\n")):
        assert platform.wait_terminal(item["id"])["stdout"] == printed


def test_a_batch_over_the_bound_is_refused_naming_it(platform: Platform) -> None:
    response = platform.client.post("/api/evaluations/batch", json=[{"code": "1"}] * 1001)

    assert response.status_code == 422
    assert "1000" in response.text


def test_deleting_hides_an_evaluation_and_restoring_brings_it_back(platform: Platform) -> None:
    marker = "print('to be deleted, 7f3a')"
    finished = platform.run(code=marker)
    listed = {"q": "7f3a"}

    assert platform.client.delete(f"/api/evaluations/{finished['id']}").status_code == 200
    assert platform.client.get("/api/evaluations", params=listed).json()["items"] == []
    assert platform.client.get("/api/evaluations/count", params=listed).json() == {"count": 0}
    hidden = platform.client.get("/api/evaluations", params={**listed, "include_deleted": True})
    assert [item["id"] for item in hidden.json()["items"]] == [finished["id"]]

    assert platform.client.post(f"/api/evaluations/{finished['id']}/restore").status_code == 200
    assert platform.client.get("/api/evaluations/count", params=listed).json() == {"count": 1}
    events = platform.client.get(f"/api/evaluations/{finished['id']}/events").json()
    assert [event["detail"] for event in events][-2:] == ["deleted", "restored"]


def test_a_running_evaluation_cannot_be_deleted(platform: Platform) -> None:
    running = platform.submit(code="import time; time.sleep(30)")
    platform.wait_status(running["id"], "running")

    refused = platform.client.delete(f"/api/evaluations/{running['id']}")

    assert refused.status_code == 409 and "cancel" in refused.json()["detail"]
    platform.client.post(f"/api/evaluations/{running['id']}/cancel")


def test_statistics_cover_what_ran(platform: Platform) -> None:
    platform.run(code="print('counted')", priority="low")

    report = platform.client.get("/api/statistics").json()

    assert report["by_status"]["completed"] >= 1
    assert report["per_priority"]["low"]["finished_last_hour"] >= 1
    assert report["run_time"]["p50_ms"] > 0
    assert report["queue_wait"]["count"] >= 1


def test_celery_beat_purges_deleted_evaluations_after_the_retention(tmp_path: Path) -> None:
    with local_platform(
        tmp_path / "state", CRUCIBLE_RETENTION_DAYS="0", CRUCIBLE_PURGE_INTERVAL_SECONDS="1"
    ) as platform:
        finished = platform.run(code="print('short-lived')")
        kept = platform.run(code="print('kept')")
        assert platform.client.delete(f"/api/evaluations/{finished['id']}").status_code == 200

        deadline = time.monotonic() + 30
        while platform.client.get(f"/api/evaluations/{finished['id']}").status_code != 404:
            assert time.monotonic() < deadline, "beat never had it purged"
            time.sleep(0.2)

        assert platform.client.get(f"/api/evaluations/{kept['id']}").status_code == 200
        assert "purged 1 deleted evaluations" in platform.log("celery-worker")
