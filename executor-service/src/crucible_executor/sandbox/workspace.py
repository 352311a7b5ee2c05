"""The host directory that carries a program into its sandbox.

Named after the executor, like its cgroups, so that the next start-up can
remove what a crash left behind.
"""

import glob
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PROGRAM_NAME = "main.py"


@contextmanager
def program_workspace(
    executor_id: str, code: str, extra: Mapping[str, bytes] | None = None
) -> Iterator[Path]:
    """A fresh directory holding the program as `main.py` (and any `extra` files by name),
    readable by any uid, removed after."""
    path = Path(tempfile.mkdtemp(prefix=_prefix(executor_id)))
    try:
        # The sandbox runs as nobody: it must be able to enter and read, never write.
        path.chmod(0o755)
        program = path / PROGRAM_NAME
        # JSON can carry lone surrogates; the program gets them as invalid UTF-8
        # (a SyntaxError of its own) instead of the executor failing to encode them.
        program.write_bytes(code.encode("utf-8", errors="surrogatepass"))
        program.chmod(0o644)
        for name, data in (extra or {}).items():
            (path / name).write_bytes(data)
            (path / name).chmod(0o644)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_workspaces(executor_id: str) -> None:
    """Remove the workspaces a previous life of this executor left behind."""
    for path in Path(tempfile.gettempdir()).glob(f"{glob.escape(_prefix(executor_id))}*"):
        info = path.lstat()
        # The temp directory is world-writable: remove only real directories
        # this process's user made, never a look-alike someone else planted.
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            logger.warning("removing orphaned workspace %s", path)
            shutil.rmtree(path, ignore_errors=True)


def _prefix(executor_id: str) -> str:
    # "+" ends the id: executor "a" must not sweep up the workspaces of executor "a-b".
    return f"crucible-run+{executor_id}+"
