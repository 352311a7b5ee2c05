"""The process backend's seccomp filter, as the classic BPF program bubblewrap's `--seccomp` loads.

It refuses, with EPERM, what no evaluation needs and what the sandbox's walls
rest on: tracing (another process's memory, or bwrap's init), the kernel's
keyrings (shared with the executor), new namespaces and mounts (nested user
namespaces draw on per-uid budgets of the host), and kernel interfaces whose
attack surface is large (io_uring, userfaultfd, bpf, perf events, kexec).
`clone3` answers ENOSYS, as the kernels before it did: its flags sit behind a
pointer a filter cannot read, and C libraries then fall back to `clone`,
whose flags it can. Everything else is allowed, so a program sees the
kernel's default behaviour for it.

Built here rather than through libseccomp: the program is short, and the
executor then needs no C library beyond what Python has.
"""

import os
import platform
import struct
from dataclasses import dataclass

from crucible_executor.sandbox.base import SandboxUnavailable

# linux/filter.h, linux/seccomp.h, linux/audit.h
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_OFFSET_NR = 0
_OFFSET_ARCH = 4
# Low half of args[0] on a little-endian machine (both below are).
_OFFSET_ARG0 = 16
_X32_SYSCALL_BIT = 0x40000000

_CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)


@dataclass(frozen=True)
class _Arch:
    audit_arch: int
    refused: dict[str, int]
    clone: int
    clone3: int
    has_x32: bool


# The new mount API and io_uring share numbers across architectures (since 5.1).
_COMMON = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}

_ARCHES = {
    "x86_64": _Arch(
        audit_arch=0xC000003E,
        refused={
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "add_key": 248,
            "request_key": 249,
            "keyctl": 250,
            "unshare": 272,
            "setns": 308,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "userfaultfd": 323,
            "bpf": 321,
            "perf_event_open": 298,
            "kexec_load": 246,
            "kexec_file_load": 320,
            **_COMMON,
        },
        clone=56,
        clone3=435,
        has_x32=True,
    ),
    "aarch64": _Arch(
        audit_arch=0xC00000B7,
        refused={
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "add_key": 217,
            "request_key": 218,
            "keyctl": 219,
            "unshare": 97,
            "setns": 268,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "userfaultfd": 282,
            "bpf": 280,
            "perf_event_open": 241,
            "kexec_load": 104,
            "kexec_file_load": 294,
            **_COMMON,
        },
        clone=220,
        clone3=435,
        has_x32=False,
    ),
}

REFUSED_SYSCALLS = tuple(sorted(_ARCHES["x86_64"].refused))


def _statement(code: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, 0, 0, k)


def _jump(code: int, k: int, *, true: int, false: int) -> bytes:
    return struct.pack("=HBBI", code, true, false, k)


def filter_program(machine: str | None = None) -> bytes:
    """The filter for this machine's architecture, as `struct sock_filter[]` bytes."""
    machine = machine or platform.machine()
    arch = _ARCHES.get(machine)
    if arch is None:
        raise SandboxUnavailable(
            f"no seccomp filter for the {machine} architecture (only {', '.join(_ARCHES)})"
        )
    refuse = _statement(_BPF_RET_K, _RET_ERRNO | 1)  # EPERM
    allow = _statement(_BPF_RET_K, _RET_ALLOW)
    program = [
        _statement(_BPF_LD_W_ABS, _OFFSET_ARCH),
        # Another ABI's numbers would mean other calls: whoever uses one dies.
        _jump(_BPF_JEQ_K, arch.audit_arch, true=1, false=0),
        _statement(_BPF_RET_K, _RET_KILL_PROCESS),
        _statement(_BPF_LD_W_ABS, _OFFSET_NR),
    ]
    if arch.has_x32:
        program += [_jump(_BPF_JGE_K, _X32_SYSCALL_BIT, true=0, false=1), refuse]
    for number in sorted(arch.refused.values()):
        program += [_jump(_BPF_JEQ_K, number, true=0, false=1), refuse]
    program += [
        _jump(_BPF_JEQ_K, arch.clone3, true=0, false=1),
        _statement(_BPF_RET_K, _RET_ERRNO | 38),  # ENOSYS
        _jump(_BPF_JEQ_K, arch.clone, true=1, false=0),
        allow,
        _statement(_BPF_LD_W_ABS, _OFFSET_ARG0),
        _jump(_BPF_JSET_K, _CLONE_NAMESPACE_FLAGS, true=0, false=1),
        refuse,
        allow,
    ]
    return b"".join(program)


def filter_fd() -> int:
    """A descriptor to read the filter from, positioned at its start, for `--seccomp FD`."""
    fd = os.memfd_create("crucible-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, filter_program())
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
