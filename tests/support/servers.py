"""Private Redis and PostgreSQL servers on free ports, started and stopped by the tests.

Debian's `redis-server` and `postgresql` packages provide the binaries;
`./run-tests.sh` installs them. A server left running on a standard port is
never used: CI and new machines may not have one.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port, wait_for_port

_POSTGRES_BIN = Path("/usr/lib/postgresql")
_POSTGRES_USER = "postgres"


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextmanager
def redis_server(port: int | None = None) -> Iterator[RedisServer]:
    port = port or free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    server = RedisServer(port, process)
    try:
        wait_for_port(port)
        yield server
    finally:
        server.stop()


def _postgres_bin(tool: str) -> str:
    versions = (
        sorted(_POSTGRES_BIN.iterdir(), key=lambda p: int(p.name)) if _POSTGRES_BIN.exists() else []
    )
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (Debian package `postgresql`)")
    return str(versions[-1] / "bin" / tool)


def _as_postgres_user(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root, which is who runs the tests here.
    return ["runuser", "-u", _POSTGRES_USER, "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PostgresServer:
    port: int
    data_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{_database_user()}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        subprocess.run(
            _as_postgres_user(
                [_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), name]
            ),
            check=True,
        )
        return self.url(name)


def _database_user() -> str:
    return _POSTGRES_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    port = free_port()
    # Not under pytest's tmp_path: that is private to root, and the server
    # runs as `postgres`.
    base_dir = Path(tempfile.mkdtemp(prefix="crucible-postgres-"))
    data_dir = base_dir / "pgdata"
    data_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base_dir, _POSTGRES_USER)
        shutil.chown(data_dir, _POSTGRES_USER)
    subprocess.run(
        _as_postgres_user(
            [
                _postgres_bin("initdb"),
                "-D",
                str(data_dir),
                "--auth=trust",
                "--no-sync",
                "-U",
                _database_user(),
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    pg_ctl = _postgres_bin("pg_ctl")
    options = f"-p {port} -k {base_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            [
                pg_ctl,
                "-D",
                str(data_dir),
                "-o",
                options,
                "-w",
                "-l",
                str(base_dir / "postgres.log"),
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield PostgresServer(port, data_dir)
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data_dir), "-m", "immediate", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(base_dir, ignore_errors=True)
