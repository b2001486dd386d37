"""Limits for a submission as a whole: one cgroup holds every process it starts, with a memory
limit (tmpfs pages it writes count too), a process limit and a CPU quota (its share of the
machine's cores, however many threads or processes it starts: a submission that spins on every
core slows no one graded beside it), and is emptied with SIGKILL at the end.

cgroup v2 where the grader's own cgroup can delegate the memory and pids controllers, else the
cgroup v1 memory and pids hierarchies where they are writable, else none: then only the per-process
rlimits of autograder.jail apply (the README says so). `Cgroup.create` returns None in that case.
The CPU quota is set where the cpu controller is there too (v2's cpu, v1's cpu hierarchy).
"""
import os
import signal
import time
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


def _mounts():
    """[(mount point, fstype, super options)] of the cgroup filesystems."""
    found = []
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""
        if fstype in ("cgroup", "cgroup2"):
            found.append((fields[4], fstype, set(options.split(","))))
    return found


def available_cores():
    """The cores this process may use: its CPU affinity, lowered by the CPU quota of its own cgroup
    or one above it (a container's or a batch job's CPU limit), at least 1."""
    cores = len(os.sched_getaffinity(0))
    try:
        own = _own_paths()
        limits = []
        for mount, fstype, opts in _mounts():
            if fstype == "cgroup2" and "" in own:
                folder, read = Path(mount + own[""]), _v2_quota
            elif fstype == "cgroup" and "cpu" in opts and "cpu" in own:
                folder, read = Path(mount + own["cpu"]), _v1_quota
            else:
                continue
            for level in (folder, *folder.parents):
                if not str(level).startswith(mount):
                    break
                limits.append(read(level))
        cores = min([cores, *(q for q in limits if q)])
    except (OSError, ValueError):
        pass
    return max(1, int(cores))


def _v2_quota(folder):
    try:
        quota, period = (folder / "cpu.max").read_text().split()
    except OSError:
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_quota(folder):
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        return None if quota < 0 else quota / int((folder / "cpu.cfs_period_us").read_text())
    except OSError:
        return None


def _v1_mount(controller):
    return next((m for m, fstype, opts in _mounts() if fstype == "cgroup" and controller in opts), None)


def _own_paths():
    """{controller or '' for v2: our cgroup's path}."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


PERIOD_US = 100_000  # the kernel's default CFS period


def _quota(cpus):
    """Microseconds of CPU per period for `cpus` cores (the kernel's least is 1000)."""
    return max(1000, int(cpus * PERIOD_US))


def _write(path, value):
    Path(path).write_text(str(value))


class Cgroup:
    """The cgroup folders (one for v2, one per controller for v1) of one submission."""

    def __init__(self, folders):
        self.folders = folders

    @classmethod
    def create(cls, name, memory_bytes, processes, cpus=None):
        """cpus: the cores (a float) the submission's processes may use together; None: no quota."""
        for make in (cls._v2, cls._v1):
            try:
                folders = make(name, memory_bytes, processes, cpus)
            except OSError:
                folders = None
            if folders:
                return cls(folders)
        return None

    @staticmethod
    def _v2(name, memory_bytes, processes, cpus):
        own = _own_paths().get("")
        mounts = [m for m, fstype, _ in _mounts() if fstype == "cgroup2"]
        if own is None or not mounts:
            return None
        parent = Path(mounts[0] + own)
        if not {"memory", "pids"} <= set((parent / "cgroup.controllers").read_text().split()):
            return None
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not {"memory", "pids"} <= enabled:
            _write(parent / "cgroup.subtree_control", "+memory +pids")
        folder = parent / name
        folder.mkdir()
        _write(folder / "memory.max", memory_bytes)
        if (folder / "memory.swap.max").exists():  # no escape into swap
            _write(folder / "memory.swap.max", 0)
        _write(folder / "pids.max", processes)
        if cpus and "cpu" in (parent / "cgroup.controllers").read_text().split():
            try:
                if "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
                    _write(parent / "cgroup.subtree_control", "+cpu")
                _write(folder / "cpu.max", f"{_quota(cpus)} {PERIOD_US}")
            except OSError:
                pass  # not delegated to us: memory and processes are still limited
        return [folder]

    @staticmethod
    def _v1(name, memory_bytes, processes, cpus):
        own = _own_paths()
        folders = []
        for controller in ("memory", "pids"):
            mount = _v1_mount(controller)
            if mount is None or controller not in own:
                _remove(folders)
                return None
            folder = Path(mount + own[controller]) / name
            folder.mkdir()
            folders.append(folder)
        memory, pids = folders
        _write(memory / "memory.limit_in_bytes", memory_bytes)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
            try:
                _write(memory / "memory.memsw.limit_in_bytes", memory_bytes)
            except OSError:
                pass
        _write(pids / "pids.max", processes)
        mount = _v1_mount("cpu")
        if cpus and mount and "cpu" in own:
            folder = Path(mount + own["cpu"]) / name
            try:
                folder.mkdir()
            except OSError:
                return folders  # not ours to limit: memory and processes are still limited
            try:
                _write(folder / "cpu.cfs_period_us", PERIOD_US)
                _write(folder / "cpu.cfs_quota_us", _quota(cpus))  # above a parent's quota: EINVAL
                folders.append(folder)
            except OSError:
                _remove([folder])
        return folders

    def cpu_quota_folder(self):
        """The folder holding the CPU quota (v2's cpu.max, v1's cpu hierarchy), None if it has none."""
        return next((f for f in self.folders if (f / "cpu.max").exists() or (f / "cpu.cfs_quota_us").exists()),
                    None)

    def cpu_quota(self):
        """The cores of its CPU quota; None: no quota, or no cpu controller."""
        folder = self.cpu_quota_folder()
        return None if folder is None else (_v2_quota if (folder / "cpu.max").exists() else _v1_quota)(folder)

    def set_cpu_quota(self, cpus):
        """Set its CPU quota to `cpus` cores (None: no quota); a no-op without a cpu controller."""
        folder = self.cpu_quota_folder()
        if folder is None:
            return
        if (folder / "cpu.max").exists():
            _write(folder / "cpu.max", f"{_quota(cpus) if cpus else 'max'} {PERIOD_US}")
        else:
            _write(folder / "cpu.cfs_quota_us", _quota(cpus) if cpus else -1)

    def pids(self):
        found = set()
        for folder in self.folders:
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def kill_all(self, attempts=50):
        """SIGKILL every process in the cgroup until none is left (new ones may appear while a
        fork is under way; the process limit bounds them)."""
        for folder in self.folders:
            if (folder / "cgroup.kill").exists():
                try:
                    _write(folder / "cgroup.kill", 1)
                except OSError:
                    pass
        for _ in range(attempts):
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        return not self.pids()

    def peak_memory(self):
        """Bytes at the peak, where the cgroup says."""
        for folder in self.folders:
            for name in ("memory.peak", "memory.max_usage_in_bytes"):
                try:
                    return int((folder / name).read_text())
                except (OSError, ValueError):
                    continue
        return None

    def close(self):
        self.kill_all()
        _remove(self.folders)


def _remove(folders):
    for folder in folders:
        for _ in range(50):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
