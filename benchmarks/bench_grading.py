"""Grading throughput: one class graded by the process pool (--workers 1 and N), and with
--dask also on Dask: an embedded LocalCluster (--scheduler local) and a cluster started through Dask's command line
(`dask scheduler`, `dask worker`, as an instructor's cluster would be) with 1 and N workers.

    python benchmarks/bench_grading.py                     # 8 students of 04_fc_nets, pool only
    python benchmarks/bench_grading.py --students 4 --assignment 02_svm --quick --dask

Each student submits the solved notebook, so every run executes the whole notebook. The
instructor's run (which also warms the Numba caches, and on Dask each machine's worker kit)
happens before the timings, and all runs share one course secret, so they grade identical work:
the script checks that the grades agree and prints seconds per run, the speedup over one pool
worker, and Dask's overhead per submission (its time minus the pool's with as many workers,
divided by the number of students).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from autograder import grading  # noqa: E402
from notebook_tools import SOLUTIONS, solved, write_submission  # noqa: E402


def timed(root, label, subs, assignment, quiet, workers=1, scheduler=None, tls=None):
    """Seconds to grade `subs` in a fresh copy of the warm course, and the grades."""
    course = root / f"course-{label}"
    shutil.copytree(root / "course-warm", course, symlinks=True)
    empty = root / "empty"
    empty.mkdir(exist_ok=True)
    grading.autograde(SOLUTIONS / assignment, empty, course, workers=workers, scheduler=scheduler, tls=tls,
                      **quiet)
    start = time.perf_counter()
    results = grading.autograde(SOLUTIONS / assignment, subs, course, workers=workers, scheduler=scheduler,
                                tls=tls, **quiet)
    return time.perf_counter() - start, {s: (r["auto_score"], r["checks"]) for s, r in results.items()}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--assignment", default="04_fc_nets")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="no feedback generation")
    parser.add_argument("--dask", action="store_true", help="also on an embedded LocalCluster and on a "
                        "cluster of `dask scheduler` and `dask worker` processes on 127.0.0.1")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    os.environ["COURSE_GRADE_WORKER_DIR"] = str(root / "kits")  # Dask workers inherit it
    try:
        subs = root / "submissions"
        for i in range(args.students):
            write_submission(subs, f"student{i:02d}", args.assignment, solved(args.assignment))
        quiet = dict(progress=False, log=lambda *_: None, feedback=not args.quick)
        grading.autograde(SOLUTIONS / args.assignment, None, root / "course-warm", **quiet)  # instructor's run
        counts = sorted({1, args.workers})
        timings, grades = {}, {}
        for n in counts:
            timings["pool", n], grades["pool", n] = timed(root, f"pool{n}", subs, args.assignment, quiet, workers=n)
        if args.dask:
            from dask_cluster import Cluster
            for n in counts:
                timings["LocalCluster", n], grades["LocalCluster", n] = timed(
                    root, f"local{n}", subs, args.assignment, quiet, workers=n, scheduler="local")
                with Cluster(n) as cli:
                    timings["dask CLI", n], grades["dask CLI", n] = timed(
                        root, f"cli{n}", subs, args.assignment, quiet, scheduler=cli.address, tls=cli.keys)
        reference = grades["pool", 1]
        same = all(g == reference for g in grades.values())
        print(f"{args.students} submissions of {args.assignment}, {os.cpu_count()} cores:")
        print(f"  {'how':<14}{'workers':>8}{'seconds':>9}{'per student':>13}{'speedup':>9}{'overhead':>10}")
        for (how, n), seconds in timings.items():
            overhead = (f"{(seconds - timings['pool', n]) / args.students:+.2f} s" if how != "pool" else "")
            print(f"  {how:<14}{n:>8}{seconds:>9.1f}{seconds / args.students:>11.1f} s"
                  f"{timings['pool', 1] / seconds:>8.2f}x{overhead:>10}")
        print(f"speedup with {args.workers} workers: {timings['pool', 1] / timings['pool', args.workers]:.2f}x; "
              f"grades identical: {same}")
        for key, got in grades.items():
            for student in sorted(reference) if got != reference else []:
                if reference[student] != got.get(student):
                    print(f"  {key} {student}: {reference[student]} vs {got.get(student)}")
        return 0 if same else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
