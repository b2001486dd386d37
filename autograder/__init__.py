"""The instructor's pipeline around nbgrader: release student notebooks from the solutions,
autograde a folder of submissions (each in its own process, with limits), write feedback without
the hidden tests, and export grades with a per-test breakdown. `course-grade --help` for the CLI.

course_lib never imports this package; it drives nbgrader over notebooks from beside the library.
"""
