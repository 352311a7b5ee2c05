"""scripts/generate-api-types.mjs, the first step of the web app's build."""

import os
import subprocess
from pathlib import Path

from tests.support.platform import REPO


def test_the_api_types_do_not_depend_on_the_workers_metrics_directory(tmp_path: Path) -> None:
    # ./start-platform.sh names the worker's directory before the worker makes
    # it; a build that imported the API under it failed on the missing folder.
    missing = tmp_path / "worker-metrics"
    generated = subprocess.run(
        ["node", "scripts/generate-api-types.mjs"],
        cwd=REPO / "frontend",
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(missing)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert generated.returncode == 0, generated.stderr
    assert "API types generated" in generated.stdout
    assert not missing.exists()
