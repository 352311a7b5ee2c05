"""Per-run cgroups that cap a sandbox's memory, processes and CPU, on cgroup v1 or v2.

v1 layout: `<root>/<controller>/crucible/<executor_id>/<run_id>`, one group per
controller. v2 layout: `<root>/crucible/<executor_id>/<run_id>`, one group,
where `<root>` is the unified hierarchy or a subtree delegated to the
executor. Naming the executor in the path lets it sweep away, at start-up,
the groups a crash left behind without touching other executors on the host.
"""

import logging
import os
import re
import signal
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

CgroupVersion = Literal["v1", "v2", "none"]

_EXECUTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_V1_CONTROLLERS = ("memory", "pids", "cpu")
_V2_CONTROLLERS = ("memory", "pids", "cpu")
_CPU_PERIOD_US = 100_000
_RETRY_SECONDS = 0.01


@dataclass(frozen=True)
class RunLimits:
    memory_bytes: int
    max_processes: int
    cpu_cores: float

    @property
    def cpu_quota_us(self) -> int:
        return max(1000, round(self.cpu_cores * _CPU_PERIOD_US))


@dataclass(frozen=True)
class RunCgroups:
    """The groups one run was put in, and which of its limits they enforce."""

    version: CgroupVersion
    groups: tuple[Path, ...]
    limits_memory: bool
    limits_processes: bool
    # v1: the memory group's `memory.oom_control`; v2: the group's `memory.events`.
    oom_counter: Path | None

    def procs_files(self) -> list[Path]:
        return [group / "cgroup.procs" for group in self.groups]

    def oom_kills(self) -> int:
        """How many processes of the run the kernel's OOM killer killed."""
        if self.oom_counter is None:
            return 0
        try:
            lines = self.oom_counter.read_text().splitlines()
        except FileNotFoundError:
            return 0
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def kill_all(self) -> None:
        for group in self.groups:
            _kill_members(group)

    def remove(self, timeout: float) -> None:
        """Kill what is left and remove the groups, waiting up to `timeout` for members to exit."""
        deadline = time.monotonic() + timeout
        for group in self.groups:
            _remove(group, deadline)


NO_CGROUPS = RunCgroups("none", (), limits_memory=False, limits_processes=False, oom_counter=None)


