"""What storage refuses, whichever backend keeps the data.

    NotFound              404
    ├── EvaluationNotFound
    ├── DeadLetterNotFound
    ├── KeyNotFound
    └── BatchNotFound
    Conflict              409
    ├── TransitionRefused
    └── AlreadyRequeued
    RequestRejected       422  input the schemas let through but storage cannot serve or keep

`app.py` maps the three bases to their HTTP status, with the message as `detail`.
"""

from crucible_shared.lifecycle import EvaluationStatus


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class RequestRejected(Exception):
    pass


class EvaluationNotFound(NotFound):
    def __init__(self, evaluation_id: str) -> None:
        super().__init__(f"evaluation {evaluation_id} not found")


class DeadLetterNotFound(NotFound):
    def __init__(self, dead_letter_id: str) -> None:
        super().__init__(f"dead letter {dead_letter_id} not found")


class TransitionRefused(Conflict):
    def __init__(
        self, evaluation_id: str, current: EvaluationStatus, requested: EvaluationStatus
    ) -> None:
        super().__init__(f"evaluation {evaluation_id} is {current}; it cannot become {requested}")


class AlreadyRequeued(Conflict):
    def __init__(self, dead_letter_id: str, evaluation_id: str) -> None:
        super().__init__(f"dead letter {dead_letter_id} was requeued already, as {evaluation_id}")


class KeyNotFound(NotFound):
    def __init__(self, what: str) -> None:
        super().__init__(f"API key {what} not found")


class BatchNotFound(NotFound):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"batch {batch_id} not found")
