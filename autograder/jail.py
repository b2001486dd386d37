"""Run a command shut away from the network, the course's files and the machine's resources.

    python -m autograder.jail --workdir W [--hide PATH]... [--expose PATH]... [--uid U] [--cpu S] [--memory-mb M]
                              [--processes P] [--file-mb F] -- command...

Linux only. The jail process, single-threaded so that it is safe to set up, makes new mount,
network and PID namespaces (with a user namespace too when it is not run as root), mounts an empty
tmpfs over every --hide path (the gradebook, the instructor's sources, other submissions; the
working copy stays reachable even when it lies under a hidden folder), brings
up a loopback interface that reaches nothing else (the kernel talks to its client over it), sets
rlimits on CPU seconds, address space, processes and file size, drops to --uid when run as root,
and runs the command as PID 1 of the new PID namespace: when it exits, every process the student's
code started is killed with it, daemons included.

Exit codes: the command's own, or 97 when the jail cannot be built (the reason on stderr).
"""
import argparse
import ctypes
import fcntl
import os
import resource
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_BIND, MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV = 0x1000, 0x4000, 0x40000, 0x2, 0x4
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
JAIL_FAILED = 97

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags):
    _check(_libc.unshare(flags), "unshare")


def _mount(source, target, fstype, flags, data):
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       flags, data and data.encode()), f"mount {target}")


def _loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _map_user(uid, gid):
    """Inside a new user namespace: become its root, mapped to our own uid and gid."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def _running(uid):
    """How many processes (threads count too) this uid runs on the machine now."""
    count = 0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
        except (OSError, ValueError, KeyError):
            continue
    return count


def _limit(name, value):
    if value:
        resource.setrlimit(name, (value, value))


def _closed_ancestor(path):
    """(the highest folder above path that others may not enter, its child toward path), or None.
    A folder we already replaced is open (mode 0711) and is passed over."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    for i in range(1, len(parts)):
        folder = os.sep + os.path.join(*parts[:i])
        if not os.stat(folder).st_mode & 0o001:
            return folder, os.path.join(folder, parts[i])
    return None


def _expose(paths):
    """When the jail drops to another uid, the Python installation (and the working copy) must stay
    reachable even under a closed folder (/root/.pyenv, say): replace each closed folder on the way
    by an empty one holding only the way on, so the rest of it is out of reach as well."""
    for path in paths:
        while (found := _closed_ancestor(path)) is not None:
            closed, child = found
            keep = os.open(child, os.O_PATH)
            _mount("tmpfs", closed, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0711")
            os.makedirs(child, mode=0o711, exist_ok=True)
            _mount(f"/proc/self/fd/{keep}", child, None, MS_BIND | MS_REC, None)
            os.close(keep)


def build(args):
    """Everything up to the exec, in this process (and its PID-1 child)."""
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
    _unshare(flags if root else flags | CLONE_NEWUSER)
    if not root:
        _map_user(uid, gid)
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # our mounts stay ours
    workdir = os.open(args.workdir, os.O_PATH | os.O_DIRECTORY)  # reachable after the hiding
    for path in args.hide:
        if os.path.exists(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0711")
    if not os.path.isdir(args.workdir):  # it was under a hidden folder: put it back, alone
        os.makedirs(args.workdir, mode=0o711)
        _mount(f"/proc/self/fd/{workdir}", args.workdir, None, MS_BIND, None)
    os.close(workdir)
    if root and args.uid is not None:
        _expose([*args.expose, args.workdir])
    _loopback_up()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="autograder.jail")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--expose", action="append", default=[],
                        help="paths the dropped uid must reach (the Python installation)")
    parser.add_argument("--uid", type=int, default=None, help="run as this uid (when root)")
    parser.add_argument("--cpu", type=int, default=0, help="CPU seconds")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--file-mb", type=int, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    drop = os.geteuid() == 0 and args.uid is not None  # decided before the user namespace
    try:
        build(args)
    except OSError as err:
        print(f"autograder.jail: cannot isolate the submission: {err}", file=sys.stderr)
        return JAIL_FAILED
    pid = os.fork()  # the child is PID 1 of the new namespace
    if pid:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) % 256
    try:
        _limit(resource.RLIMIT_CPU, args.cpu)
        _limit(resource.RLIMIT_AS, args.memory_mb * 1024 * 1024)
        _limit(resource.RLIMIT_FSIZE, args.file_mb * 1024 * 1024)
        _limit(resource.RLIMIT_CORE, 0)
        if drop:
            os.setgroups([])
            os.setgid(args.uid)
            os.setuid(args.uid)
        # after dropping root: root is exempt from the process limit. Without root the limit counts
        # every process of this user, so the ones already running are added to the allowance.
        running = 0 if drop else _running(os.getuid())
        _limit(resource.RLIMIT_NPROC, args.processes and args.processes + running)
        os.chdir(args.workdir)
        os.execvpe(command[0], command, dict(os.environ, HOME=args.workdir))
    except BaseException as err:  # noqa: BLE001 - report and leave, whatever went wrong
        print(f"autograder.jail: cannot start {command[:1]}: {err}", file=sys.stderr)
        os._exit(JAIL_FAILED)


if __name__ == "__main__":
    sys.exit(main())
