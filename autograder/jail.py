"""Run a command in a root filesystem built for it, shut away from the network, the machine's
processes and every file it was not given.

    python -m autograder.jail --stage DIR [--ro HOST[=INNER]]... [--rw HOST[=INNER]]... [--hide INNER]... [--copy HOST=INNER]...
                              [--setenv K=V]... [--uid U] [--cgroup DIR]... [--disk-mb D] [--cpu S]
                              [--memory-mb M] [--processes P] [--file-mb F] [--workdir INNER] -- command...

Linux only. Nothing of the host is hidden after the fact; the jail starts from nothing and is
given what it needs:

- new mount, PID, network, IPC, UTS and cgroup namespaces (and a user namespace when not run as
  root);
- a new root: an empty tmpfs of --disk-mb (every file the command writes, /tmp and /dev/shm
  included, lands there, so its disk use is bounded as a whole), holding only the read-only binds
  named by --ro (the Python installation, the system libraries it loads: no system folder is
  shown whole), a few public files of /etc, the device nodes a program needs,
  its own /proc (it sees only its own processes), and the files --copy puts in the writable working
  folder or, owned by root, under /opt (the library, the harness); the host's root is detached
  after pivot_root, so no path, mount or descriptor leads back to it;
- a loopback interface that reaches nothing else; no environment but what --setenv gives;
- the cgroups named by --cgroup (memory and process limits for everything it starts together);
  rlimits on CPU seconds, address space, processes and file size; no new privileges;
- a seccomp filter (seccomp.py) against the system calls that reach state outside the jail or
  make new namespaces: kernel keyrings (per uid, they would outlive the jail), mounts, unshare,
  setns, clone with namespace flags, bpf, perf events, io_uring, modules;
- as root, the command runs as --uid (its own, allocated per submission, so two jails never share
  one); otherwise as uid 1000 of its user namespace, with no capabilities left after exec;
- the command is PID 1 of its namespace: when it exits, every process it started dies with it, and
  it dies when the jail process does (SIGTERM to the jail kills it, SIGINT is passed on).

Exit codes: the command's own, or 97 when the jail cannot be built (the reason on stderr).
"""
import argparse
import ctypes
import fcntl
import os
import resource
import shutil
import signal
import socket
import struct
import sys

try:
    from . import seccomp
except ImportError:  # run as a script (python jail.py), beside seccomp.py
    import seccomp

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 0x400, 0x800, 0x1000, 0x4000, 0x40000, 0x200000
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
JAIL_FAILED = 97
INNER_UID = 1000  # the command's uid inside a user namespace (never 0: exec then drops every capability)

MAX_LINKS = 40  # links followed to show one path, as the kernel's own limit
# public files only: /etc/ssl/private (where keys, a Dask cluster's too, are kept) is never shown
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "hosts", "mime.types",
       "fonts", "ssl/certs", "ssl/openssl.cnf", "ca-certificates")
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       flags, data and data.encode()), f"mount {target}")


def _statvfs_flags(path):
    """The mount flags of the mount holding path, as mount(2) flags: a read-only remount of a bind
    must keep the ones a user namespace may not clear."""
    f = os.statvfs(path).f_flag
    pairs = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
             (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
    return sum(flag for st, flag in pairs if f & st)


def _bind(host, target, readonly=True):
    """Bind host (a file or folder) at target, read-only unless told otherwise."""
    if os.path.isdir(host):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    _mount(host, target, None, MS_BIND | MS_REC)
    if readonly:
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | _statvfs_flags(host))


def _show(path, root):
    """Show the host's `path` at the same place under root, read-only, with the links that lead to
    it (merged /usr's /lib -> usr/lib, libz.so.1 -> libz.so.1.2.13): each link is made again, the
    file or folder they end at is bound. Read from the host alone: no link made in the new root is
    ever followed while it is built."""
    parts, current, links = [p for p in path.split("/") if p], "/", 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        host = os.path.join(current, name)
        if os.path.islink(host):
            links += 1
            if links > MAX_LINKS:
                raise OSError(f"--ro {path}: more than {MAX_LINKS} links")
            target = os.readlink(host)
            if not os.path.lexists(root + host):
                os.symlink(target, root + host)
            parts = [p for p in target.split("/") if p] + parts
            current = "/" if target.startswith("/") else current
        elif not parts:
            _bind(host, root + host)
        elif os.path.isdir(host):
            if not os.path.isdir(root + host):
                os.mkdir(root + host, 0o755)
            current = host
        else:
            raise OSError(f"--ro {path}: {host} is not a folder")


