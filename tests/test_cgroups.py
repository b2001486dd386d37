"""autograder.cgroups on its own: a submission's processes share one CPU quota."""
import os
import subprocess
import sys
import textwrap
import time

import pytest

from autograder.cgroups import PERIOD_US, Cgroup

# Three processes spin for a second of wall-clock time; the parent prints the CPU time they used.
SPIN = textwrap.dedent('''
    import os, resource, time
    end = time.monotonic() + 1.0
    for _ in range(3):
        if os.fork() == 0:
            while time.monotonic() < end:
                pass
            os._exit(0)
    for _ in range(3):
        os.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(usage.ru_utime + usage.ru_stime)
''')


@pytest.fixture
def quota_of_5_percent():
    cgroup = Cgroup.create(f"course-grade-test-{os.getpid()}-{os.urandom(4).hex()}", 1 << 30, 16, cpus=0.05)
    if cgroup is None or cgroup.cpu_quota_folder() is None:
        if cgroup:
            cgroup.close()
        pytest.skip("no cpu controller of ours here: submissions get no CPU quota (see the README)")
    yield cgroup
    cgroup.close()


def test_the_quota_is_the_submissions_share_of_cores(quota_of_5_percent):
    folder = quota_of_5_percent.cpu_quota_folder()
    if (folder / "cpu.max").exists():
        assert (folder / "cpu.max").read_text().split() == ["5000", str(PERIOD_US)]
    else:
        assert int((folder / "cpu.cfs_quota_us").read_text()) == 5000
        assert int((folder / "cpu.cfs_period_us").read_text()) == PERIOD_US


def test_the_quota_can_be_lowered_and_put_back(quota_of_5_percent):
    """What a decisive run's answers do (worker.decide): at most DECISIVE_CORES, then its own again."""
    cgroup = quota_of_5_percent
    assert cgroup.cpu_quota() == 0.05
    cgroup.set_cpu_quota(0.02)
    assert cgroup.cpu_quota() == 0.02
    cgroup.set_cpu_quota(None)
    assert cgroup.cpu_quota() is None
    cgroup.set_cpu_quota(0.05)
    assert cgroup.cpu_quota() == 0.05
    assert Cgroup([]).cpu_quota() is None and Cgroup([]).set_cpu_quota(2) is None  # no cpu controller


def test_processes_spinning_together_get_no_more_than_the_quota(quota_of_5_percent):
    cgroup = quota_of_5_percent

    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", SPIN], preexec_fn=lambda: join(cgroup), capture_output=True, text=True,
                         timeout=120)
    wall = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    used = float(out.stdout)
    # The kernel lets the group run 5 ms per 100 ms period: about 0.05 s of CPU a second, whatever
    # the load (a busy machine only gives less). Unlimited, three spinners get a core or more.
    assert used <= 0.05 * wall + 0.1, (used, wall)
    stat = dict(line.split() for line in (cgroup.cpu_quota_folder() / "cpu.stat").read_text().splitlines())
    assert int(stat["nr_throttled"]) > 0


def test_available_cores_sees_the_quota_of_the_cgroup_it_runs_in():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core here: a quota of one core would change nothing")
    cgroup = Cgroup.create(f"course-grade-test-{os.getpid()}-{os.urandom(4).hex()}", 1 << 30, 16, cpus=1)
    if cgroup is None or cgroup.cpu_quota_folder() is None:
        pytest.skip("no cpu controller of ours here")
    try:
        out = subprocess.run([sys.executable, "-c", "from autograder.cgroups import available_cores; "
                              "print(available_cores())"], preexec_fn=lambda: join(cgroup),
                             capture_output=True, text=True, timeout=120)
    finally:
        cgroup.close()
    assert out.stdout.split() == ["1"], out.stderr  # a container's or a job's CPU limit, seen from inside


NESTED = textwrap.dedent('''
    import os
    from autograder.cgroups import Cgroup
    inner = Cgroup.create(f"course-grade-inner-{os.getpid()}", 1 << 30, 16, cpus=2)
    folder = inner and inner.cpu_quota_folder()
    if folder is None:
        print("none")
    elif (folder / "cpu.max").exists():
        print((folder / "cpu.max").read_text().split()[0])
    else:
        print((folder / "cpu.cfs_quota_us").read_text().strip())
    inner and inner.close()
''')


def test_a_quota_the_kernel_refuses_leaves_no_folder_that_claims_one():
    """Under a parent of 1 core, v1 refuses a child's quota of 2 (EINVAL): the child must then not
    pretend to hold one. v2 accepts it (the parent's quota binds anyway)."""
    cgroup = Cgroup.create(f"course-grade-test-{os.getpid()}-{os.urandom(4).hex()}", 1 << 30, 16, cpus=1)
    if cgroup is None or cgroup.cpu_quota_folder() is None:
        pytest.skip("no cpu controller of ours here")
    try:
        out = subprocess.run([sys.executable, "-c", NESTED], preexec_fn=lambda: join(cgroup),
                             capture_output=True, text=True, timeout=120)
    finally:
        cgroup.close()
    assert out.stdout.split() in (["none"], ["200000"]), out.stdout + out.stderr


def join(cgroup):
    for folder in cgroup.folders:
        (folder / "cgroup.procs").write_text(str(os.getpid()))
