"""The instructor's round trip on 03_softmax: autograde, teaching assistants grade written answers
in nbgrader's gradebook, students resubmit, the instructor changes a test, and the final grades
come out with everybody's manual work intact."""
import csv
import datetime
import json
import os
import shutil
import stat

import pytest

from autograder import grading, gradebook
from notebook_tools import SOLUTIONS, blank, solved, write_submission

NAME = "03_softmax"
ANN_SUBMITTED = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
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
def course(tmp_path_factory, warm_course):
    root = tmp_path_factory.mktemp("round-trip")
    warm_course(NAME, root / "course")
    shutil.copytree(SOLUTIONS / NAME, root / "solutions" / NAME)  # the instructor edits this copy
    ann = write_submission(root / "subs", "ann", NAME, solved(NAME))
    for path in (ann / f"{NAME}.ipynb", ann):  # handed in well before the due date set below
        os.utime(path, (ANN_SUBMITTED.timestamp(), ANN_SUBMITTED.timestamp()))
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
    assert set(rows) == {"ann", "ben", "tab\\tid"}  # a refused name, as it can be shown
    final = gradebook.final_grades(c, NAME)
    assert rows["ann"]["score"] == f"{final['ann']['score']:g}" and float(rows["ann"]["manual"]) == 3
    assert float(rows["ben"]["score"]) == 10 + 4 + 0.5  # autograded, manual, extra credit
    assert rows["tab\\tid"]["status"] == "rejected" and "not a usable student id" in rows["tab\\tid"]["comment"]
    assert rows["tab\\tid"]["score"] == "0" and rows["tab\\tid"]["max_score"] == "14"
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


def test_submissions_live_where_nbgrader_expects_them(course):
    c = course / "course"
    folder = c / "submitted" / "ann" / NAME
    assert (folder / f"{NAME}.ipynb").is_file() and (folder / "submission_secret.txt").is_file()
    assert (folder / "timestamp.txt").read_text() == "2026-11-01 12:00:00.000000 UTC"
    for name in ("timestamp.txt", "submission_secret.txt"):  # where nbgrader's feedback looks
        assert (c / "autograded" / "ann" / NAME / name).read_text() == (folder / name).read_text()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    api = NbGraderAPI(coursedir=CourseDirectory(root=str(c)))
    shown = {s["student"]: s for s in api.get_submissions(NAME)}  # the formgrader's list
    assert shown["ann"]["autograded"] and shown["ann"]["timestamp"].startswith("2026-11-01T12:00:00")
    assert shown["ben"]["autograded"] and api.get_assignment(NAME)["num_submissions"] == 2


def test_late_penalties_follow_the_courses_nbgrader_options(course, tmp_path):
    import subprocess
    import sys
    c = course / "course"
    config = c / "nbgrader_config.py"
    kept = config.read_text()
    with gradebook.opened(c) as gb:  # what the formgrader's "edit due date" does
        gb.update_or_create_assignment(NAME, duedate=ANN_SUBMITTED.replace(tzinfo=None) + datetime.timedelta(days=1))
    config.write_text(kept + '\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    try:
        out = subprocess.run([sys.executable, "-m", "autograder.cli", "export", NAME, "--course", str(c),
                              "--csv", str(tmp_path / "final.csv")], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "final.csv").open())}
        assert rows["ann"]["late_penalty"] == "0" and float(rows["ann"]["score"]) > 0
        assert rows["ann"]["submitted_at"] == "2026-11-01 12:00:00 UTC"
        ben = gradebook.final_grades(c, NAME)["ben"]
        assert rows["ben"]["score"] == "0" and float(rows["ben"]["late_penalty"]) == ben["late_penalty"] > 10
        theirs = {r["student_id"]: r for r in csv.DictReader((c / f"{NAME}-nbgrader.csv").open())}
        assert float(theirs["ben"]["score"]) == 0 and float(theirs["ann"]["score"]) == float(rows["ann"]["score"])
        assert float(theirs["ben"]["late_submission_penalty"]) == ben["late_penalty"]
    finally:
        config.write_text(kept)
        with gradebook.opened(c) as gb:
            gb.update_or_create_assignment(NAME, duedate=None)
        gradebook.assign_late_penalties(c, NAME)


