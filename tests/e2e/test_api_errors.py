"""Bad input gets a clear 4xx naming what is wrong; never a 500."""

import pytest

from crucible_shared import limits
from tests.support.platform import Platform


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"code": "1", "timeout_seconds": 901}, "timeout_seconds", "900"),
        ({"code": "1", "timeout_seconds": 0}, "timeout_seconds", "1"),
        ({"code": "1", "memory_mb": 8192}, "memory_mb", "4096"),
        ({"code": "1", "memory_mb": 32}, "memory_mb", "64"),
        ({"code": "1", "language": "ruby"}, "language", "python"),
        ({"code": "1", "priority": "urgent"}, "priority", "high"),
        ({"code": ""}, "code", "at least 1"),
        ({}, "code", "required"),
        ({"code": "1", "timeout": 5}, "timeout", "not permitted"),
        ({"code": "#" * (limits.MAX_CODE_BYTES + 1)}, "code", str(limits.MAX_CODE_BYTES)),
    ],
)
def test_invalid_submission_names_the_field_and_bound(
    platform: Platform, body: dict[str, object], field: str, words: str
) -> None:
    response = platform.client.post("/api/evaluations", json=body)

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"][-1] == field and words in error["msg"] for error in errors), errors


def test_body_over_two_mib_is_413_json(platform: Platform) -> None:
    body = '{"code": "' + "#" * (limits.MAX_REQUEST_BYTES + 10) + '"}'

    response = platform.client.post(
        "/api/evaluations", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert str(limits.MAX_REQUEST_BYTES) in response.json()["detail"]


def test_unknown_evaluation_is_404(platform: Platform) -> None:
    response = platform.client.get("/api/evaluations/does-not-exist")

    assert response.status_code == 404
    assert "does-not-exist" in response.json()["detail"]


def test_bad_list_parameters_are_422(platform: Platform) -> None:
    assert platform.client.get("/api/evaluations", params={"limit": 0}).status_code == 422
    assert platform.client.get("/api/evaluations", params={"status": "nope"}).status_code == 422
    assert platform.client.get("/api/evaluations", params={"cursor": "%%%"}).status_code == 422
    # Not an id, and text PostgreSQL cannot compare: refused, not a 503 from storage.
    owner = platform.client.get("/api/evaluations", params={"owner": "\x00"})
    assert owner.status_code == 422
    assert "owner" in owner.text


def test_unknown_and_repeated_query_parameters_are_422(platform: Platform) -> None:
    # Ignored, a typo would list everything; a repeat would keep its last value.
    typo = platform.client.get("/api/evaluations", params={"stauts": "queued", "limit": 5})
    assert typo.status_code == 422
    assert typo.json()["detail"] == [
        {
            "type": "extra_forbidden",
            "loc": ["query", "stauts"],
            "msg": "no such query parameter",
            "input": "queued",
        }
    ]
    repeated = platform.client.get("/api/evaluations/count?active=maybe&active=true")
    assert repeated.status_code == 422
    assert repeated.json()["detail"][0]["loc"] == ["query", "active"]
    assert repeated.json()["detail"][0]["input"] == ["maybe", "true"]
    # Declared parameters given once still pass, as do operations without any.
    assert platform.client.get("/api/evaluations/count?active=true").status_code == 200
    assert platform.client.get("/api/queue").status_code == 200


def test_health_ready_and_openapi(platform: Platform) -> None:
    assert platform.client.get("/health").json() == {"status": "ok"}
    assert platform.client.get("/ready").status_code == 200
    paths = platform.client.get("/api/openapi.json").json()["paths"]
    assert "/api/evaluations" in paths
    assert platform.client.get("/api/docs").status_code == 200
