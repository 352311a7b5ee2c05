"""Attacks on what only the docker backend does: its seccomp filter and its word on memory.

Run through a real executor, whose containers after its first few are warm
ones, made before their program was known.
"""

import json
import os

import pytest

from crucible_executor.sandbox import container_seccomp as seccomp
from crucible_shared.lifecycle import Outcome
from tests.hostile.conftest import Target

pytestmark = pytest.mark.hostile


@pytest.fixture
def docker(executor: Target) -> Target:
    if executor.backend != "docker":
        pytest.skip("the docker backend's own defences")
    return executor


NAMESPACES = """
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
made = refused = 0
for _ in range(200):
    pid = os.fork()
    if pid == 0:
        os._exit(0 if libc.unshare(0x10000000) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        made += 1
    else:
        refused += 1
print(json.dumps({'made': made, 'refused': refused}))
"""


def test_user_namespaces_by_the_hundred(docker: Target) -> None:
    # Each one would spend the host's per-uid namespace budget, shared with
    # every other sandbox of that uid.
    result = docker.run(NAMESPACES, timeout_seconds=60).result

    assert result.outcome == Outcome.SUCCESS, result.stderr
    assert json.loads(result.stdout) == {"made": 0, "refused": 200}
    docker.assert_unharmed()


SCRATCH_OF_ITS_OWN = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x20000) != 0:
    print('unshare', errno.errorcode[ctypes.get_errno()])
elif libc.mount(b'none', b'/tmp', b'tmpfs', 0, b'size=512m') != 0:
    print('mount', errno.errorcode[ctypes.get_errno()])
else:
    with open('/tmp/big', 'wb') as f:
        for _ in range(100):
            f.write(b'x' * 2**20)
    print('wrote 100 MiB')
"""


def test_a_tmpfs_of_its_own_past_the_scratch(docker: Target) -> None:
    result = docker.run(SCRATCH_OF_ITS_OWN, timeout_seconds=30).result

    assert result.stdout == "unshare EPERM\n", result.stderr
    docker.assert_unharmed()


LOOPBACK_TCP = """
import errno, socket
try:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError as exc:
    print('refused', errno.errorcode[exc.errno])
else:
    server.bind(('127.0.0.1', 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    client.setblocking(False)
    sent = 0
    try:
        while sent < 512 * 2**20:
            sent += client.send(b'x' * 2**16)
    except BlockingIOError:
        pass
    print('held', sent // 2**20, 'MiB in socket buffers')
"""


def test_loopback_tcp_buffers_outside_the_memory_limit(docker: Target) -> None:
    result = docker.run(LOOPBACK_TCP, memory_mb=64, timeout_seconds=30).result

    assert result.stdout == "refused EAFNOSUPPORT\n", result.stderr
    docker.assert_unharmed()


def test_forging_out_of_memory_with_its_exit_code(docker: Target) -> None:
    # 122 was the bootstrap's own word for an OOM kill: a program's exit is
    # only its exit.
    result = docker.run("import os\nos._exit(122)\n").result

    assert (result.outcome, result.exit_code) == (Outcome.ERROR, 122)
    docker.assert_unharmed()


KEYRING = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
KEYCTL_JOIN_SESSION_KEYRING, KEY_SPEC_SESSION_KEYRING = 1, -3
def outcome(value):
    return 'refused' if value < 0 and ctypes.get_errno() == errno.EPERM else value
print([
    outcome(libc.syscall(NR_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, 0)),
    outcome(libc.syscall(NR_ADD_KEY, b'user', b'planted', b'secret', 6, KEY_SPEC_SESSION_KEYRING)),
])
"""


def test_reaching_the_kernel_keyring(docker: Target) -> None:
    numbers = seccomp.SYSCALL_NUMBERS[os.uname().machine]
    code = KEYRING.replace("NR_ADD_KEY", str(numbers["add_key"])).replace(
        "NR_KEYCTL", str(numbers["keyctl"])
    )
    result = docker.run(code).result

    assert result.stdout == "['refused', 'refused']\n", result.stderr
    docker.assert_unharmed()
