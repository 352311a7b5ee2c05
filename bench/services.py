"""CPU and memory of the platform's services, sampled from /proc while a load runs.

A service is the process in its pid file (`<state dir>/run/<name>.pid`) and
every process descended from it. CPU time is counted once: for processes
alive to the end, what they used while watched; for those that ended in
between (the process backend's sandboxes), what the kernel added to the
service process's own children's time when it reaped them, reported apart.
Memory is the sum of the tree's resident sets (shared pages count in each
process, as `ps` would count them).
"""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_MIB = 1024 * 1024


@dataclass(frozen=True)
class _Times:
    own: float  # utime + stime, seconds
    reaped: float  # cutime + cstime, seconds


@dataclass
class _Watched:
    first: dict[int, _Times] = field(default_factory=dict)
    last: dict[int, _Times] = field(default_factory=dict)
    rss_samples: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceUsage:
    service: str
    cpu_seconds: float
    reaped_cpu_seconds: float  # children that ended in the window (sandboxes)
    cpu_percent: float  # of one core, over the window
    reaped_cpu_percent: float
    rss_mean_mib: float
    rss_peak_mib: float


class ServiceSampler:
    """Samples every `interval` seconds in a thread, from `start()` to `stop()`."""

    def __init__(self, state_dir: Path, interval: float = 0.5) -> None:
        self._roots = {
            pid_file.stem: int(pid_file.read_text())
            for pid_file in sorted((state_dir / "run").glob("*.pid"))
        }
        self._interval = interval
        self._watched = {service: _Watched() for service in self._roots}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._window = (0.0, 0.0)

    def start(self) -> None:
        self._sample()
        self._window = (time.monotonic(), 0.0)
        self._thread.start()

    def stop(self) -> list[ServiceUsage]:
        self._stopping.set()
        self._thread.join()
        self._sample()
        seconds = time.monotonic() - self._window[0]
        return [self._usage(service, seconds) for service in self._roots]

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        stats = _all_stats()
        children: dict[int, list[int]] = {}
        for pid, (parent, _, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        for service, root in self._roots.items():
            watched = self._watched[service]
            rss = 0
            for pid in _tree(root, children):
                _, times, pages = stats[pid]
                watched.first.setdefault(pid, times)
                watched.last[pid] = times
                rss += pages * _PAGE_BYTES
            watched.rss_samples.append(rss)

    def _usage(self, service: str, seconds: float) -> ServiceUsage:
        watched = self._watched[service]
        root = self._roots[service]
        alive = set(_all_stats())
        own = sum(
            watched.last[pid].own - watched.first[pid].own
            for pid in watched.last
            if pid in alive or pid == root
        )
        reaped = 0.0
        if root in watched.last:
            reaped = watched.last[root].reaped - watched.first[root].reaped
        samples = watched.rss_samples or [0]
        return ServiceUsage(
            service=service,
            cpu_seconds=round(own, 3),
            reaped_cpu_seconds=round(reaped, 3),
            cpu_percent=round(100 * own / seconds, 1),
            reaped_cpu_percent=round(100 * reaped / seconds, 1),
            rss_mean_mib=round(sum(samples) / len(samples) / _MIB, 1),
            rss_peak_mib=round(max(samples) / _MIB, 1),
        )


def _tree(root: int, children: dict[int, list[int]]) -> list[int]:
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier += children.get(pid, [])
    return found


def _all_stats() -> dict[int, tuple[int, _Times, int]]:
    """pid: (parent pid, CPU times, resident pages), of every process readable now."""
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone since the directory was listed
        # The command name may hold spaces and parentheses: fields follow the last ")".
        fields = text.rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        times = _Times(own=(utime + stime) / _TICKS, reaped=(cutime + cstime) / _TICKS)
        stats[int(entry.name)] = (int(fields[1]), times, int(fields[21]))
    return stats
