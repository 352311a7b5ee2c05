"""A seccomp filter that refuses what no evaluation needs, stacked on whatever the sandbox has.

Self-contained (the standard library only), because the docker backend's
bootstrap runs this very source inside the container, where nothing of
Crucible's is installed, and installs the filter before the program starts.
The kernel stacks filters: an engine's default profile still applies, and
this one can only refuse more.

Refused, with EPERM unless said otherwise:
- new namespaces: `unshare` and `clone` with any CLONE_NEW* flag, `setns`;
  `clone3` answers ENOSYS (its flags sit in memory a filter cannot read), so
  the C library falls back to `clone`, which is checked;
- `ptrace`, `process_vm_readv`, `process_vm_writev`: no reaching into another
  process of the sandbox;
- the kernel keyring: `keyctl`, `add_key`, `request_key`;
- mounts, old API and new: `mount`, `umount2`, `pivot_root`, `open_tree`,
  `move_mount`, `fsopen`, `fsconfig`, `fsmount`, `mount_setattr`;
- `io_uring_setup`, `io_uring_enter`, `io_uring_register`, `userfaultfd`,
  `bpf`, `perf_event_open`, `kexec_load`, `kexec_file_load`;
- IPv4 and IPv6 sockets (EAFNOSUPPORT): a sandbox has no network, and
  loopback TCP buffers are memory that cgroup v1 charges to no limit;
- any other architecture's system calls (on x86-64: i386's and x32's), which
  have other numbers.
"""

import ctypes
import errno
import os
import struct

_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
# unshare(2) also takes CLONE_NEWTIME, whose bit is part of clone(2)'s exit signal.
_UNSHARE_FLAGS = _NAMESPACE_FLAGS | 0x00000080
_AF_INET, _AF_INET6 = 2, 10

REFUSED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "mount_setattr",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "bpf",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
)

# System call numbers by `uname -m`: arch/x86/entry/syscalls/syscall_64.tbl and
# include/uapi/asm-generic/unistd.h (arm64).
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SYSCALL_NUMBERS = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "keyctl": 250,
        "add_key": 248, "request_key": 249, "setns": 308, "mount": 165, "umount2": 166,
        "pivot_root": 155, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "mount_setattr": 442, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 323, "bpf": 321,
        "perf_event_open": 298, "kexec_load": 246, "kexec_file_load": 320,
        "unshare": 272, "clone": 56, "clone3": 435, "socket": 41,
    },
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "keyctl": 219,
        "add_key": 217, "request_key": 218, "setns": 268, "mount": 40, "umount2": 39,
        "pivot_root": 41, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "mount_setattr": 442, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 282, "bpf": 280,
        "perf_event_open": 241, "kexec_load": 104, "kexec_file_load": 294,
        "unshare": 97, "clone": 220, "clone3": 435, "socket": 198,
    },
}  # fmt: skip
_X32_SYSCALL_BIT = 0x40000000

# Classic BPF over struct seccomp_data: nr at 0, arch at 4, args[0]'s low word at 16.
_LOAD, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _refuse(value: int) -> bytes:
    return _op(_RET, _ERRNO | value)


def filter_program(machine: str) -> bytes:
    """The filter for `machine` (`os.uname().machine`) as struct sock_filter entries."""
    if machine not in SYSCALL_NUMBERS:
        raise OSError(errno.ENOTSUP, f"no seccomp filter for {machine}")
    nr = SYSCALL_NUMBERS[machine]
    program = [
        _op(_LOAD, _ARCH),
        _op(_JEQ, _AUDIT_ARCH[machine], jt=1),
        _refuse(errno.EPERM),
        _op(_LOAD, _NR),
    ]
    if machine == "x86_64":
        program += [_op(_JSET, _X32_SYSCALL_BIT, jf=1), _refuse(errno.EPERM)]
    for name in REFUSED:
        program += [_op(_JEQ, nr[name], jf=1), _refuse(errno.EPERM)]
    program += [_op(_JEQ, nr["clone3"], jf=1), _refuse(errno.ENOSYS)]
    # Each block below loads an argument only where it returns either way, so
    # the next block still finds the system call's number loaded.
    for name, flags in (("unshare", _UNSHARE_FLAGS), ("clone", _NAMESPACE_FLAGS)):
        program += [
            _op(_JEQ, nr[name], jf=4),
            _op(_LOAD, _ARG0),
            _op(_JSET, flags, jf=1),
            _refuse(errno.EPERM),
            _op(_RET, _ALLOW),
        ]
    program += [
        _op(_JEQ, nr["socket"], jf=5),
        _op(_LOAD, _ARG0),
        _op(_JEQ, _AF_INET, jt=2),
        _op(_JEQ, _AF_INET6, jt=1),
        _op(_RET, _ALLOW),
        _refuse(errno.EAFNOSUPPORT),
        _op(_RET, _ALLOW),
    ]
    return b"".join(program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def install(program: bytes) -> None:
    """Apply `program` to this process and whatever it starts from now on; raises OSError."""
    libc = ctypes.CDLL(None, use_errno=True)
    fprog = _SockFprog(len(program) // 8, program)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def install_for_this_machine() -> None:
    install(filter_program(os.uname().machine))
