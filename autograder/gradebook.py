"""nbgrader's gradebook, as the grader keeps it: autograded scores go in; manual grades, comments
and extra credit stay as the teaching assistants left them; final grades come out.

Only the grader's main process writes here (the formgrader writes the manual grades).
"""
import warnings
from contextlib import contextmanager

from .model import AUTO


@contextmanager
def opened(course):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from inside nbgrader's API
        yield gb


def record_scores(course, assignment, student, tests):
    """Put one student's autograded scores ({notebook:grade id: Score}) into the gradebook.

    The submission is created once and then kept (its id, and so the formgrader's links, too): a
    regrade changes autograded scores and nothing else. Flags, as nbgrader's formgrader reads them:
    a written answer needs a manual grade until it has one; an autograded cell needs none, unless
    its score changed after a teaching assistant had graded something in this submission, which
    asks them to review it."""
    from nbgrader.api import MissingEntry
    with opened(course) as gb:
        gb.update_or_create_student(student)
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            submission = gb.add_submission(assignment, student)
        grades = [(f"{nb.name}:{g.name}", g) for nb in submission.notebooks for g in nb.grades]
        touched = any(g.manual_score is not None for _, g in grades)
        for key, grade in grades:
            score = tests.get(key)
            if score is None or score[2] != AUTO:
                grade.needs_manual_grade = grade.manual_score is None
                continue
            changed = grade.auto_score is not None and grade.auto_score != score[0]
            grade.auto_score = score[0]
            grade.needs_manual_grade = bool(touched and (changed or grade.needs_manual_grade))
        gb.db.commit()


def final_grades(course, assignment):
    """{student: {"score", "max_score", "auto", "manual", "extra_credit", "needs_manual_grade",
    "questions": {notebook:grade id: score}}} for every submission in the gradebook. A question's
    score is the teaching assistant's where they gave one, else the autograder's."""
    from nbgrader.api import MissingEntry
    grades = {}
    with opened(course) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return grades
        for submission in submissions:
            row = {"score": 0.0, "max_score": 0.0, "auto": 0.0, "manual": 0.0, "extra_credit": 0.0,
                   "needs_manual_grade": False, "questions": {}}
            for nb in submission.notebooks:
                for g in nb.grades:
                    # nbgrader's rule: the manual score overrides the auto one; extra credit is added
                    score = g.score or 0.0
                    row["questions"][f"{nb.name}:{g.name}"] = score
                    row["score"] += score
                    row["extra_credit"] += g.extra_credit or 0.0
                    row["max_score"] += g.max_score
                    row["manual" if g.manual_score is not None or g.auto_score is None else "auto"] += score
                    row["needs_manual_grade"] |= bool(g.needs_manual_grade)
            grades[submission.student.id] = row
    return grades
