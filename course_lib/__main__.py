"""course-lib (or python -m course_lib): train the course's classifiers on the embedded digits
and print a table.

The learner's commands (each has its own --help):
  course-lib notebooks FOLDER      the student notebooks, written into FOLDER (yours are kept)
  course-lib check NOTEBOOK.ipynb  check a notebook as the grader would, per function, on fresh inputs
  course-lib site [--instructor]   the course as a static HTML site"""
import argparse
import sys

from . import BACKENDS, use_backend
from .demo import format_table, run_all


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:
        from .selfcheck import main as check
        return check(argv[1:])
    if argv[:1] == ["notebooks"]:
        from .selfcheck import notebooks_main
        return notebooks_main(argv[1:])
    if argv[:1] == ["site"]:  # course-lib site [--out DIR] [--instructor]: the course as HTML
        from .site import main as site_main
        return site_main(argv[1:])
    parser = argparse.ArgumentParser(prog="course-lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="compute backend (default: numba, or $COURSE_LIB_BACKEND)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    args = parser.parse_args(argv)
    if args.backend:
        use_backend(args.backend)
    from .backend import get_backend
    print(f"digits (1,797 8x8 images, 10 classes): 1257 train / 180 val / 360 test; "
          f"backend {get_backend()}")
    print(format_table(run_all(args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
