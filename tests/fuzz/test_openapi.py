"""Schemathesis against the OpenAPI document of a platform started for real.

Every operation the document lists is fuzzed, none left out, with valid and
with invalid requests: none may get a 5xx, and every answer must be one the
document declares, in the shape it declares (Schemathesis' default checks:
not_a_server_error, status_code_conformance, content_type_conformance,
response_headers_conformance, response_schema_conformance, and for invalid
input negative_data_rejection).
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from crucible_shared import limits
from tests.support.platform import Platform, local_platform
from tests.support.servers import PostgresServer

pytestmark = pytest.mark.fuzz

# Per operation and mode: with twenty-odd operations, about a minute in all
# here. More for a longer hunt: CRUCIBLE_FUZZ_EXAMPLES=200 ./run-tests.sh tests/fuzz
EXAMPLES = int(os.environ.get("CRUCIBLE_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzzed_platform(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    # PostgreSQL, as in production: it refuses text that SQLite takes (NUL bytes).
    database_url = postgres.create_database("crucible_fuzz")
    state = tmp_path_factory.mktemp("fuzz") / "state"
    # One evaluation at a time: the fuzzer submits hundreds of programs, and
    # running them must not starve the API under test of the machine's CPUs.
    with local_platform(Path(state), database_url, CRUCIBLE_WORKER_CONCURRENCY="1") as running:
        yield running


# What counts as refusing an invalid request: Schemathesis' own list (whose
# 5xx the not_a_server_error check fails anyway), and 413, which the API
# answers, as its document says, to a body over its limit, such as a batch
# of far more than its maximum of evaluations.
_REFUSALS = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "413",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]


@pytest.fixture(scope="module")
def api_schema(fuzzed_platform: Platform) -> BaseSchema:
    base_url = str(fuzzed_platform.client.base_url).rstrip("/")
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": _REFUSALS}}}
    )
    return schemathesis.openapi.from_url(f"{base_url}/api/openapi.json", config=config)


# A list's `cursor` is a token the API hands out (`next_cursor`): a string it
# did not issue is rightly refused with 422, and no schema can say which
# strings it issued. Every other check still applies to the list.
_NOT_CHECKED: dict[str, list[CheckFunction]] = {
    "GET /api/evaluations": [positive_data_acceptance],
    "GET /api/batches": [positive_data_acceptance],
    "GET /api/batches/{batch_id}/results": [positive_data_acceptance],
}


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, headers: dict[str, str]
) -> None:
    # schemathesis.pytest's own parametrization reaches into pytest's private
    # node attributes, which pytest 9 no longer has; Hypothesis drives it here.
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Case[Any]) -> None:
        if mode is GenerationMode.NEGATIVE:
            assume(not any(map(_sent_as_one_or_none, (case.query or {}).values())))
        else:
            assume(_cases_within_their_submission(case.body))
        case.call_and_validate(headers=headers, excluded_checks=_NOT_CHECKED.get(operation.label))

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_honours_the_document(
    api_schema: BaseSchema, fuzzed_platform: Platform, mode: GenerationMode
) -> None:
    # As the admin, so that every operation's own handling is reached rather
    # than the key check in front of it (the document declares no security).
    headers = {"Authorization": f"Bearer {fuzzed_platform.admin_key}"}
    operations = []
    for result in api_schema.get_all_operations():
        # An operation the document describes badly fails the test; it is never skipped.
        assert isinstance(result, Ok), f"an operation Schemathesis cannot read: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 5, "the document lost its operations: nothing would be fuzzed"

    failures: dict[str, str] = {}
    unsatisfiable = []
    for operation in operations:
        try:
            _fuzz(operation, mode, headers)
        except Unsatisfiable as exc:
            # Nothing about it can be invalid (no parameters, or a free-form
            # string): there is no invalid request to send. A valid one always exists.
            unsatisfiable.append(operation.label)
            if mode is not GenerationMode.NEGATIVE:
                failures[operation.label] = _describe(exc)
        # Every operation is fuzzed and every failure reported; Schemathesis
        # groups an operation's distinct failures in a BaseExceptionGroup.
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = _describe(exc)

    assert failures == {}, "\n\n".join(f"{label}\n{why}" for label, why in failures.items())
    # A generator that broke would make every operation "unsatisfiable" and fuzz nothing.
    assert len(unsatisfiable) < len(operations), unsatisfiable


def _cases_within_their_submission(body: object) -> bool:
    """A test case may not ask for more time than its submission has: a bound
    between two fields, which the document states in words (and the API
    answers with 422 naming it) but a schema cannot express."""
    if not isinstance(body, dict) or not isinstance(body.get("tests"), list):
        return True
    allowed = body.get("timeout_seconds", limits.TIMEOUT_SECONDS.default)
    return all(
        not isinstance(case, dict) or (case.get("timeout_seconds") or 0) <= allowed
        for case in body["tests"]
    )


def _sent_as_one_or_none(value: object) -> bool:
    """A list of one value, or an empty list or object, reaches the server as
    that value or as nothing at all: a request the document allows, whatever
    Schemathesis generated it as. (The API refuses repeated and unknown query
    parameters, which longer lists and objects become.)"""
    if isinstance(value, list):
        return len(value) <= 1
    return value == {}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"
