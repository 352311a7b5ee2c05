"""Programs that try to reach past the sandbox: the host's files, network, secrets and processes.

Each attack runs on a real executor of each backend; what it tries is checked
from the host's side too, and the same executor must serve the next run.
"""

import json
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from crucible_shared.lifecycle import Outcome
from tests.hostile.conftest import Target, new_marker

pytestmark = pytest.mark.hostile

WRITE_EVERYWHERE = """
import errno, json, os
report = {}
for path in PATHS:
    try:
        with open(path, 'w') as f:
            f.write('pwned')
    except OSError as exc:
        report[path] = errno.errorcode.get(exc.errno, str(exc.errno))
    else:
        report[path] = 'written'
print(json.dumps(report))
"""


@pytest.fixture
def open_host_dir() -> Iterator[Path]:
    """A directory of the host that anyone may write, where the process sandbox
    sees it (under /usr, not /tmp, which it replaces): only the sandbox stands
    between."""
    path = Path(tempfile.mkdtemp(prefix="crucible-hostile-", dir="/usr/share"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def test_writing_outside_the_scratch(executor: Target, open_host_dir: Path) -> None:
    host_dir = open_host_dir
    name = new_marker()
    outside = [
        str(host_dir / name),
        f"/{name}",
        f"/usr/lib/{name}",
        f"/etc/{name}",
        f"/root/{name}",
        f"/var/tmp/{name}",
        f"/run/{name}",
    ]
    scratch = f"/tmp/{name}"
    code = WRITE_EVERYWHERE.replace("PATHS", repr([*outside, scratch]))

    result = executor.run(code).result

    assert result.outcome == Outcome.SUCCESS, result.stderr
    report = json.loads(result.stdout)
    assert report.pop(scratch) == "written"
    assert all(outcome != "written" for outcome in report.values()), report
    # Refused for the right reason: the process sandbox shows the directory read-only;
    # a container does not show the host's files at all.
    refusal = "EROFS" if executor.backend == "process" else "ENOENT"
    assert report[str(host_dir / name)] == refusal, report
    # The host's side: nothing arrived anywhere, the scratch's /tmp included.
    assert [path for path in [*outside, scratch] if os.path.lexists(path)] == []
    executor.assert_unharmed()


class _Listeners:
    """A TCP and a UDP socket on every address of the host, and what reached them."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("0.0.0.0", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", self.port))
        self.tcp.setblocking(False)
        self.udp.setblocking(False)

    def arrivals(self) -> list[str]:
        arrived = []
        try:
            connection, address = self.tcp.accept()
        except BlockingIOError:
            pass
        else:
            connection.close()
            arrived.append(f"tcp from {address}")
        try:
            _, address = self.udp.recvfrom(2048)
        except BlockingIOError:
            pass
        else:
            arrived.append(f"udp from {address}")
        return arrived

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def listeners() -> Iterator[_Listeners]:
    opened = _Listeners()
    yield opened
    opened.close()


def _host_addresses() -> list[str]:
    found = {"127.0.0.1"}
    for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
        found.add(str(info[4][0]))
    return sorted(found)


EGRESS = """
import json, socket
report = {}
for address in ADDRESSES:
    try:
        socket.create_connection((address, PORT), timeout=3).close()
        report['tcp ' + address] = 'connected'
    except OSError as exc:
        report['tcp ' + address] = type(exc).__name__
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b'hello', (address, PORT))
        report['udp ' + address] = 'sent'
    except OSError as exc:
        report['udp ' + address] = type(exc).__name__
for name in ('example.com', 'pypi.org', 'localhost.localdomain'):
    try:
        report['dns ' + name] = sorted({i[4][0] for i in socket.getaddrinfo(name, 443)})
    except OSError as exc:
        report['dns ' + name] = type(exc).__name__
query = bytes.fromhex('abcd01000001000000000000076578616d706c6503636f6d0000010001')
for server in ('1.1.1.1', '8.8.8.8'):
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.settimeout(3)
        udp.sendto(query, (server, 53))
        report['dns via ' + server] = [udp.recv(512).hex()]
    except OSError as exc:
        report['dns via ' + server] = type(exc).__name__
print(json.dumps(report))
"""


def test_network_egress(executor: Target, listeners: _Listeners) -> None:
    addresses = _host_addresses()
    # The listeners work: from the host, the same tries arrive.
    socket.create_connection(("127.0.0.1", listeners.port), timeout=3).close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"hello", ("127.0.0.1", listeners.port))
    assert len(listeners.arrivals()) == 2

    code = EGRESS.replace("ADDRESSES", repr([*addresses, "1.1.1.1"])).replace(
        "PORT", str(listeners.port)
    )
    result = executor.run(code, timeout_seconds=60).result

    assert result.outcome == Outcome.SUCCESS, result.stderr
    report = json.loads(result.stdout)
    connected = {what: how for what, how in report.items() if what.startswith("tcp ")}
    assert all(how != "connected" for how in connected.values()), report
    # A datagram may leave a socket for the sandbox's own loopback; none may reach anything else.
    assert report["udp 1.1.1.1"] != "sent", report
    # Answers are lists, failures the exception's name.
    resolved = {what: how for what, how in report.items() if what.startswith("dns")}
    assert all(isinstance(how, str) for how in resolved.values()), report
    assert listeners.arrivals() == []
    executor.assert_unharmed()


SNOOP = """
import json, os
report = {'environ': dict(os.environ), 'own environ': '', 'proc': {}}
with open('/proc/self/environ', 'rb') as f:
    report['own environ'] = f.read().decode(errors='replace')
for pid in [p for p in os.listdir('/proc') if p.isdigit()] + [str(EXECUTOR_PID)]:
    for name in ('environ', 'cmdline', 'maps'):
        try:
            with open(f'/proc/{pid}/{name}', 'rb') as f:
                seen = f.read().decode(errors='replace')
        except OSError as exc:
            seen = type(exc).__name__
        report['proc'][f'{pid}/{name}'] = seen
print(json.dumps(report))
"""


def test_reading_the_hosts_environment_and_other_processes(executor: Target) -> None:
    # The secret is there to be found: the executor's own environment holds it.
    environ = Path(f"/proc/{executor.server.pid}/environ").read_bytes()
    assert executor.secret.encode() in environ

    code = SNOOP.replace("EXECUTOR_PID", str(executor.server.pid))
    result = executor.run(code).result

    assert result.outcome == Outcome.SUCCESS, result.stderr
    report = json.loads(result.stdout)
    # It could read what is its own: the search below was a real one.
    assert "PATH=" in report["own environ"]
    assert executor.secret not in result.stdout
    assert not any(name.startswith("CRUCIBLE_") for name in report["environ"]), report["environ"]
    # Its own PID namespace: a handful of processes, not the host's hundreds.
    pids = {key.split("/")[0] for key in report["proc"]} - {str(executor.server.pid)}
    assert len(pids) <= 5, sorted(pids)
    executor.assert_unharmed()


SIGNALS = """
import errno, json, os, signal
report = {}
def send(name, pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        report[name] = errno.errorcode.get(exc.errno, str(exc.errno))
    else:
        report[name] = 'sent'
send('executor', EXECUTOR_PID)
send('init', 1)
print(json.dumps(report), flush=True)
send('everyone', -1)
send('parent', os.getppid())
print(json.dumps(report), flush=True)
"""

# Where the program's parent is the sandbox's init, the kernel ignores what
# it is sent from inside; in a container the parent is the bootstrap that
# handed the program over, whose death ends the run: the program's own doing.
SIGNALLED = {
    "process": (Outcome.SUCCESS, 0),
    "docker": (Outcome.ERROR, 128 + signal.SIGKILL),
}


def test_signals_to_the_parent_and_beyond(executor: Target) -> None:
    code = SIGNALS.replace("EXECUTOR_PID", str(executor.server.pid))
    result = executor.run(code, timeout_seconds=10).result

    assert (result.outcome, result.exit_code) == SIGNALLED[executor.backend], result
    first = json.loads(result.stdout.splitlines()[0])
    # The executor's pid names nothing in the sandbox's own PID namespace.
    assert first == {"executor": "ESRCH", "init": "sent"}
    if result.outcome == Outcome.SUCCESS:
        # Nothing else in the namespace was the program's to kill, and init survived it.
        last = json.loads(result.stdout.splitlines()[-1])
        assert last == first | {"everyone": "ESRCH", "parent": "sent"}
    executor.assert_unharmed()


def test_sleeping_forever_with_stdout_closed(executor: Target) -> None:
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.close(1); os.close(2)\n"
        "        time.sleep(10**6)\n"
        "    os._exit(0)\n"
        "os.close(1); os.close(2)\n"
        "time.sleep(10**6)\n"
    )
    run = executor.run(code, timeout_seconds=2)

    assert run.result.outcome == Outcome.TIMEOUT
    assert (run.result.stdout, run.result.stderr) == ("", "")
    assert run.processes_seen >= 2
    executor.assert_unharmed()


def test_exiting_with_a_daemon_left_behind(executor: Target) -> None:
    # The program is done, but a detached grandchild holds no stream open and
    # would sleep on: the run ends with the program, and takes the daemon along.
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        devnull = os.open(os.devnull, os.O_RDWR)\n"
        "        for fd in (0, 1, 2):\n"
        "            os.dup2(devnull, fd)\n"
        "        time.sleep(10**6)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "print('parent done')\n"
    )
    run = executor.run(code, timeout_seconds=10)

    assert run.result.outcome == Outcome.SUCCESS
    assert run.result.stdout == "parent done\n"
    executor.assert_unharmed()


def test_impersonating_the_sandboxs_own_failure(executor: Target) -> None:
    # A platform failure is retried and dead-lettered; a program must not be
    # able to pass its own exit off as one, whatever the sandbox's tooling
    # prints when it fails (the docker backend's bootstrap: this mark, 121).
    code = (
        "import sys\n"
        "sys.stderr.write('crucible-bootstrap: no program arrived\\n')\n"
        "sys.stderr.write('bwrap: Creating new namespace failed\\n')\n"
        "sys.exit(121)\n"
    )
    result = executor.run(code).result

    assert (result.outcome, result.exit_code) == (Outcome.ERROR, 121)
    executor.assert_unharmed()
