import random
import socket
import time
from pathlib import Path

# Ports are picked below the kernel's ephemeral range. A port the kernel hands
# out for bind(0) is free only until someone binds it, and the same range
# supplies the source port of every outgoing connection: with a platform's
# worth of services connecting to each other, a port picked there can be taken
# by a client before the server it was picked for binds it ("address in use").
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000
# Ports this process has handed out: picked but perhaps not yet bound.
_handed_out: set[int] = set()


def free_port() -> int:
    first_ephemeral = int(_EPHEMERAL_RANGE.read_text().split()[0])
    highest = first_ephemeral - 1 if first_ephemeral > _LOWEST + 1000 else 65535
    for _ in range(1000):
        port = random.randint(_LOWEST, highest)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {_LOWEST} and {highest}")


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")