def _loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _map_user(uid, gid):
    """Inside a new user namespace: become INNER_UID, mapped to our own uid and gid outside."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{INNER_UID} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{INNER_UID} {gid} 1")


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


def _pair(text, what):
    host, sep, inner = text.partition("=")
    if not host or (sep and not inner.startswith("/")):
        raise OSError(f"{what} {text!r}: expected HOST or HOST=/INNER")
    return os.path.abspath(host), inner or os.path.abspath(host)


def _build_root(args, owner):
    """In the child, before pivot_root: the new root at args.stage, filled with what was given."""
    root = args.stage
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={args.disk_mb}m,mode=0755")
    for folder, mode in (("proc", 0o555), ("dev", 0o755), ("tmp", 0o1777), ("dev/shm", 0o1777), ("etc", 0o755)):
        os.makedirs(f"{root}/{folder}", exist_ok=True)
        os.chmod(f"{root}/{folder}", mode)
    for name in ETC:
        if os.path.exists(f"/etc/{name}"):
            _bind(f"/etc/{name}", f"{root}/etc/{name}")
    with open(f"{root}/etc/passwd", "w") as f:
        f.write(f"root:x:0:0:root:/root:/bin/sh\nstudent:x:{owner}:{owner}:student:{args.workdir}:/bin/sh\n")
    with open(f"{root}/etc/group", "w") as f:
        f.write(f"root:x:0:\nstudent:x:{owner}:\n")
    for name in DEVICES:
        _bind(f"/dev/{name}", f"{root}/dev/{name}", readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    for spec in args.ro:
        host, inner = _pair(spec, "--ro")
        if not os.path.exists(host):
            raise OSError(f"--ro {host}: no such file or folder")
        if "=" in spec:
            _bind(host, root + inner)
        else:
            _show(host, root)
    for spec in args.select:  # a package folder showing the entries named, and nothing else
        folder, _, names = spec.partition("=")
        target = root + folder
        if not os.path.isdir(folder) or not os.path.isdir(target):
            continue  # not shown in the jail: nothing of it to select
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for name in filter(None, names.split(",")):  # an entry, or one inside a folder of them
            parts = name.split("/")
            if len(parts) > 2 or any(part in ("", ".", "..") for part in parts):
                raise OSError(f"--select {folder}: {name!r} is not an entry of it")
            host, inner = os.path.join(folder, name), os.path.join(target, name)
            if len(parts) == 2 and (os.path.islink(os.path.join(folder, parts[0])) or not os.path.exists(host)):
                continue
            os.makedirs(os.path.dirname(inner), mode=0o755, exist_ok=True)
            if os.path.islink(host):
                os.symlink(os.readlink(host), inner)
            elif os.path.exists(host):
                _bind(host, inner)
        _mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for spec in args.rw:  # the instructor's run only: a Numba cache that outlives the jail
        host, inner = _pair(spec, "--rw")
        _bind(host, root + inner, readonly=False)
    for inner in args.hide:  # an installed copy of what must stay out of reach
        if os.path.isdir(root + inner):
            _mount("tmpfs", root + inner, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
        elif os.path.isfile(root + inner):  # a zipped egg: shown as an empty file
            _bind("/dev/null", root + inner)
    # our own /proc, mounted while the host's is still in view (a user namespace may mount a proc
    # only beside a fully visible one); it shows the processes of our PID namespace alone
    _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    home = root + args.workdir
    os.makedirs(home, mode=0o700, exist_ok=True)
    for spec in args.copy:  # into the working folder (the command's), or under /opt (read-only to it)
        host, inner = _pair(spec, "--copy")
        target = root + inner
        if not target.startswith((home + "/", root + "/opt/")):
            raise OSError(f"--copy {spec!r}: copies go into {args.workdir} or under /opt")
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if os.path.isdir(host):
            shutil.copytree(host, target, symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(host, target)
    for folder, dirs, files in os.walk(home):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, owner, owner)


def _enter_root(stage):
    os.makedirs(f"{stage}/.old-root", exist_ok=True)
    _check(_libc.syscall(155, stage.encode(), f"{stage}/.old-root".encode()), "pivot_root")  # SYS_pivot_root
    os.chdir("/")
    _check(_libc.umount2(b"/.old-root", MNT_DETACH), "umount the host's root")
    os.rmdir("/.old-root")


def _dies_with_parent():
    """SIGKILL when the process (thread) that started us ends: a grading worker that dies or is
    terminated (a broken pool) takes its jails along instead of leaving them running with no
    time limit. False if that parent is gone already."""
    parent = os.getppid()
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    return os.getppid() == parent


def _child(args, command, drop, owner):
    """PID 1 of the new namespaces: build the root, limit, drop, exec. Never returns."""
    try:
        if not _dies_with_parent():  # again after the drop below, which clears it
            os._exit(JAIL_FAILED)
        os.setpgid(0, 0)  # signals to the jail's group reach the jail alone, which passes them on
        os.umask(0o022)  # the folders made for the new root: never writable by others, whatever the grader's umask
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # our mounts stay ours
        _build_root(args, owner)
        _loopback_up()
        _enter_root(args.stage)
        _limit(resource.RLIMIT_CPU, args.cpu)
        _limit(resource.RLIMIT_AS, args.memory_mb * 1024 * 1024)
        _limit(resource.RLIMIT_FSIZE, args.file_mb * 1024 * 1024)
        _limit(resource.RLIMIT_CORE, 0)
        if drop:
            os.setgroups([])
            os.setgid(args.uid)
            os.setuid(args.uid)
        # root is exempt from the process limit, hence after the drop; a user namespace counts the
        # user's processes across the machine, so those already running are added to the allowance
        _limit(resource.RLIMIT_NPROC, args.processes and args.processes + (0 if drop else _running(os.getuid())))
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        seccomp.install()
        os.chdir(args.workdir)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": args.workdir, "LANG": "C.UTF-8",
               "USER": "student", "TMPDIR": "/tmp"}
        env.update(pair.split("=", 1) for pair in args.setenv)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvpe(command[0], command, env)
    except BaseException as err:  # noqa: BLE001 - report and leave, whatever went wrong
        print(f"autograder.jail: cannot isolate the submission: {err}", file=sys.stderr)
        os._exit(JAIL_FAILED)


def _join_cgroups(folders):
    for folder in folders:
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="autograder.jail")
    parser.add_argument("--stage", required=True, help="an empty host folder: the new root's mount point")
    parser.add_argument("--workdir", default="/home/student", help="the writable working folder inside")
    parser.add_argument("--ro", action="append", default=[], help="HOST[=INNER], bound read-only (HOST alone: at its own path, with the links "
                             "leading to it)")
    parser.add_argument("--rw", action="append", default=[], help="HOST[=INNER], bound writable")
    parser.add_argument("--hide", action="append", default=[], help="INNER folder or file to show empty")
    parser.add_argument("--select", action="append", default=[],
                        help="FOLDER=NAME,NAME,...: a shown folder holding only the entries named "
                             "(NAME or SUBFOLDER/NAME)")
    parser.add_argument("--copy", action="append", default=[], help="HOST=INNER into the working folder")
    parser.add_argument("--setenv", action="append", default=[], help="K=V, the command's environment")
    parser.add_argument("--uid", type=int, default=None, help="run as this uid (when root)")
    parser.add_argument("--cgroup", action="append", default=[], help="cgroup folder to join")
    parser.add_argument("--disk-mb", type=int, default=512, help="size of the writable root")
    parser.add_argument("--cpu", type=int, default=0, help="CPU seconds per process")
    parser.add_argument("--memory-mb", type=int, default=0, help="address space per process")
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--file-mb", type=int, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    args.stage = os.path.abspath(args.stage)
    if not _dies_with_parent():
        print("autograder.jail: the process that started the jail ended before it could begin", file=sys.stderr)
        return JAIL_FAILED
    root = os.geteuid() == 0
    drop = root and args.uid is not None
    owner = args.uid if drop else (os.getuid() if root else INNER_UID)
    try:
        if not os.path.isdir(args.stage) or os.listdir(args.stage):
            raise OSError(f"--stage {args.stage} must be an empty folder")
        _join_cgroups(args.cgroup)
        # after joining the cgroups: the new cgroup namespace is rooted at the submission's own
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
        uid, gid = os.getuid(), os.getgid()
        _check(_libc.unshare(flags if root else flags | CLONE_NEWUSER), "unshare")
        if not root:
            _map_user(uid, gid)
    except OSError as err:
        print(f"autograder.jail: cannot isolate the submission: {err}", file=sys.stderr)
        return JAIL_FAILED
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the child passes it on
    pid = os.fork()
    if pid == 0:
        _child(args, command, drop, owner)
    signal.signal(signal.SIGINT, lambda *_: os.kill(pid, signal.SIGINT))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: os.kill(pid, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status) % 256
        except InterruptedError:
            continue


if __name__ == "__main__":
    sys.exit(main())
