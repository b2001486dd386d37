"""course-grade: release assignments and autograde submissions.

    course-grade release                         # assignments/ from solutions/
    course-grade check-release                   # exit 1 if assignments/ (or the self-check or guide data) is out of sync
    course-grade autograde 01_knn                # grade course/submitted/*/01_knn (nbgrader collect's)
    course-grade autograde 01_knn downloads/ --workers 2   # collect a folder (a subfolder or zip
                                                 # per student) into course/submitted/ first
    course-grade autograde 01_knn /srv/nbgrader/exchange/vision101/inbound --exchange   # collect from
                                                 # nbgrader's exchange (links never followed) first
    course-grade cluster-certs keys/             # a Dask cluster's TLS keys (a CA of the course's own)
    course-grade autograde 01_knn --scheduler tls://HOST:8786 --tls keys/   # on that Dask cluster
    course-grade export 01_knn                   # final grades (autograded + manual), every student
"""
import argparse
import sys
from pathlib import Path

from . import certs, grading, release
from .cluster import ClusterError
from .guide_release import GuideError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="course-grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solutions", default="solutions", help="instructor source notebooks")
    parser.add_argument("--assignments", default="assignments", help="student releases")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="regenerate assignments/ and course_lib/selfcheck/ from solutions/")
    sub.add_parser("check-release", help="fail if assignments/ or course_lib/selfcheck/ differs from a fresh release")
    grade = sub.add_parser("autograde", help="grade an assignment's submissions")
    grade.add_argument("assignment", help="an assignment folder name in solutions/, e.g. 01_knn")
    grade.add_argument("submissions", nargs="?", default=None,
                       help="a folder of one subfolder or .zip per student, collected into "
                            "<course>/submitted/ before grading (default: grade what is there)")
    grade.add_argument("--exchange", action="store_true",
                       help="SUBMISSIONS is nbgrader's exchange inbound folder (<Exchange.root>/<course id>/inbound): "
                            "collect each student's latest submission from it without following links "
                            "(use this instead of nbgrader collect); an entry written by another user than "
                            "the student it names is left out")
    grade.add_argument("--shared-account", action="store_true",
                       help="with --exchange: every student submits through one account, so an entry's "
                            "writer is not checked")
    grade.add_argument("--course", default="course", help="nbgrader course directory (kept)")
    grade.add_argument("--csv", default=None, help="grade export (default <course>/<assignment>.csv)")
    grade.add_argument("--workers", type=int, default=1, help="submissions graded at once")
    grade.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="grade on the Dask cluster of this scheduler (tls://HOST:8786) instead of "
                            "--workers processes here; every worker needs the same course-lib[dask]. "
                            "'local': an embedded Dask LocalCluster of --workers processes")
    grade.add_argument("--tls", default=None, metavar="DIR",
                       help="the cluster's keys, made by `course-grade cluster-certs DIR` (default: Dask's "
                            "distributed.comm.tls configuration)")
    grade.add_argument("--timeout", type=int, default=600, help="wall-clock seconds per submission")
    grade.add_argument("--cpu-seconds", type=int, default=None, help="CPU seconds per process "
                       "of a submission (default: the timeout)")
    grade.add_argument("--cell-timeout", type=int, default=30, help="seconds per notebook cell")
    grade.add_argument("--memory-mb", type=int, default=4096, help="memory of a submission's processes "
                       "together (cgroups; per process where the machine has none)")
    grade.add_argument("--processes", type=int, default=256, help="processes per submission")
    grade.add_argument("--file-mb", type=int, default=64, help="largest file a submission may write")
    grade.add_argument("--disk-mb", type=int, default=1024, help="everything a submission may write, "
                       "/tmp included")
    grade.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    grade.add_argument("--no-feedback", action="store_true")
    keys = sub.add_parser("cluster-certs", help="TLS keys of a Dask grading cluster: a CA of the course's own "
                          "and a key pair for the scheduler, the workers and the grading machine")
    keys.add_argument("folder", help="where to write them (new files only; keys readable by their owner only)")
    keys.add_argument("--days", type=int, default=365, help="how long the certificates are valid")
    export = sub.add_parser("export", help="final grades: autograded and manual, every student")
    export.add_argument("assignment")
    export.add_argument("--course", default="course", help="nbgrader course directory")
    export.add_argument("--csv", default=None, help="default <course>/<assignment>-final.csv")
    args = parser.parse_args(argv)

    if args.command == "export":
        course = Path(args.course)
        results = grading.load_results(course, args.assignment)
        if not results:
            parser.error(f"no grades for {args.assignment!r} in {course}/results/: autograde it first")
        path = grading.export_final(course, args.assignment, results,
                                    Path(args.csv or course / f"{args.assignment}-final.csv"))
        print(f"final grades: {path}")
        print(f"nbgrader's export: {grading.export_nbgrader(course, args.assignment)}")
        return 0
    if args.command == "cluster-certs":
        try:
            paths = certs.make(args.folder, days=args.days)
        except (FileExistsError, RuntimeError) as err:
            parser.error(str(err))
        print("\n".join(str(p) for p in paths))
        print(f"keep {Path(args.folder) / certs.CA_KEY} off the cluster; see the README's \"Grading on a Dask cluster\"")
        return 0
    if args.command in ("release", "check-release"):
        try:
            if args.command == "release":
                for name in release.release_all(args.solutions, args.assignments):
                    print(f"released {name} -> {Path(args.assignments) / name}")
                return 0
            diffs = release.differences(args.solutions, args.assignments)
        except GuideError as err:
            print(f"course-grade: {err}", file=sys.stderr)
            return 1
        print("\n".join(diffs) if diffs else "assignments/, the self-check data and the guide data are in sync with solutions/")
        return 1 if diffs else 0
    if args.command == "autograde" and args.exchange and not args.submissions:
        parser.error("--exchange needs the exchange's inbound folder: course-grade autograde NAME "
                     "/srv/nbgrader/exchange/COURSE_ID/inbound --exchange")
    if args.tls and not (args.scheduler or "").startswith("tls://"):
        parser.error("--tls is for --scheduler tls://HOST:PORT (a --scheduler local cluster makes its own key)")
    solution_folder = Path(args.solutions) / args.assignment
    if not solution_folder.is_dir():
        parser.error(f"no assignment {args.assignment!r} in {args.solutions}/")
    try:
        results = grading.autograde(solution_folder, args.submissions, Path(args.course),
                                    workers=args.workers, timeout=args.timeout,
                                    memory_mb=args.memory_mb, cpu_seconds=args.cpu_seconds,
                                    processes=args.processes, file_mb=args.file_mb, disk_mb=args.disk_mb,
                                    cell_timeout=args.cell_timeout, force=args.force,
                                    feedback=not args.no_feedback, scheduler=args.scheduler,
                                    tls=args.tls,
                                    exchange=(grading.SHARED_ACCOUNT if args.shared_account else True)
                                    if args.exchange else False)
    except ClusterError as err:
        print(f"course-grade: {err}", file=sys.stderr)
        return 2
    csv_path = Path(args.csv or Path(args.course) / f"{args.assignment}.csv")
    grading.export_csv(results, csv_path)
    print(grading.summary(results))
    print(f"grades: {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