class ExecutorCgroups:
    """The parent groups of one executor, under which each run gets its own."""

    def __init__(self, root: Path, executor_id: str) -> None:
        # The id becomes a path component in cgroupfs; refuse anything that could climb out.
        if not _EXECUTOR_ID.fullmatch(executor_id):
            raise ValueError(f"executor id {executor_id!r} is not usable as a cgroup name")
        self._root = root
        if (root / "cgroup.controllers").is_file():
            self.version: CgroupVersion = "v2"
            self._parents = [root / "crucible" / executor_id]
        elif any((root / c).is_dir() for c in _V1_CONTROLLERS):
            self.version = "v1"
            self._parents = [root / c / "crucible" / executor_id for c in _V1_CONTROLLERS]
        else:
            self.version = "none"
            self._parents = []
        self._v2_controllers: frozenset[str] | None = None

    def create_run(self, run_id: str, limits: RunLimits) -> RunCgroups:
        if self.version == "v2":
            return self._create_v2(run_id, limits)
        if self.version == "v1":
            return self._create_v1(run_id, limits)
        return NO_CGROUPS

    def sweep(self, timeout: float) -> None:
        """Kill and remove every run group a previous life of this executor left behind."""
        deadline = time.monotonic() + timeout
        for parent in self._parents:
            if parent.is_dir():
                for group in parent.iterdir():
                    if group.is_dir():
                        logger.warning("removing orphaned cgroup %s", group)
                        _remove(group, deadline)

    def remove_parents(self) -> None:
        for parent in self._parents:
            try:
                parent.rmdir()
            except OSError as exc:
                # Still busy or never made: the next start-up sweep deals with it.
                logger.debug("kept cgroup %s: %s", parent, exc)

    def _create_v1(self, run_id: str, limits: RunLimits) -> RunCgroups:
        memory = self._make(self._root / "memory" / "crucible", run_id)
        if memory is not None:
            # memsw (memory + swap) exists only with swap accounting; it may not be
            # set below limit_in_bytes, hence the order. TCP buffers are charged
            # to no group on v1 unless the group has a TCP limit of its own.
            settings: dict[str, int | str] = {"memory.limit_in_bytes": limits.memory_bytes}
            for optional in ("memory.memsw.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes"):
                if (memory / optional).exists():
                    settings[optional] = limits.memory_bytes
            memory = self._configure(memory, settings)
        pids = self._make(self._root / "pids" / "crucible", run_id)
        if pids is not None:
            pids = self._configure(pids, {"pids.max": limits.max_processes})
        cpu = self._make(self._root / "cpu" / "crucible", run_id)
        if cpu is not None:
            cpu = self._configure(
                cpu, {"cpu.cfs_period_us": _CPU_PERIOD_US, "cpu.cfs_quota_us": limits.cpu_quota_us}
            )
        groups = tuple(group for group in (memory, pids, cpu) if group is not None)
        return RunCgroups(
            "v1",
            groups,
            limits_memory=memory is not None,
            limits_processes=pids is not None,
            oom_counter=memory / "memory.oom_control" if memory is not None else None,
        )

    def _create_v2(self, run_id: str, limits: RunLimits) -> RunCgroups:
        available = self._delegate_v2()
        group = self._make(self._root / "crucible", run_id)
        if group is None:
            return NO_CGROUPS
        settings: dict[str, int | str] = {}
        if "memory" in available:
            settings["memory.max"] = limits.memory_bytes
            if (group / "memory.swap.max").exists():
                settings["memory.swap.max"] = 0
        if "pids" in available:
            settings["pids.max"] = limits.max_processes
        if "cpu" in available:
            settings["cpu.max"] = f"{limits.cpu_quota_us} {_CPU_PERIOD_US}"
        configured = self._configure(group, settings)
        if configured is None:
            return NO_CGROUPS
        return RunCgroups(
            "v2",
            (configured,),
            limits_memory="memory" in available,
            limits_processes="pids" in available,
            oom_counter=configured / "memory.events" if "memory" in available else None,
        )

    def _delegate_v2(self) -> frozenset[str]:
        """Enable the controllers the runs need down to this executor's parent, once.

        A controller missing from the root's `cgroup.controllers` (bound to a v1
        hierarchy, or not delegated) is left to the rlimit fallback.
        """
        if self._v2_controllers is not None:
            return self._v2_controllers
        offered = set((self._root / "cgroup.controllers").read_text().split())
        wanted = [c for c in _V2_CONTROLLERS if c in offered]
        missing = sorted(set(_V2_CONTROLLERS) - offered)
        if missing:
            logger.warning("cgroup v2 at %s offers no %s; rlimits stand in", self._root, missing)
        parent = self._parents[0]
        enabled: frozenset[str] = frozenset(wanted)
        try:
            parent.mkdir(parents=True, exist_ok=True)
            for level in (self._root, parent.parent, parent):
                if wanted:
                    line = " ".join(f"+{c}" for c in wanted)
                    (level / "cgroup.subtree_control").write_text(line)
        except OSError as exc:
            # The usual cause: the root holds processes (no delegated subtree).
            logger.warning("cannot delegate %s under %s; rlimits only: %s", wanted, parent, exc)
            enabled = frozenset()
        self._v2_controllers = enabled
        return enabled

    def _make(self, base: Path, run_id: str) -> Path | None:
        if not base.parent.is_dir():
            return None
        group = base / self._parents[0].name / run_id
        try:
            group.mkdir(parents=True)
        except OSError as exc:
            logger.warning("no cgroup %s for this run; rlimits stand in: %s", group, exc)
            return None
        return group

    def _configure(self, group: Path, settings: dict[str, int | str]) -> Path | None:
        try:
            for name, value in settings.items():
                (group / name).write_text(str(value))
        except OSError as exc:
            logger.warning("cannot set limits on %s; rlimits only: %s", group, exc)
            _remove(group, time.monotonic())
            return None
        return group


def _kill_members(group: Path) -> None:
    kill = group / "cgroup.kill"
    if kill.exists():
        # v2 (Linux 5.14+): the kernel kills every member, and whatever they fork meanwhile.
        with suppress(FileNotFoundError):
            kill.write_text("1")
            return
    try:
        pids = (group / "cgroup.procs").read_text().split()
    except FileNotFoundError:
        return
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def _remove(group: Path, deadline: float) -> None:
    # rmdir fails with EBUSY until every member has exited, which a SIGKILL
    # makes happen soon but not at once.
    while True:
        _kill_members(group)
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                logger.error("cannot remove cgroup %s (%s); the start-up sweep will", group, exc)
                return
            time.sleep(_RETRY_SECONDS)
