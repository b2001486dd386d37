"""A seccomp filter for the jail: system calls that would reach state outside it, or build a
sandbox of its own inside it, fail with EPERM; everything else is allowed.

Blocked: kernel keyrings (add_key, request_key, keyctl: a uid's keyrings outlive its processes, so
two jails of one uid could pass data through them), evicting or probing pages of the shared page
cache (fadvise64, mincore, cachestat, process_madvise, madvise's MADV_COLD and MADV_PAGEOUT,
preadv2/pwritev2 with RWF_NOWAIT), mounting and namespaces (mount and the new mount
API, umount2, pivot_root, unshare, setns, clone with namespace flags; clone3, whose flags a filter
cannot read, answers ENOSYS so that libc falls back to clone), bpf, perf_event_open, userfaultfd,
io_uring, kernel modules and kexec, swap, reboot, acct, quotactl, open_by_handle_at, and on x86-64
every x32 system call. An architecture without a table here is refused: the jail fails closed.
"""
import ctypes
import errno
import os
import platform
import struct

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
NEW_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# name: (x86-64, aarch64)
SYSCALLS = {
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "unshare": (272, 97),
    "setns": (308, 268), "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "swapon": (167, 224), "swapoff": (168, 225), "reboot": (169, 142),
    "acct": (163, 89), "quotactl": (179, 60), "open_by_handle_at": (304, 265),
    # the page cache of the shared, read-only Python installation: no evicting or probing pages
    "fadvise64": (221, 223), "mincore": (27, 232), "process_madvise": (440, 440), "cachestat": (451, 451),
}
MADVISE, MADV_COLD, MADV_PAGEOUT = (28, 233), 20, 21
PREADV2, PWRITEV2, RWF_NOWAIT = (327, 286), (328, 287), 0x8
CLONE, CLONE3 = (56, 220), (435, 435)
ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}


def _stmt(code, k):
    return struct.pack("HBBI", code, 0, 0, k)


def _jump(code, k, jt, jf):
    return struct.pack("HBBI", code, jt, jf, k)


def program(machine=None):
    """The BPF program for this machine's architecture, as bytes of struct sock_filter."""
    machine = machine or platform.machine()
    if machine not in ARCHES:
        raise OSError(f"no seccomp table for {machine}: the jail will not run without one")
    column, audit_arch = ARCHES[machine]
    deny = RET_ERRNO | errno.EPERM
    code = [_stmt(LD_W_ABS, 4), _jump(JEQ_K, audit_arch, 1, 0), _stmt(RET_K, RET_KILL_PROCESS),
            _stmt(LD_W_ABS, 0)]
    if machine == "x86_64":  # the x32 ABI: the same calls under other numbers
        code += [_jump(JGE_K, 0x40000000, 0, 1), _stmt(RET_K, deny)]
    for numbers in SYSCALLS.values():
        code += [_jump(JEQ_K, numbers[column], 0, 1), _stmt(RET_K, deny)]
    code += [_jump(JEQ_K, CLONE3[column], 0, 1), _stmt(RET_K, RET_ERRNO | errno.ENOSYS)]
    for advice in (MADV_COLD, MADV_PAGEOUT):  # madvise(addr, len, advice): the advice is args[2]
        code += [_jump(JEQ_K, MADVISE[column], 0, 4), _stmt(LD_W_ABS, 32), _jump(JEQ_K, advice, 0, 1),
                 _stmt(RET_K, deny), _stmt(LD_W_ABS, 0)]
    for call in (PREADV2, PWRITEV2):  # flags are args[5]: no RWF_NOWAIT, which says what is cached
        code += [_jump(JEQ_K, call[column], 0, 4), _stmt(LD_W_ABS, 56), _jump(JSET_K, RWF_NOWAIT, 0, 1),
                 _stmt(RET_K, RET_ERRNO | errno.EOPNOTSUPP), _stmt(LD_W_ABS, 0)]
    code += [_jump(JEQ_K, CLONE[column], 0, 3), _stmt(LD_W_ABS, 16),  # the low half of clone's flags
             _jump(JSET_K, NEW_NAMESPACES, 0, 1), _stmt(RET_K, deny)]
    code += [_stmt(RET_K, RET_ALLOW)]
    return b"".join(code)


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install():
    """Install the filter on this process (and so on everything it will start). Needs
    no_new_privs, or root."""
    code = program()
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _Program(len(code) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")
