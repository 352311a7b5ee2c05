"""Redis clients whose every wait is bounded, the name lookup included.

redis-py bounds the TCP connect by `socket_connect_timeout` but not the
getaddrinfo() before it, and a DNS server that stops answering (Podman's
aardvark-dns does, for seconds, while it reloads around container starts)
held storage's requests for 10 s after a Compose start.
"""

import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Overdue

import redis

# Lookups that overran are left to finish here, off the callers' threads.
_RESOLVER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="redis-resolve")


class _PromptConnection(redis.Connection):
    def _connect(self) -> socket.socket:
        lookup = _RESOLVER.submit(
            socket.getaddrinfo, self.host, self.port, self.socket_type, socket.SOCK_STREAM
        )
        try:
            addresses = lookup.result(timeout=self.socket_connect_timeout)
        except Overdue as exc:
            raise redis.TimeoutError(f"looking up {self.host} took too long") from exc
        # Connected by address, which needs no lookup; the name stays for messages.
        name, self.host = self.host, str(addresses[0][4][0])
        try:
            return super()._connect()  # type: ignore[no-untyped-call,no-any-return]
        finally:
            self.host = name


def bounded_redis(url: str, *, timeout: float = 5, connect_timeout: float = 2) -> "redis.Redis":
    """A client for `url` whose replies wait at most `timeout` seconds and whose
    connections, lookup included, at most `connect_timeout`.

    The defaults suit a caller that retries or reports a fault; one that must
    answer a person sooner passes less. None of the services blocks on a
    command (no BLPOP), so no reply should take long.
    """
    # TLS (rediss://) and Unix sockets keep redis-py's own connections.
    prompt = {"connection_class": _PromptConnection} if url.startswith("redis://") else {}
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=connect_timeout, **prompt
    )
