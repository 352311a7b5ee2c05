"""The exceptions the client raises.

    CrucibleError
    ├── ConfigurationError      no URL or key to talk to
    ├── ConnectionFailed        the platform could not be reached (after retries)
    ├── WaitTimeout             an evaluation was not finished within the time asked
    ├── EvaluationFailed        the platform could not run an evaluation (status `failed`)
    └── APIError                the API answered 4xx or 5xx; `message` is its own words
        ├── AuthenticationError 401, 403
        ├── NotFound            404
        ├── InvalidRequest      400, 409, 413, 422
        └── RateLimited         429 still, after waiting `Retry-After` as long as allowed

A program that fails (non-zero exit, timeout, a test that does not pass) is not
an exception: it is the evaluation's `outcome`.
"""

from typing import Any

import httpx


class CrucibleError(Exception):
    pass


class ConfigurationError(CrucibleError):
    pass


class ConnectionFailed(CrucibleError):
    pass


class WaitTimeout(CrucibleError):
    pass


class EvaluationFailed(CrucibleError):
    """The platform's fault, not the program's: `evaluation.error` says why."""

    def __init__(self, evaluation: Any) -> None:
        self.evaluation = evaluation
        super().__init__(f"evaluation {evaluation.id} failed: {evaluation.error}")


class APIError(CrucibleError):
    def __init__(self, status_code: int, message: str, body: Any) -> None:
        self.status_code = status_code
        self.message = message
        self.body = body
        super().__init__(f"{status_code}: {message}")


class AuthenticationError(APIError):
    pass


class NotFound(APIError):
    pass


class InvalidRequest(APIError):
    pass


class RateLimited(APIError):
    def __init__(self, status_code: int, message: str, body: Any, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(status_code, message, body)


def error_message(body: Any) -> str:
    """The API's `detail` as one line: FastAPI's validation errors become
    `field: message`, joined."""
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(_one_error(item) for item in detail)
    return str(detail)


def _one_error(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()))
    return f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item))


def error_from_response(response: httpx.Response, retry_after: float = 0.0) -> APIError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    message = error_message(body) or response.reason_phrase
    code = response.status_code
    if code == 429:
        return RateLimited(code, message, body, retry_after)
    kind: type[APIError] = (
        AuthenticationError
        if code in (401, 403)
        else NotFound
        if code == 404
        else InvalidRequest
        if code in (400, 409, 413, 422)
        else APIError
    )
    return kind(code, message, body)
