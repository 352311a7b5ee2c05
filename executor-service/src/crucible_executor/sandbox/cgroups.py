"""Per-run cgroup v1 groups that cap a sandbox's memory and process count.

Layout: `<root>/<controller>/crucible/<executor_id>/<run_id>`. Naming the executor
in the path lets it sweep away, at start-up, the groups a crash left behind
without touching other executors on the same host.
"""

import logging
import os
import re
import signal
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_EXECUTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CONTROLLERS = ("memory", "pids")
_RETRY_SECONDS = 0.01


@dataclass(frozen=True)
class RunCgroups:
    """The groups one run was put in; `None` where that controller was unavailable."""

    memory: Path | None
    pids: Path | None

    @property
    def groups(self) -> list[Path]:
        return [group for group in (self.memory, self.pids) if group is not None]

    def procs_files(self) -> list[Path]:
        return [group / "cgroup.procs" for group in self.groups]

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed anything in the memory group."""
        if self.memory is None:
            return False
        for line in (self.memory / "memory.oom_control").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value) > 0
        return False

    def kill_all(self) -> None:
        for group in self.groups:
            _kill_members(group)

    def remove(self, timeout: float) -> None:
        """Kill what is left and remove the groups, waiting up to `timeout` for members to exit."""
        deadline = time.monotonic() + timeout
        for group in self.groups:
            _remove(group, deadline)


class ExecutorCgroups:
    """The parent groups of one executor, under which each run gets its own."""

    def __init__(self, root: Path, executor_id: str) -> None:
        # The id becomes a path component in cgroupfs; refuse anything that could climb out.
        if not _EXECUTOR_ID.fullmatch(executor_id):
            raise ValueError(f"executor id {executor_id!r} is not usable as a cgroup name")
        self._root = root
        self._parents = {c: root / c / "crucible" / executor_id for c in _CONTROLLERS}

    def create_run(self, run_id: str, *, memory_bytes: int, max_processes: int) -> RunCgroups:
        memory = self._create("memory", run_id)
        if memory is not None:
            # memsw (memory + swap) exists only with swap accounting; it may not be
            # set below limit_in_bytes, hence the order.
            limits = {"memory.limit_in_bytes": memory_bytes}
            if (memory / "memory.memsw.limit_in_bytes").exists():
                limits["memory.memsw.limit_in_bytes"] = memory_bytes
            memory = self._configure(memory, limits)
        pids = self._create("pids", run_id)
        if pids is not None:
            pids = self._configure(pids, {"pids.max": max_processes})
        return RunCgroups(memory=memory, pids=pids)

    def sweep(self, timeout: float) -> None:
        """Kill and remove every run group a previous life of this executor left behind."""
        deadline = time.monotonic() + timeout
        for parent in self._parents.values():
            if parent.is_dir():
                for group in parent.iterdir():
                    if group.is_dir():
                        logger.warning("removing orphaned cgroup %s", group)
                        _remove(group, deadline)

    def remove_parents(self) -> None:
        for parent in self._parents.values():
            try:
                parent.rmdir()
            except OSError as exc:
                # Still busy or never made: the next start-up sweep deals with it.
                logger.debug("kept cgroup %s: %s", parent, exc)

    def _create(self, controller: str, run_id: str) -> Path | None:
        if not (self._root / controller).is_dir():
            return None
        group = self._parents[controller] / run_id
        try:
            group.mkdir(parents=True)
        except OSError as exc:
            logger.warning("no %s cgroup for this run; rlimits only: %s", controller, exc)
            return None
        return group

    def _configure(self, group: Path, limits: dict[str, int]) -> Path | None:
        try:
            for name, value in limits.items():
                (group / name).write_text(str(value))
        except OSError as exc:
            logger.warning("cannot set limits on %s; rlimits only: %s", group, exc)
            _remove(group, time.monotonic())
            return None
        return group


def _kill_members(group: Path) -> None:
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
