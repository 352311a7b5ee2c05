import pytest

from crucible_shared.lifecycle import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATUSES,
    EvaluationStatus,
    can_transition,
)

S = EvaluationStatus


def test_every_status_has_a_transition_rule() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(EvaluationStatus)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_nothing_leaves_a_terminal_status(terminal: EvaluationStatus) -> None:
    assert terminal.is_terminal
    assert not any(can_transition(terminal, new) for new in EvaluationStatus)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.QUEUED, S.PROVISIONING),
        (S.PROVISIONING, S.RUNNING),
        (S.RUNNING, S.COMPLETED),
        (S.RUNNING, S.QUEUED),
        (S.QUEUED, S.CANCELLED),
        (S.PROVISIONING, S.FAILED),
    ],
)
def test_the_pipeline_moves_forward_and_retries_go_back_to_queued(
    current: EvaluationStatus, new: EvaluationStatus
) -> None:
    assert can_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.QUEUED, S.RUNNING),
        (S.QUEUED, S.COMPLETED),
        (S.PROVISIONING, S.COMPLETED),
        (S.RUNNING, S.PROVISIONING),
        (S.QUEUED, S.QUEUED),
    ],
)
def test_steps_cannot_be_skipped_or_repeated(
    current: EvaluationStatus, new: EvaluationStatus
) -> None:
    assert not can_transition(current, new)
