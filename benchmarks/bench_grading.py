"""Grading throughput: the same class graded with 1 worker and with 2 (or --workers N).

    python benchmarks/bench_grading.py                     # 8 students of 04_fc_nets
    python benchmarks/bench_grading.py --students 2 --assignment 02_svm --quick

Each student submits the solved notebook, so every run executes the whole notebook. The
instructor's reference run (which also warms the Numba cache) happens once, before the timings,
and both runs share one course secret, so they grade identical work: the script checks that the
grades agree and prints seconds per run and the speedup (serial time / parallel time).
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from autograder import grading  # noqa: E402
from notebook_tools import SOLUTIONS, solved, write_submission  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--assignment", default="04_fc_nets")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="no feedback generation")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        subs = root / "submissions"
        for i in range(args.students):
            write_submission(subs, f"student{i:02d}", args.assignment, solved(args.assignment))
        quiet = dict(progress=False, log=lambda *_: None, feedback=not args.quick)
        grading.prepare(root / "warm", SOLUTIONS / args.assignment)  # nbgrader's own start-up
        timings, grades = {}, {}
        for workers in (1, args.workers):
            course = root / f"course-{workers}"
            course.mkdir()
            if workers != 1:
                shutil.copy(root / "course-1" / ".grader-secret", course / ".grader-secret")
                shutil.copytree(root / "course-1" / "numba-cache", course / "numba-cache")
            empty = root / "empty"
            empty.mkdir(exist_ok=True)
            grading.autograde(SOLUTIONS / args.assignment, empty, course, workers=workers, **quiet)
            start = time.perf_counter()
            results = grading.autograde(SOLUTIONS / args.assignment, subs, course, workers=workers, **quiet)
            timings[workers] = time.perf_counter() - start
            grades[workers] = {s: (r["auto_score"], r["checks"]) for s, r in results.items()}
        same = grades[1] == grades[args.workers]
        print(f"{args.students} submissions of {args.assignment}:")
        for workers, seconds in timings.items():
            print(f"  {workers} worker(s): {seconds:6.1f} s ({seconds / args.students:.1f} s per student)")
        print(f"speedup with {args.workers} workers: {timings[1] / timings[args.workers]:.2f}x; "
              f"grades identical: {same}")
        for student in sorted(grades[1]) if not same else []:
            if grades[1][student] != grades[args.workers].get(student):
                print(f"  {student}: {grades[1][student]} vs {grades[args.workers].get(student)}")
        return 0 if same else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
