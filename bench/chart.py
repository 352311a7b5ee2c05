"""The benchmark's PNG: latencies and throughputs side by side."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: a file only

import matplotlib.pyplot as plt  # noqa: E402


def draw(report: dict[str, Any], path: Path) -> None:
    latency_rows: list[tuple[str, dict[str, float]]] = []
    throughput_rows: list[tuple[str, float]] = []
    for backend, measured in report["backends"].items():
        latency_rows.append((f"{backend}: floor", measured["floor"]["latency"]))
        for concurrency, level in measured["end_to_end"].items():
            if level["latency"]:
                latency_rows.append((f"{backend}: e2e, {concurrency} at once", level["latency"]))
        throughput_rows.append((f"{backend}: floor", measured["floor"]["throughput_per_second"]))
        throughput_rows.append((f"{backend}: Crucible", measured["throughput"]["per_second"]))
    if "error" not in report["epicbox"]:
        latency_rows.append(("epicbox", report["epicbox"]["latency"]))
        throughput_rows.append(("epicbox", report["epicbox"]["throughput_per_second"]))

    figure, (latency_axes, throughput_axes) = plt.subplots(
        1, 2, figsize=(13, 0.45 * len(latency_rows) + 2), gridspec_kw={"width_ratios": [3, 2]}
    )
    names = [name for name, _ in latency_rows]
    positions = range(len(latency_rows))
    latency_axes.barh(positions, [row["p50_ms"] for _, row in latency_rows], label="p50")
    for key, marker in (("p95_ms", "|"), ("p99_ms", "x")):
        values = [row[key] for _, row in latency_rows]
        latency_axes.scatter(values, positions, marker=marker, color="black", label=key[:3])
    latency_axes.set_yticks(list(positions), names)
    latency_axes.invert_yaxis()
    latency_axes.set_xscale("log")
    latency_axes.set_xlabel("hello world, submission to result (ms, log scale)")
    latency_axes.legend(loc="lower right")

    throughput_axes.barh(
        range(len(throughput_rows)), [value for _, value in throughput_rows], color="tab:green"
    )
    throughput_axes.set_yticks(
        list(range(len(throughput_rows))), [name for name, _ in throughput_rows]
    )
    throughput_axes.invert_yaxis()
    throughput_axes.set_xlabel(f"evaluations per second, {report['capacity']} at once")

    load = report["load_average_before"][0], report["load_average_after"][0]
    figure.suptitle(
        f"Crucible benchmark ({report['mode']}), {report['machine']['cores']} cores, "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
