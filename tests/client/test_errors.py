"""The API's errors as the client words them, and how long a 429 asks to wait."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from crucible_client._async_client import retry_after
from crucible_client._errors import (
    AuthenticationError,
    InvalidRequest,
    RateLimited,
    error_from_response,
    error_message,
)


def test_validation_errors_become_field_and_message() -> None:
    body = {
        "detail": [
            {"loc": ["body", "items", 3, "timeout_seconds"], "msg": "must be at most 900"},
            {"loc": ["query", "wait"], "msg": "no such query parameter"},
        ]
    }

    assert error_message(body) == (
        "body.items.3.timeout_seconds: must be at most 900; query.wait: no such query parameter"
    )
    assert error_message({"detail": "this key may submit 60 evaluations a minute"}) == (
        "this key may submit 60 evaluations a minute"
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, AuthenticationError), (403, AuthenticationError), (413, InvalidRequest)],
)
def test_statuses_map_to_their_exceptions(status: int, kind: type[Exception]) -> None:
    error = error_from_response(httpx.Response(status, text="<html>too large</html>"))

    assert type(error) is kind
    assert error.message == "<html>too large</html>"


def test_a_429_carries_how_long_it_asked_for() -> None:
    error = error_from_response(httpx.Response(429, json={"detail": "slow down"}), 5.0)

    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.message) == (5.0, "slow down")


def test_retry_after_reads_seconds_or_a_date_and_defaults_to_one() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    assert retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert 28 <= retry_after(httpx.Response(429, headers={"Retry-After": later})) <= 30
    assert retry_after(httpx.Response(429)) == 1.0
