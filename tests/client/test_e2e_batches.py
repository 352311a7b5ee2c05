"""`evaluate`, `map` and `crucible eval` against a real platform, through
POST /api/batches and GET /api/batches/{id}/results (issue 15's batches)."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from crucible_client import Crucible
from crucible_client.cli import ExitCode
from tests.client.benchmark import problem, samples, write_jsonl
from tests.client.cutting_proxy import cutting_proxy
from tests.support.platform import Platform

CRUCIBLE = Path(sys.executable).parent / "crucible"
# Of each of the ten problems, how many of its five samples are right.
PASSING = [0, 1, 2, 3, 4, 5, 0, 5, 2, 3]


@pytest.fixture(autouse=True)
def batches_served(platform: Platform) -> None:
    paths = platform.client.get("/api/openapi.json").json()["paths"]
    if "/api/batches" not in paths or "/api/batches/{batch_id}/results" not in paths:
        pytest.skip(
            "this server has no POST /api/batches or GET /api/batches/{batch_id}/results "
            "(issue 15's batches); these tests pass once it has"
        )


def test_evaluate_yields_each_item_once_and_reports_refused_ones_by_index(
    platform: Platform, researcher_key: str
) -> None:
    items: list[dict[str, object]] = [
        {"code": f"print({n} * 3)", "label": f"item-{n}"} for n in range(30)
    ]
    items[7]["timeout_seconds"] = 5000

    with Crucible(platform.front_door_url, researcher_key) as crucible:
        results = list(crucible.evaluate(items, batch_label="thirty"))

    assert sorted(result.index for result in results) == list(range(30))
    refused = [result for result in results if result.rejected]
    assert [result.index for result in refused] == [7]
    assert any("timeout_seconds" in error for error in refused[0].errors)
    for result in results:
        if result.evaluation is not None:
            assert result.evaluation.stdout == f"{result.index * 3}\n"
            assert result.label == f"item-{result.index}"
            assert result.evaluation.batch_id


def test_map_survives_its_results_stream_being_cut(platform: Platform, researcher_key: str) -> None:
    programs = [f"import time\ntime.sleep({n % 4} / 10)\nprint({n})" for n in range(24)]

    with (
        cutting_proxy(platform.port, after_bytes=2500, cuts=3) as proxy,
        Crucible(proxy.url, researcher_key) as crucible,
    ):
        results = list(crucible.map(programs, timeout_seconds=10))

    assert proxy.cuts_made == 3
    assert Counter(result.index for result in results) == Counter(range(24))
    assert all(r.evaluation and r.evaluation.stdout == f"{r.index}\n" for r in results)


def _benchmark(tmp_path: Path) -> tuple[Path, Path]:
    problems = write_jsonl(tmp_path / "problems.jsonl.gz", [problem(n) for n in range(10)])
    return problems, write_jsonl(tmp_path / "samples.jsonl", samples(PASSING, per_task=5))


def _eval(platform: Platform, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRUCIBLE_")}
    env |= {"CRUCIBLE_URL": platform.front_door_url, "CRUCIBLE_API_KEY": key}
    return subprocess.run(
        [str(CRUCIBLE), "eval", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _table(stdout: str) -> dict[str, list[str]]:
    rows = [line.split() for line in stdout.splitlines() if line.strip()]
    return {row[0]: row[1:] for row in rows}


def _expected_table() -> dict[str, list[str]]:
    # pass@2 of 5 samples with c right: 1 - C(5 - c, 2) / C(5, 2).
    pass_at_2 = {0: "0.0000", 1: "0.4000", 2: "0.7000", 3: "0.9000", 4: "1.0000", 5: "1.0000"}
    table = {"task": ["n", "c", "pass@1", "pass@2", "pass@5"]}
    for n, c in enumerate(PASSING):
        at_5 = "1.0000" if c else "0.0000"
        table[f"Test/{n}"] = ["5", str(c), f"{c / 5:.4f}", pass_at_2[c], at_5]
    # Means over the tasks: 25/50 right; (0+.4+.7+.9+1+1+0+1+.7+.9)/10; 8 of 10 tasks solved.
    table["overall"] = ["50", "25", "0.5000", "0.6600", "0.8000"]
    return table


def test_crucible_eval_reports_the_exact_pass_at_k_and_resumes(
    platform: Platform, researcher_key: str, tmp_path: Path
) -> None:
    problems, sample_file = _benchmark(tmp_path)
    out = tmp_path / "results.jsonl"
    args = (str(sample_file), "--problems", str(problems), "--out", str(out), "--k", "1,2,5,10")

    first = _eval(platform, researcher_key, *args)

    assert first.returncode == ExitCode.OK, first.stderr
    # pass@10 needs ten samples of a task: none has them.
    assert _table(first.stdout) == _expected_table()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["sample_index"] for line in lines) == list(range(50))
    for line in lines:
        task = int(line["task_id"].split("/")[1])
        assert line["passed"] is (line["sample_index"] % 5 < PASSING[task])
        assert (line["result"] == "passed") is line["passed"]

    # Killed while writing its 41st line: the next run judges only the ten left.
    kept = out.read_text().splitlines(keepends=True)[:40]
    out.write_text("".join(kept) + kept[0][:30])
    resumed = _eval(platform, researcher_key, *args)

    assert resumed.returncode == ExitCode.OK, resumed.stderr
    assert "40 samples already in" in resumed.stderr
    assert _table(resumed.stdout) == _expected_table()
    assert out.read_text().startswith("".join(kept))
    assert sorted(json.loads(line)["sample_index"] for line in out.read_text().splitlines()) == (
        list(range(50))
    )

    again = _eval(platform, researcher_key, *args)

    assert again.returncode == ExitCode.OK
    assert "50 samples already in" in again.stderr
    assert _table(again.stdout) == _expected_table()
    assert len(out.read_text().splitlines()) == 50
