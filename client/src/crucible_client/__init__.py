"""Crucible's Python client: run untrusted Python on a Crucible platform, one
program or a benchmark's thousands at once.

    from crucible_client import Crucible

    with Crucible() as crucible:  # CRUCIBLE_URL, CRUCIBLE_API_KEY
        evaluation = crucible.run("print(6 * 7)")
        for result in crucible.map(programs, timeout_seconds=10):
            ...
"""

from crucible_client._async_client import AsyncCrucible
from crucible_client._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    CrucibleError,
    EvaluationFailed,
    InvalidRequest,
    NotFound,
    RateLimited,
    WaitTimeout,
)
from crucible_client._models import Evaluation, ItemResult, TestResult
from crucible_client._sync_client import Crucible
from crucible_client.passk import pass_at_k

__all__ = [
    "APIError",
    "AsyncCrucible",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionFailed",
    "Crucible",
    "CrucibleError",
    "Evaluation",
    "EvaluationFailed",
    "InvalidRequest",
    "ItemResult",
    "NotFound",
    "RateLimited",
    "TestResult",
    "WaitTimeout",
    "pass_at_k",
]
