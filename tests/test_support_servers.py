import socket
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.servers import PostgresServer, RedisServer


def test_redis_answers_ping(redis: RedisServer) -> None:
    with socket.create_connection(("127.0.0.1", redis.port)) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(16) == b"+PONG\r\n"


def test_postgres_creates_databases(postgres: PostgresServer) -> None:
    url = postgres.create_database("support_check")
    assert url.endswith("/support_check")


def test_free_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    first_ephemeral, last_ephemeral = map(
        int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
    if first_ephemeral <= 21000:
        pytest.skip(f"the ephemeral range starts at {first_ephemeral}: nothing lies below it")
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert not [port for port in ports if first_ephemeral <= port <= last_ephemeral]
