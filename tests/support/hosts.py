"""Several "hosts" on this machine: network namespaces joined by a bridge.

    switch namespace:  br0 ── s<tag>1 ── s<tag>2 ── s<tag>3
                                 │          │          │   (veth pairs: a host's cable)
    host namespaces:           eth0       eth0       eth0
                            198.18.0.1  198.18.0.2  198.18.0.3

Addresses come from 198.18.0.0/15 (RFC 2544, for tests) and exist only inside
the namespaces: nothing is routed off this machine, nothing is added to the
machine's own namespace. A process is started on a host with `Host.popen`
(`ip netns exec`); `Host.link_down` pulls its cable, as a lost host would be
lost, with every process on it still running. Unix sockets are files and so
cross namespaces: the test reaches a host's service through one.
"""

import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

SUBNET_PREFIX = "198.18.0"
PREFIX_LENGTH = 24


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Host:
    netns: str
    address: str
    _switch: str
    _switch_port: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def popen(self, argv: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Starts `argv` on this host; it is stopped with the hosts."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def link_down(self) -> None:
        """The host is cut off: its cable out, both ends down."""
        _ip("-n", self.netns, "link", "set", "eth0", "down")
        _ip("-n", self._switch, "link", "set", self._switch_port, "down")

    def link_up(self) -> None:
        _ip("-n", self._switch, "link", "set", self._switch_port, "up")
        _ip("-n", self.netns, "link", "set", "eth0", "up")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """`count` hosts on one bridge, at 198.18.0.1 upwards; all gone afterwards."""
    tag = uuid.uuid4().hex[:6]
    switch = f"crucible-{tag}-switch"
    made: list[str] = []
    machines: list[Host] = []
    try:
        _ip("netns", "add", switch)
        made.append(switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for number in range(1, count + 1):
            netns = f"crucible-{tag}-host{number}"
            _ip("netns", "add", netns)
            made.append(netns)
            host_end, switch_end = f"h{tag}{number}", f"s{tag}{number}"
            # Made in this namespace, then each end moved at once to its own:
            # the machine's namespace keeps nothing.
            _ip("link", "add", host_end, "type", "veth", "peer", "name", switch_end)
            _ip("link", "set", switch_end, "netns", switch)
            _ip("link", "set", host_end, "netns", netns)
            _ip("-n", switch, "link", "set", switch_end, "master", "br0")
            _ip("-n", switch, "link", "set", switch_end, "up")
            _ip("-n", netns, "link", "set", host_end, "name", "eth0")
            address = f"{SUBNET_PREFIX}.{number}"
            _ip("-n", netns, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", "eth0")
            _ip("-n", netns, "link", "set", "eth0", "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            machines.append(Host(netns, address, switch, switch_end))
        yield machines
    finally:
        for machine in machines:
            machine.stop()
        for netns in reversed(made):
            # Deleting a namespace deletes its ends of the veth pairs, and so the pairs.
            with suppress(subprocess.CalledProcessError):
                _ip("netns", "delete", netns)
