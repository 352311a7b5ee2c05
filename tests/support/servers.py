"""Private Redis and PostgreSQL servers on free ports, started and stopped by the tests.

Debian's `redis-server` and `postgresql` packages provide the binaries;
`./run-tests.sh` installs them. A server left running on a standard port is
never used: CI and new machines may not have one.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
def redis_server(port: int | None = None, durable_in: Path | None = None) -> Iterator[RedisServer]:
    """`durable_in`: keep the data there, every write synced, as start-platform.sh's
    Redis does; a server started again on it finds what the last one had."""
    port = port or free_port()
    persistence = ["--appendonly", "no"]
    if durable_in is not None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(durable_in)]
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *persistence,
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

    def start(self) -> None:
        base_dir = self.data_dir.parent
        options = f"-p {self.port} -k {base_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(base_dir / "postgres.log")
        _pg_ctl(self.data_dir, "-o", options, "-w", "-l", log, "start")

    def stop(self) -> None:
        """As a crash would: connections cut, no shutdown checkpoint."""
        _pg_ctl(self.data_dir, "-m", "immediate", "stop")

    def create_database(self, name: str) -> str:
        subprocess.run(
            _as_postgres_user(
                [_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), name]
            ),
            check=True,
        )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        subprocess.run(
            _as_postgres_user(
                [_postgres_bin("dropdb"), "-h", "127.0.0.1", "-p", str(self.port), name]
            ),
            check=True,
        )


def _pg_ctl(data_dir: Path, *args: str) -> None:
    subprocess.run(
        _as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(data_dir), *args]),
        check=True,
        stdout=subprocess.DEVNULL,
    )


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
    server = PostgresServer(port, data_dir)
    server.start()
    try:
        yield server
    finally:
        with suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


@dataclass
class S3Server:
    """moto's S3 API server: the real boto3 talks HTTP to it on loopback."""

    endpoint_url: str
    process: subprocess.Popen[bytes]

    def environment(self) -> dict[str, str]:
        # moto accepts any credentials; boto3 needs some to sign requests.
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextmanager
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield S3Server(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        process.wait(timeout=10)
