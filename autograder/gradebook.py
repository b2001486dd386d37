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


def record_scores(course, assignment, student, tests, timestamp=None):
    """Put one student's autograded scores ({notebook:grade id: Score}) into the gradebook.

    The submission is created once and then kept (its id, and so the formgrader's links, too): a
    regrade changes autograded scores and nothing else. Flags, as nbgrader's formgrader reads them:
    a written answer needs a manual grade until it has one; an autograded cell needs none, unless
    its score changed after a teaching assistant had graded something in this submission, which
    asks them to review it. `timestamp` (naive UTC) is the submission's time, which the formgrader
    shows and nbgrader's late-submission penalties count from."""
    from nbgrader.api import MissingEntry
    with opened(course) as gb:
        gb.update_or_create_student(student)
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            submission = gb.add_submission(assignment, student)
        submission.timestamp = timestamp
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
        _assign_late_penalties(_late_plugin(course), submission)
        gb.db.commit()


def add_student(course, student):
    """A student with no graded submission (a refused one), so that nbgrader's export lists them."""
    with opened(course) as gb:
        gb.update_or_create_student(student)


def assign_late_penalties(course, assignment):
    """Bring every submission's late penalty up to date with its current score (manual grades
    included), as nbgrader's autograde would have set it."""
    from nbgrader.api import MissingEntry
    with opened(course) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return
        plugin = _late_plugin(course)  # the course's config, read once
        for submission in submissions:
            _assign_late_penalties(plugin, submission)
        gb.db.commit()


def _assign_late_penalties(plugin, submission):
    """nbgrader's rule (AssignLatePenalties) with the plugin and options of the course's own
    nbgrader_config.py: a penalty per notebook, between 0 and the notebook's score, when the
    submission came after its due date (extension included)."""
    seconds = submission.total_seconds_late
    for nb in submission.notebooks:
        nb.late_submission_penalty = None
        if seconds > 0:
            penalty = plugin.late_submission_penalty(submission.student.id, nb.score, seconds)
            if penalty is not None:
                nb.late_submission_penalty = min(max(penalty, 0.0), nb.score)


def _late_plugin(course):
    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    step = AssignLatePenalties(config=config)
    step.init_plugin()
    return step.plugin_inst


def final_grades(course, assignment):
    """{student: {"score", "max_score", "auto", "manual", "extra_credit", "late_penalty",
    "timestamp", "needs_manual_grade", "questions": {notebook:grade id: score}}} for every
    submission in the gradebook. A question's score is the teaching assistant's where they gave
    one, else the autograder's; "score" is their sum plus extra credit less the late penalty."""
    from nbgrader.api import MissingEntry
    grades = {}
    with opened(course) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return grades
        for submission in submissions:
            penalty = submission.late_submission_penalty or 0.0
            row = {"score": -penalty, "max_score": 0.0, "auto": 0.0, "manual": 0.0, "extra_credit": 0.0,
                   "late_penalty": penalty, "needs_manual_grade": False, "questions": {},
                   "timestamp": submission.timestamp}
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
