"""The instructor's round trip on 03_softmax: autograde, teaching assistants grade written answers
in nbgrader's gradebook, students resubmit, the instructor changes a test, and the final grades
come out with everybody's manual work intact."""
import csv
import json
import os
import shutil
import stat

import pytest

from autograder import grading, gradebook
from notebook_tools import SOLUTIONS, blank, solved, write_submission

NAME = "03_softmax"
QUIET = dict(progress=False, feedback=False, log=lambda *_: None)


def grade_cell(course, student, name):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade(name, NAME, NAME, student)
        comment = gb.find_comment(name, NAME, NAME, student) if name.startswith("question") else None
        return {"auto": grade.auto_score, "manual": grade.manual_score, "extra": grade.extra_credit,
                "needs": grade.needs_manual_grade, "comment": comment.manual_comment if comment else None,
                "submission_id": grade.notebook.assignment.id}


def ta_grades(course, student, scores, comment=None, extra=None):
    """What a teaching assistant does in the formgrader, through nbgrader's API."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name, score in scores.items():
            grade = gb.find_grade(name, NAME, NAME, student)
            grade.manual_score, grade.needs_manual_grade = score, False
            if extra and name in extra:
                grade.extra_credit = extra[name]
        if comment:
            gb.find_comment(comment[0], NAME, NAME, student).manual_comment = comment[1]
        gb.db.commit()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("round-trip")
    shutil.copytree(SOLUTIONS / NAME, root / "solutions" / NAME)  # the instructor edits this copy
    write_submission(root / "subs", "ann", NAME, solved(NAME))
    write_submission(root / "subs", "ben", NAME, solved(NAME, broken=("vectorized",)))
    write_submission(root / "subs", "tab\tid", NAME, solved(NAME))  # refused
    grading.autograde(root / "solutions" / NAME, root / "subs", root / "course", **QUIET)
    return root


def test_flags_say_what_needs_a_person(course):
    c = course / "course"
    assert grade_cell(c, "ann", "test-naive")["needs"] is False  # autograded: nothing to do
    assert grade_cell(c, "ann", "question-1")["needs"] is True  # a written answer awaits a grade
    ta_grades(c, "ann", {"question-1": 2, "question-2": 1})
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{c / 'gradebook.db'}") as gb:
        assert gb.find_submission(NAME, "ann").needs_manual_grade is False
        assert gb.find_submission(NAME, "ben").needs_manual_grade is True


def test_manual_work_survives_resubmission_force_and_a_changed_test(course):
    c, subs = course / "course", course / "subs"
    ta_grades(c, "ben", {"question-1": 2, "question-2": 2}, comment=("question-1", "Nice argument."),
              extra={"question-2": 0.5})
    before = grade_cell(c, "ben", "question-1")
    assert grade_cell(c, "ben", "test-vectorized")["auto"] == 0
    write_submission(subs, "ben", NAME, solved(NAME))  # ben resubmits, fixed
    grading.autograde(course / "solutions" / NAME, subs, c, **QUIET)
    after = grade_cell(c, "ben", "question-1")
    assert (after["manual"], after["comment"], after["submission_id"]) == (2, "Nice argument.", before["submission_id"])
    assert grade_cell(c, "ben", "question-2")["extra"] == 0.5
    vectorized = grade_cell(c, "ben", "test-vectorized")
    assert vectorized["auto"] == 3 and vectorized["needs"] is True  # changed after a TA graded: review
    grading.autograde(course / "solutions" / NAME, subs, c, force=True, **QUIET)
    assert grade_cell(c, "ben", "question-1")["manual"] == 2
    # the instructor raises test-train from 2 to 4 points: everybody is regraded
    path = course / "solutions" / NAME / f"{NAME}.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test-train":
            cell["metadata"]["nbgrader"]["points"] = 4
    path.write_text(json.dumps(nb))
    said = []
    results = grading.autograde(course / "solutions" / NAME, subs, c, **dict(QUIET, log=said.append))
    assert f"{NAME}: 2 submissions to grade, 0 unchanged, 1 refused" in said
    assert results["ann"]["auto_score"] == results["ann"]["auto_max"] == 10
    assert grade_cell(c, "ann", "test-train")["auto"] == 4
    assert grade_cell(c, "ben", "question-1")["manual"] == 2 and grade_cell(c, "ann", "question-2")["manual"] == 1


def test_one_export_has_everyone_with_final_grades(course, tmp_path):
    c = course / "course"
    results = grading.load_results(c, NAME)
    path = grading.export_final(c, NAME, results, tmp_path / "final.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(path.open())}
    assert set(rows) == {"ann", "ben", "tab\tid"}
    final = gradebook.final_grades(c, NAME)
    assert rows["ann"]["score"] == f"{final['ann']['score']:g}" and float(rows["ann"]["manual"]) == 3
    assert float(rows["ben"]["score"]) == 10 + 4 + 0.5  # autograded, manual, extra credit
    assert rows["tab\tid"]["status"] == "rejected" and "not a usable student id" in rows["tab\tid"]["comment"]
    assert rows["tab\tid"]["score"] == "0" and rows["tab\tid"]["max_score"] == "14"
    assert oct(stat.S_IMODE(os.stat(path).st_mode)) == oct(0o666 & ~_umask())
    assert oct(stat.S_IMODE(os.stat(c / "results" / f"{NAME}.json").st_mode)) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_export_from_the_command_line(course):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "autograder.cli", "export", NAME, "--course", str(course / "course")],
                         capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert (course / "course" / f"{NAME}-final.csv").exists()
    assert blank(NAME)  # the release is still there to hand out


def test_the_instructors_config_is_kept_and_nbgraders_own_autograde_refuses(course):
    import subprocess
    import sys
    c = course / "course"
    config = c / "nbgrader_config.py"
    config.write_text(config.read_text() + '\nc.Exchange.root = "/srv/nbgrader/exchange"\n')
    grading.prepare(c, course / "solutions" / NAME)  # what every grading run does first
    text = config.read_text()
    assert 'c.Exchange.root = "/srv/nbgrader/exchange"' in text and "course_id = 'course'" in text
    assert text.count("course-grade: rewritten") == 1
    # nbgrader's autograde, which the formgrader's Autograde button runs, stops before any cell
    marker = course / "ran-on-the-host"
    nb = solved(NAME)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "naive":
            cell["source"] = f"open({str(marker)!r}, 'w').write('x')\n" + "".join(cell["source"])
    folder = c / "submitted" / "eve" / NAME
    folder.mkdir(parents=True)
    (folder / f"{NAME}.ipynb").write_text(json.dumps(nb))
    out = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", NAME, "--student=eve",
                          f"--CourseDirectory.root={c}"], cwd=c, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "switched off in this course" in out.stdout + out.stderr
    assert not marker.exists()
    config.write_text(config.read_text() + "\nc.Exchange.root = \n")  # a slip of the instructor's
    with pytest.raises(grading.NbgraderError, match="syntax error"):
        grading.prepare(c, course / "solutions" / NAME)
