"""The instructor's pipeline around nbgrader: release student notebooks from the solutions,
autograde a folder of submissions (each run in a private working copy inside a jail, judged by
checks outside the student's kernel, with N workers), write feedback without the hidden tests,
and export grades with a per-test breakdown and an integrity report. `course-grade --help`.

course_lib never imports this package; it drives nbgrader over notebooks from beside the library.
"""
