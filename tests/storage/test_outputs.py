"""Outputs larger than the threshold go to the blob store and come back whole."""

import pytest
from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from tests.storage.factories import move, submit_in

_S = EvaluationStatus
_THRESHOLD = 100 * 1024  # the default of `blob_threshold_bytes`


def _finish(client: TestClient, stdout: str, stderr: str = "") -> str:
    running = submit_in(client, _S.RUNNING)
    move(client, running.id, _S.COMPLETED, stdout=stdout, stderr=stderr, exit_code=0)
    return running.id


def test_a_300_kb_stdout_comes_back_byte_for_byte(client: TestClient) -> None:
    # Every byte value a program can print as UTF-8 text, multi-byte characters included.
    stdout = "".join(chr(32 + n % 200) + "é€𝄞\x00\n"[n % 5] for n in range(150_000))
    assert len(stdout.encode()) > 300 * 1024

    evaluation_id = _finish(client, stdout, stderr="warning\n")
    stored = client.get(f"/evaluations/{evaluation_id}").json()
    whole = client.get(f"/evaluations/{evaluation_id}/output/stdout")

    assert whole.status_code == 200
    assert whole.content == stdout.encode()
    assert stored["stdout_preview"] is True and stored["stdout_bytes"] == len(stdout.encode())
    preview = stored["stdout"].encode()
    assert stdout.encode().startswith(preview)
    assert _THRESHOLD - 4 < len(preview) <= _THRESHOLD
    assert (stored["stderr"], stored["stderr_preview"], stored["stderr_bytes"]) == (
        "warning\n",
        False,
        8,
    )
    assert client.get(f"/evaluations/{evaluation_id}/output/stderr").content == b"warning\n"


def test_a_preview_never_splits_a_character(client: TestClient) -> None:
    # 3-byte characters: the threshold falls inside one of them.
    stdout = "€" * (_THRESHOLD // 3 + 10)

    evaluation_id = _finish(client, stdout)
    stored = client.get(f"/evaluations/{evaluation_id}").json()

    assert set(stored["stdout"]) == {"€"}
    assert len(stored["stdout"].encode()) == _THRESHOLD - _THRESHOLD % 3
    assert client.get(f"/evaluations/{evaluation_id}/output/stdout").text == stdout


def test_small_outputs_stay_with_the_evaluation(client: TestClient) -> None:
    evaluation_id = _finish(client, "hello\n")

    stored = client.get(f"/evaluations/{evaluation_id}").json()

    assert (stored["stdout"], stored["stdout_preview"], stored["stdout_bytes"]) == (
        "hello\n",
        False,
        6,
    )
    assert client.get("/storage-info").json()["blobs"] == 0
    assert client.get(f"/evaluations/{evaluation_id}/output/stdout").text == "hello\n"


def test_a_refused_update_leaves_the_evaluation_as_it_was(client: TestClient) -> None:
    cancelled = submit_in(client, _S.CANCELLED)

    refused = client.patch(
        f"/evaluations/{cancelled.id}",
        json={"status": "completed", "outcome": "success", "stdout": "x" * (_THRESHOLD + 1)},
    )

    assert refused.status_code == 409
    assert client.get(f"/evaluations/{cancelled.id}/output/stdout").content == b""
    assert client.get("/storage-info").json()["blobs"] == 0


def test_a_refused_update_never_replaces_the_stored_output(client: TestClient) -> None:
    # A late report of an earlier attempt, say, after the evaluation finished.
    first = "a" * (_THRESHOLD + 1)
    evaluation_id = _finish(client, first)

    refused = client.patch(
        f"/evaluations/{evaluation_id}",
        json={"status": "completed", "outcome": "success", "stdout": "b" * (_THRESHOLD + 1)},
    )

    assert refused.status_code == 409
    assert client.get(f"/evaluations/{evaluation_id}/output/stdout").text == first


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_the_output_of_an_unknown_evaluation_is_not_found(client: TestClient, stream: str) -> None:
    response = client.get(f"/evaluations/00000000-0000-4000-8000-000000000000/output/{stream}")

    assert response.status_code == 404


def test_only_stdout_and_stderr_are_outputs(client: TestClient) -> None:
    evaluation_id = _finish(client, "hi")

    assert client.get(f"/evaluations/{evaluation_id}/output/stdin").status_code == 422
