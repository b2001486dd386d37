"""A learner's check of their own notebook against the grader's standard, per function, in seconds:
`course-lib check NOTEBOOK` (a fresh kernel runs the notebook, then the checks) and
`checks.self_check()` (in the learner's own kernel, on the functions defined there).

For every autograded test of the assignment, as the grader does (autograder.worker):
(a) the visible test cell must pass: no exception, nothing on stderr;
(b) the decisive check: the grader's own case (autograder.cases.CASES) makes fresh inputs, the
    test's hidden code (`checks.answer(grade_id, compute)`) has the learner's function compute the
    answers, and the grader's comparison (autograder.cases.decided) gives the problems, hence the
    same messages and points (autograder.cases.credit).
What this needs from the instructor's notebook is data, made by `course-grade release`: one
<assignment>.json beside this file (the released notebook; per test its grade id, points,
functions, hidden code and visible code; autograder.release.selfcheck_data). The released
notebooks in it are also what `course-lib notebooks FOLDER` writes out for a learner who has
the package and no clone of the repository.

Unlike the grader, nothing here is a security boundary: the learner checks their own work. What
the grader's edition withholds is replaced by stubs that raise while a check runs, as in the
grader, so an answer that calls the course's own implementation fails here too; each hidden code
runs in the learner's namespace, whose names are put back afterwards (a hidden code that rebinds
`affine_forward` to the course's layer judges the two-layer net on its own, as the grader does).

The modules: data (the assignments' data), report (results and their text), kernel (the checks,
in the learner's kernel), command (the command lines). This is the one part of course_lib that
uses autograder (installed with it): lazily, inside the functions that check, never at import.
"""
from .command import check_notebook, main, notebook_to_run, notebooks_main, write_notebooks
from .data import DATA, SelfCheckError, assignments, exercise_tests, identify, load, names_not_run, release_text
from .kernel import check_namespace, kernel_report, run_decisive, self_check
from .report import Report, Result

__all__ = ["DATA", "Report", "Result", "SelfCheckError", "assignments", "check_namespace", "check_notebook",
           "exercise_tests", "identify", "kernel_report", "load", "main", "names_not_run", "notebook_to_run",
           "notebooks_main", "release_text", "run_decisive", "self_check", "write_notebooks"]