def test_feedback_goes_back_through_nbgraders_exchange(course, tmp_path):
    """A student fetches the release, submits through nbgrader's exchange; the instructor collects
    and autogrades with course-grade (--exchange), releases feedback; the student fetches it."""
    import subprocess
    import sys
    c = course / "course"
    config = c / "nbgrader_config.py"
    kept = config.read_text()
    exchange, home = tmp_path / "exchange", tmp_path / "dee"
    exchange.mkdir()
    home.mkdir()
    config.write_text(kept + f"\nc.Exchange.root = {str(exchange)!r}\n")

    def nbgrader(*args, cwd=c, user="instructor"):  # user: whose cache
        out = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={exchange}",
                              f"--Exchange.cache={tmp_path / 'cache' / user}", "--course=course"],
                             cwd=cwd, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout + out.stderr

    try:
        nbgrader("release_assignment", NAME)
        nbgrader("fetch_assignment", NAME, cwd=home, user="dee")
        (home / NAME / f"{NAME}.ipynb").write_text(json.dumps(solved(NAME)))
        nbgrader("submit", NAME, "--CourseDirectory.student_id=dee", cwd=home, user="dee")  # tests run as root
        # collected by course-grade from the exchange (nbgrader collect would follow links)
        results = grading.autograde(course / "solutions" / NAME, exchange / "course" / "inbound", c,
                                    exchange=True, **dict(QUIET, feedback=True))
        assert (c / "submitted" / "dee" / NAME).is_dir()
        assert results["dee"]["auto_score"] == results["dee"]["auto_max"] > 0
        assert "Grader's report" in (c / "feedback" / "dee" / NAME / f"{NAME}.html").read_text()
        nbgrader("release_feedback", NAME)
        nbgrader("fetch_feedback", NAME, cwd=home, user="dee")
        fetched = list((home / NAME / "feedback").rglob(f"{NAME}.html"))
        assert len(fetched) == 1 and "report" in fetched[0].read_text() and "Grader" in fetched[0].read_text()
    finally:
        config.write_text(kept)


def test_a_teaching_assistant_grades_in_the_formgrader_in_chromium(course, tmp_path):
    """The formgrader, served by Jupyter from the course directory and driven in Chromium: it
    lists the graded submissions with their times, and a manual grade typed there lands in the
    gradebook that course-grade keeps."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _browser_or_skip, _free_port
    _browser_or_skip()
    c = course / "course"
    with gradebook.opened(c) as gb:
        notebook_id = gb.find_submission_notebook(NAME, NAME, "ann").id
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", f"--ServerApp.root_dir={c}"],
        cwd=c, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env=dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime")))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the Jupyter server did not answer within 90 s"
                time.sleep(0.3)
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/formgrader/manage_submissions/{NAME}")
                row = page.locator("tr", has_text="ann").first
                row.wait_for(timeout=60_000)
                assert "2026-11-01 12:00:00" in row.text_content(), row.text_content()
                page.goto(f"{url}/formgrader/submissions/{notebook_id}/?index=0")
                score = page.locator("input.score#question-2")
                score.wait_for(timeout=60_000)
                # The inputs are in the page's HTML before its script fetches the grades and binds a
                # view to each; a change before that is saved by nobody (CI once waited 30 s for
                # a PUT that never came). Type only once the views exist.
                page.wait_for_function("() => window.formgrader && formgrader.grades"
                                       " && formgrader.grades.loaded && formgrader.grade_uis.length > 0",
                                       timeout=60_000)
                # The page may save other inputs as focus moves (a PUT of question-1's unchanged
                # grade once came first and the server was stopped before this one): wait for
                # the PUT that carries the new score.
                def saves_the_new_score(response):
                    if "/formgrader/api/grade/" not in response.url or response.request.method != "PUT":
                        return False
                    sent = json.loads(response.request.post_data or "{}")
                    return sent.get("name") == "question-2" and float(sent.get("manual_score") or -1) == 0.5

                with page.expect_response(saves_the_new_score, timeout=30_000) as put:
                    score.fill("0.5")
                    score.press("Tab")  # the formgrader saves on change
                assert put.value.ok
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    assert grade_cell(c, "ann", "question-2")["manual"] == 0.5


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
