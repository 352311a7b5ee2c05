"""The storage service's API, as the other services call it."""

from collections.abc import Iterator
from typing import Any

import httpx

from crucible_shared import limits, service_auth
from crucible_shared.ids import is_canonical_id
from crucible_shared.schemas.batches import (
    BatchCancel,
    BatchCancelled,
    BatchPage,
    BatchProgress,
    FinishedPage,
    NewBatch,
    StoredBatch,
)
from crucible_shared.schemas.commands import (
    Claim,
    ClaimCommand,
    FailCommand,
    FinishCommand,
    RequeueCommand,
    StartCommand,
)
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationCount,
    EvaluationCreate,
    EvaluationFilter,
    EvaluationPage,
    EvaluationSummary,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.schemas.keys import StoredKey
from crucible_shared.schemas.statistics import StatisticsReport
from crucible_shared.schemas.storage import StorageInfo
from crucible_shared.settings import StorageClientSettings

# Time allowed for storing each evaluation of a batch, beyond one call's timeout.
_SECONDS_PER_STORED_ITEM = 0.01


class StorageError(Exception):
    """The storage service could not be reached or answered with a server error."""


class EvaluationNotFound(StorageError):
    """Storage answered 404: no evaluation (or dead letter, or key) has this id."""


class TransitionRefused(StorageError):
    """The evaluation is not in a status that allows the update (HTTP 409)."""


class RequestRejected(StorageError):
    """The storage service found the request invalid (HTTP 422), e.g. a bad cursor."""


