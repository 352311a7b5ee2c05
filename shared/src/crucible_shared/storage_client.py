"""The storage service's API, as the other services call it."""

from typing import Any

import httpx

from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationCreate,
    EvaluationPage,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.settings import StorageClientSettings


class StorageError(Exception):
    """The storage service could not be reached or answered with a server error."""


class EvaluationNotFound(StorageError):
    pass


class TransitionRefused(StorageError):
    """The evaluation is not in a status that allows the update (HTTP 409)."""


class RequestRejected(StorageError):
    """The storage service found the request invalid (HTTP 422), e.g. a bad cursor."""


class StorageClient:
    def __init__(self, settings: StorageClientSettings) -> None:
        self._http = httpx.Client(
            base_url=settings.storage_url, timeout=settings.storage_timeout_seconds
        )

    def close(self) -> None:
        self._http.close()

    def create_evaluation(self, submission: EvaluationCreate) -> Evaluation:
        response = self._request("POST", "/evaluations", json=submission.model_dump(mode="json"))
        return Evaluation.model_validate_json(response.content)

    def get_evaluation(self, evaluation_id: str) -> Evaluation:
        response = self._request("GET", f"/evaluations/{evaluation_id}")
        return Evaluation.model_validate_json(response.content)

    def update_evaluation(self, evaluation_id: str, update: EvaluationUpdate) -> Evaluation:
        response = self._request(
            "PATCH",
            f"/evaluations/{evaluation_id}",
            json=update.model_dump(mode="json", exclude_none=True),
        )
        return Evaluation.model_validate_json(response.content)

    def list_evaluations(
        self,
        *,
        status: EvaluationStatus | None = None,
        priority: Priority | None = None,
        since: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> EvaluationPage:
        params = {
            "status": status,
            "priority": priority,
            "since": since,
            "limit": limit,
            "cursor": cursor,
        }
        response = self._request(
            "GET", "/evaluations", params={k: v for k, v in params.items() if v is not None}
        )
        return EvaluationPage.model_validate_json(response.content)

    def list_events(self, evaluation_id: str) -> list[EvaluationEvent]:
        response = self._request("GET", f"/evaluations/{evaluation_id}/events")
        return [EvaluationEvent.model_validate(item) for item in response.json()]

    def list_dead_letters(self, *, limit: int | None = None) -> list[DeadLetter]:
        params = {"limit": limit} if limit is not None else {}
        response = self._request("GET", "/dead-letters", params=params)
        return [DeadLetter.model_validate(item) for item in response.json()]

    def requeue_dead_letter(self, dead_letter_id: str) -> Evaluation:
        """A new evaluation with the same submission; the dead letter records it."""
        response = self._request("POST", f"/dead-letters/{dead_letter_id}/requeue")
        return Evaluation.model_validate_json(response.content)

    def ready(self) -> bool:
        try:
            return self._http.get("/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StorageError(f"storage service unreachable: {exc}") from exc
        if response.status_code == 404:
            raise EvaluationNotFound(response.json().get("detail", "evaluation not found"))
        if response.status_code == 409:
            raise TransitionRefused(response.json().get("detail", "transition refused"))
        if response.status_code == 422:
            raise RequestRejected(response.json().get("detail", "invalid request"))
        if response.status_code >= 400:
            raise StorageError(f"storage service answered {response.status_code}: {response.text}")
        return response
