"""A TCP proxy in front of the platform that cuts a batch's results stream
in the middle, as a flaky network or a restarted proxy would."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

_RESULTS_REQUEST = b"GET /api/batches/"


@dataclass
class CuttingProxy:
    """Forwards to `upstream`; the first `cuts` results streams are closed
    after `after_bytes` of their answer have passed."""

    upstream: int
    after_bytes: int
    cuts: int
    listener: socket.socket = field(init=False)
    cuts_made: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def serve(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._relay, args=(downstream, upstream), daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def _relay(self, downstream: socket.socket, upstream: socket.socket) -> None:
        # The budget of bytes before the cut, once this connection carries a results stream.
        budget: list[int | None] = [None]

        def requests() -> None:
            while data := _receive(downstream):
                if _RESULTS_REQUEST in data and b"/results" in data:
                    with self._lock:
                        if self.cuts_made < self.cuts:
                            budget[0] = self.after_bytes
                upstream.sendall(data)
            _shut(upstream)

        threading.Thread(target=requests, daemon=True).start()
        while data := _receive(upstream):
            left = budget[0]
            if left is not None and len(data) >= left:
                with self._lock:
                    self.cuts_made += 1
                downstream.sendall(data[:left])
                break
            if left is not None:
                budget[0] = left - len(data)
            downstream.sendall(data)
        _shut(downstream)
        _shut(upstream)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def cutting_proxy(upstream: int, *, after_bytes: int, cuts: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream, after_bytes, cuts)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()
        thread.join(timeout=5)