class BacklogFull(StorageError):
    """The key's backlog cannot take these now (HTTP 429); `retry_after_seconds` estimates when."""

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class StorageClient:
    def __init__(self, settings: StorageClientSettings) -> None:
        self._timeout = settings.storage_timeout_seconds
        self._http = httpx.Client(
            base_url=settings.storage_url,
            timeout=settings.storage_timeout_seconds,
            headers=service_auth.headers(settings.service_token),
        )

    def close(self) -> None:
        self._http.close()

    def create_evaluation(
        self, submission: EvaluationCreate, *, max_queued: int | None = None
    ) -> Evaluation:
        response = self._request(
            "POST",
            "/evaluations",
            json=submission.model_dump(mode="json"),
            params=_bound(max_queued),
        )
        return Evaluation.model_validate_json(response.content)

    def get_evaluation(self, evaluation_id: str) -> Evaluation:
        response = self._request("GET", f"/evaluations/{_id(evaluation_id)}")
        return Evaluation.model_validate_json(response.content)

    def update_evaluation(self, evaluation_id: str, update: EvaluationUpdate) -> Evaluation:
        response = self._request(
            "PATCH",
            f"/evaluations/{_id(evaluation_id)}",
            json=update.model_dump(mode="json", exclude_none=True),
        )
        return Evaluation.model_validate_json(response.content)

    def create_evaluations(
        self, submissions: list[EvaluationCreate], *, max_queued: int | None = None
    ) -> list[EvaluationSummary]:
        """All or none, in order; one owner's, within its backlog bound if given."""
        body = [submission.model_dump(mode="json") for submission in submissions]
        response = self._request("POST", "/evaluations/batch", json=body, params=_bound(max_queued))
        return [EvaluationSummary.model_validate(item) for item in response.json()]

    def claim(self, evaluation_id: str, command: ClaimCommand) -> Claim:
        """`TransitionRefused` when it is no longer queued (cancelled, or taken)."""
        return Claim.model_validate_json(self._command(evaluation_id, "claim", command).content)

    def start(self, evaluation_id: str, command: StartCommand) -> EvaluationSummary:
        return self._summary(self._command(evaluation_id, "start", command))

    def finish(self, evaluation_id: str, command: FinishCommand) -> EvaluationSummary:
        return self._summary(self._command(evaluation_id, "finish", command))

    def requeue(self, evaluation_id: str, command: RequeueCommand) -> EvaluationSummary:
        """Queued again, or failed once its attempts are spent: the status says which."""
        return self._summary(self._command(evaluation_id, "requeue", command))

    def fail(self, evaluation_id: str, command: FailCommand) -> EvaluationSummary:
        return self._summary(self._command(evaluation_id, "fail", command))

    def _command(
        self,
        evaluation_id: str,
        name: str,
        command: ClaimCommand | StartCommand | FinishCommand | RequeueCommand | FailCommand,
    ) -> httpx.Response:
        return self._request(
            "POST",
            f"/evaluations/{_id(evaluation_id)}/{name}",
            content=command.model_dump_json(),
            headers={"content-type": "application/json"},
        )

    @staticmethod
    def _summary(response: httpx.Response) -> EvaluationSummary:
        return EvaluationSummary.model_validate_json(response.content)

    def create_batch(self, new: NewBatch) -> StoredBatch:
        """The batch and its evaluations, stored all or none."""
        # Storing takes time in proportion to the batch: 10,000 take seconds.
        timeout = self._timeout + len(new.submissions) * _SECONDS_PER_STORED_ITEM
        response = self._request(
            "POST", "/batches", json=new.model_dump(mode="json"), timeout=timeout
        )
        return StoredBatch.model_validate_json(response.content)

    def cancel_batch(self, batch_id: str, command: BatchCancel) -> BatchCancelled:
        """Cancels what of it is still queued or running; the ids it cancelled."""
        # As long as storing it took, at most.
        timeout = self._timeout + limits.MAX_BATCH_ITEMS * _SECONDS_PER_STORED_ITEM
        response = self._request(
            "POST",
            f"/batches/{_id(batch_id)}/cancel",
            content=command.model_dump_json(),
            headers={"content-type": "application/json"},
            timeout=timeout,
        )
        return BatchCancelled.model_validate_json(response.content)

    def get_batch(self, batch_id: str) -> BatchProgress:
        response = self._request("GET", f"/batches/{_id(batch_id)}")
        return BatchProgress.model_validate_json(response.content)

    def list_batches(
        self, *, owner: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> BatchPage:
        params = {"owner": owner, "limit": limit, "cursor": cursor}
        response = self._request(
            "GET", "/batches", params={k: v for k, v in params.items() if v is not None}
        )
        return BatchPage.model_validate_json(response.content)

    def finished_in_batch(
        self, batch_id: str, *, cursor: str | None = None, limit: int | None = None
    ) -> FinishedPage:
        """A page of the batch's finished evaluations, in the order they finished."""
        params = {"cursor": cursor, "limit": limit}
        response = self._request(
            "GET",
            f"/batches/{_id(batch_id)}/finished",
            params={k: v for k, v in params.items() if v is not None},
        )
        return FinishedPage.model_validate_json(response.content)

    def list_evaluations(
        self,
        where: EvaluationFilter | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> EvaluationPage:
        params = {**_query(where), "limit": limit, "cursor": cursor}
        response = self._request(
            "GET", "/evaluations", params={k: v for k, v in params.items() if v is not None}
        )
        return EvaluationPage.model_validate_json(response.content)

    def count_evaluations(self, where: EvaluationFilter | None = None) -> int:
        response = self._request("GET", "/evaluations/count", params=_query(where))
        return EvaluationCount.model_validate_json(response.content).count

    def delete_evaluation(self, evaluation_id: str) -> Evaluation:
        response = self._request("DELETE", f"/evaluations/{_id(evaluation_id)}")
        return Evaluation.model_validate_json(response.content)

    def restore_evaluation(self, evaluation_id: str) -> Evaluation:
        response = self._request("POST", f"/evaluations/{_id(evaluation_id)}/restore")
        return Evaluation.model_validate_json(response.content)

    def open_output(self, evaluation_id: str, stream: str) -> Iterator[bytes]:
        """The whole of an output stream, in chunks; the request is sent (and
        its errors raised) before this returns."""
        request = self._http.build_request(
            "GET", f"/evaluations/{_id(evaluation_id)}/output/{stream}"
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise StorageError(f"storage service unreachable: {exc}") from exc
        if response.status_code != 200:
            response.read()
            response.close()
            _raise_for(response)
        return _chunks(response)

    def add_key(self, key: StoredKey) -> None:
        self._request("POST", "/keys", json=key.model_dump(mode="json"))

    def list_keys(self) -> list[StoredKey]:
        return [StoredKey.model_validate(item) for item in self._request("GET", "/keys").json()]

    def find_key(self, key_sha256: str) -> StoredKey | None:
        try:
            response = self._request("GET", f"/keys/by-hash/{key_sha256}")
        except EvaluationNotFound:  # any 404: no key has this hash
            return None
        return StoredKey.model_validate_json(response.content)

    def revoke_key(self, key_id: str) -> StoredKey:
        return StoredKey.model_validate_json(
            self._request("POST", f"/keys/{_id(key_id)}/revoke").content
        )

    def statistics(self) -> StatisticsReport:
        return StatisticsReport.model_validate_json(self._request("GET", "/statistics").content)

    def storage_info(self) -> StorageInfo:
        return StorageInfo.model_validate_json(self._request("GET", "/storage-info").content)

    def purge(self) -> int:
        """Purges what was deleted longer ago than storage's retention; how many."""
        purged: int = self._request("POST", "/purge").json()["purged"]
        return purged

    def list_events(self, evaluation_id: str) -> list[EvaluationEvent]:
        response = self._request("GET", f"/evaluations/{_id(evaluation_id)}/events")
        return [EvaluationEvent.model_validate(item) for item in response.json()]

    def list_dead_letters(self, *, limit: int | None = None) -> list[DeadLetter]:
        params = {"limit": limit} if limit is not None else {}
        response = self._request("GET", "/dead-letters", params=params)
        return [DeadLetter.model_validate(item) for item in response.json()]

    def requeue_dead_letter(self, dead_letter_id: str) -> Evaluation:
        """A new evaluation with the same submission; the dead letter records it."""
        response = self._request("POST", f"/dead-letters/{_id(dead_letter_id)}/requeue")
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
        _raise_for(response)
        return response


def _id(value: str) -> str:
    """An id for a URL path. Ids are UUIDs: anything else names nothing, and
    is refused here rather than let into a URL (where `?`, `..` or a control
    character would make another request, or none)."""
    if not is_canonical_id(value):
        raise EvaluationNotFound(f"{value!r} not found: ids are UUIDs")
    return value


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    detail = _detail(response)
    if response.status_code == 404:
        raise EvaluationNotFound(detail or "evaluation not found")
    if response.status_code == 409:
        raise TransitionRefused(detail or "transition refused")
    if response.status_code == 422:
        raise RequestRejected(detail or "invalid request")
    if response.status_code == 429:
        retry_after = response.headers.get("retry-after", "")
        raise BacklogFull(
            detail or "backlog full", int(retry_after) if retry_after.isdigit() else 60
        )
    raise StorageError(f"storage service answered {response.status_code}: {response.text}")


def _detail(response: httpx.Response) -> str | None:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return None
    return detail if isinstance(detail, str) else str(detail) if detail else None


def _bound(max_queued: int | None) -> dict[str, int]:
    return {} if max_queued is None else {"max_queued": max_queued}


def _query(where: EvaluationFilter | None) -> dict[str, Any]:
    if where is None:
        return {}
    return where.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def _chunks(response: httpx.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes()
    finally:
        response.close()
