"""What route handlers receive, as named dependencies."""

from typing import Annotated

from fastapi import Depends, Request

from crucible_api.fleet import Fleet
from crucible_api.queueing import EvaluationQueue
from crucible_api.quotas import Quotas
from crucible_api.updates import EvaluationUpdates
from crucible_shared.storage_client import StorageClient


def _storage(request: Request) -> StorageClient:
    storage: StorageClient = request.app.state.storage
    return storage


def _queue(request: Request) -> EvaluationQueue:
    queue: EvaluationQueue = request.app.state.queue
    return queue


def _fleet(request: Request) -> Fleet:
    fleet: Fleet = request.app.state.fleet
    return fleet


def _quotas(request: Request) -> Quotas:
    quotas: Quotas = request.app.state.quotas
    return quotas


def _updates(request: Request) -> EvaluationUpdates:
    updates: EvaluationUpdates = request.app.state.updates
    return updates


StorageDep = Annotated[StorageClient, Depends(_storage)]
QueueDep = Annotated[EvaluationQueue, Depends(_queue)]
FleetDep = Annotated[Fleet, Depends(_fleet)]
QuotasDep = Annotated[Quotas, Depends(_quotas)]
UpdatesDep = Annotated[EvaluationUpdates, Depends(_updates)]
