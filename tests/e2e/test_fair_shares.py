"""Keys take turns for the slots of one priority (issue 15), on a real platform.

Key A queues 2,000 short programs, then key B submits one. B's evaluation
must not wait behind A's backlog: it waits for a slot to come free and, at
worst, for one more of A's to be dispatched before it (the keys take turns).
The bound is derived from what one of A's evaluations costs a slot, measured
in the same run, not from a guess of wall-clock time.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.platform import local_platform

SLOTS = 2
PROGRAM = "import time; time.sleep(0.05)"


def _at(evaluation: dict[str, Any], field: str) -> float:
    return datetime.fromisoformat(evaluation[field]).timestamp()


@pytest.mark.timeout(600)
def test_one_key_s_backlog_does_not_delay_another_key(tmp_path: Path) -> None:
    settings = {"CRUCIBLE_EXECUTOR_CAPACITY": str(SLOTS), "CRUCIBLE_WORKER_CONCURRENCY": "4"}
    with local_platform(tmp_path / "state", **settings) as platform:
        keys = {name: platform.new_key("researcher", name) for name in ("a", "b")}
        clients = {
            name: httpx.Client(
                base_url=platform.front_door_url,
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            for name, key in keys.items()
        }
        a_ids: list[str] = []
        for _ in range(2):
            batch = clients["a"].post("/api/evaluations/batch", json=[{"code": PROGRAM}] * 1000)
            assert batch.status_code == 202, batch.text
            a_ids += [item["id"] for item in batch.json()["items"]]

        submitted = clients["b"].post("/api/evaluations", json={"code": "print('b')"})
        assert submitted.status_code == 202, submitted.text
        b = platform.wait_terminal(submitted.json()["id"], timeout=120)
        assert b["stdout"] == "b\n"

        # What one of A's evaluations costs a slot, as A's finished ones show.
        finished = sorted(
            _at(e, "finished_at")
            for e in (clients["a"].get(f"/api/evaluations/{i}").json() for i in a_ids[:200])
            if e["status"] == "completed"
        )
        assert len(finished) >= 10, "too few of A's finished to measure them"
        per_slot = (finished[-1] - finished[0]) / (len(finished) - 1) * SLOTS
        waited = _at(b, "started_at") - _at(b, "queued_at")
        # A slot comes free within one of A's runs; then at worst one of A's goes first.
        bound = (SLOTS + 2) * per_slot
        assert waited <= bound, f"B waited {waited:.3f} s; bound {bound:.3f} s"
        queued = clients["a"].get("/api/evaluations/count", params={"status": "queued"}).json()
        assert queued["count"] > 1000, "A's backlog ran out before B came: nothing was tested"
        for client in clients.values():
            client.close()
