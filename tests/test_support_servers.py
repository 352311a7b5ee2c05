import socket

from tests.support.servers import PostgresServer, RedisServer


def test_redis_answers_ping(redis: RedisServer) -> None:
    with socket.create_connection(("127.0.0.1", redis.port)) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(16) == b"+PONG\r\n"


def test_postgres_creates_databases(postgres: PostgresServer) -> None:
    url = postgres.create_database("support_check")
    assert url.endswith("/support_check")
