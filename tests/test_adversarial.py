"""The grader against hostile submissions (tests/adversarial.py), graded with two workers: every
entry gets exactly its score, nothing outside a submission's working copy is read, written or
reached over the network, and a serial run gives identical grades."""
import http.server
import shutil
import threading

import nbformat
import pytest

from adversarial import NAME, corpus
from autograder import grading
from notebook_tools import SOLUTIONS, write_submission

LIMITS = dict(cell_timeout=10, timeout=150, memory_mb=3000, processes=64, progress=False,
              log=lambda *_: None)


class Recorder(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):  # noqa: N802 - the http.server API
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial")
    solutions, subs, course = root / "solutions", root / "submissions", root / "course"
    shutil.copytree(SOLUTIONS / NAME, solutions / NAME)  # vandals aim at it: never the repo's own
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    paths = {"read": [str(course / "gradebook.db"), str(course / "source" / NAME / f"{NAME}.ipynb"),
                      str(course / ".grader-secret"), str(solutions / NAME / f"{NAME}.ipynb"),
                      str(subs / "honest" / f"{NAME}.ipynb"), str(course / "results"), "/root"],
             "write": [str(course / "gradebook.db"), str(subs / "honest" / f"{NAME}.ipynb"),
                       str(course / "results"), str(solutions / NAME), str(course / "source")]}
    entries = corpus(paths, server.server_address[1])
    for entry in entries:
        write_submission(subs, entry.student, NAME, entry.notebook)
    honest = (subs / "honest" / f"{NAME}.ipynb").read_bytes()
    results = grading.autograde(solutions / NAME, subs, course, workers=2, **LIMITS)
    server.shutdown()
    return {"root": root, "entries": {e.student: e for e in entries}, "results": results,
            "honest": honest}


ENTRIES = [e.student for e in corpus({"read": [], "write": []}, 0)]


@pytest.mark.parametrize("student", ENTRIES)
def test_each_attack_gets_exactly_its_score(graded, student):
    entry, record = graded["entries"][student], graded["results"][student]
    assert record["status"] == entry.status, record["message"]
    assert record["auto_score"] == entry.score, (record["checks"], record["integrity"])
    assert record["auto_max"] == 8
    report = " | ".join(record["integrity"])
    for finding in entry.findings:
        assert finding in report, report
    for test, reason in entry.failed.items():
        problems = " | ".join(record["checks"][f"{NAME}:{test}"])
        assert reason in problems, problems


def test_nothing_outside_the_working_copy_was_changed(graded):
    root = graded["root"]
    assert (root / "submissions" / "honest" / f"{NAME}.ipynb").read_bytes() == graded["honest"]
    assert (root / "solutions" / NAME / f"{NAME}.ipynb").exists()
    saved = grading.load_results(root / "course", NAME)
    assert saved["honest"]["auto_score"] == 8 and set(saved) == set(ENTRIES)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'course' / 'gradebook.db'}") as gb:
        assert gb.find_submission(NAME, "honest").score == 8
        assert gb.find_submission(NAME, "vandal").score == 8


def test_no_submission_reached_the_network(graded):
    assert Recorder.hits == []


def test_process_and_output_limits_held(graded):
    autograded = graded["root"] / "course" / "autograded"
    forks = nbformat.read(autograded / "fork-bomb" / NAME / f"{NAME}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in forks.cells for o in c.get("outputs", []))
    children = int(printed.split("forks stopped after ")[1].split()[0])
    assert children < LIMITS["processes"]
    assert (autograded / "huge-output" / NAME / f"{NAME}.ipynb").stat().st_size < 2_000_000


def test_the_report_reaches_csv_and_feedback(graded, tmp_path):
    import csv
    rows = {r["student"]: r for r in csv.DictReader(grading.export_csv(graded["results"], tmp_path / "g.csv").open())}
    assert "reference.svm_loss_vectorized" in rows["calls-reference"]["integrity"]
    assert "reference implementation" in rows["calls-reference"]["failed checks"]
    html = (graded["root"] / "course" / "feedback" / "calls-reference" / NAME / f"{NAME}.html").read_text()
    assert "Grader&#39;s report" in html or "Grader's report" in html
    assert "uses the reference implementation" in html


def test_serial_grading_gives_the_same_grades(graded, tmp_path):
    """Two workers or one: the same records (the same secret, so the same inputs)."""
    root = graded["root"]
    some = ["honest", "blank", "monkeypatch", "renamed-answer", "calls-reference"]
    subs = tmp_path / "submissions"
    for student in some:
        shutil.copytree(root / "submissions" / student, subs / student)
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(root / "course" / ".grader-secret", course / ".grader-secret")
    serial = grading.autograde(root / "solutions" / NAME, subs, course, workers=1, feedback=False, **LIMITS)
    for student in some:
        parallel = {k: v for k, v in graded["results"][student].items() if k != "feedback"}
        assert serial[student] == parallel, student


def test_every_test_cell_of_every_assignment_has_a_decisive_check():
    from autograder.cases import CASES
    from autograder.integrity import graded_cells, is_test
    from notebook_tools import NAMES, load
    for name in NAMES:
        tests = {gid for gid, cells in graded_cells(load(SOLUTIONS / name / f"{name}.ipynb")).items()
                 if is_test(cells[0])}
        assert tests == set(CASES[name]), name


def test_answers_are_read_without_pickles_or_unbounded_unpacking(tmp_path, monkeypatch):
    import numpy as np

    from autograder import worker
    np.savez(tmp_path / "plain.npz", out0=np.arange(3.0), out1=np.float64(2.5))
    got = worker._read_answers(tmp_path / "plain.npz")
    assert len(got) == 2 and got[1] == 2.5 and list(got[0]) == [0, 1, 2]
    np.savez(tmp_path / "pickled.npz", out0=np.array([object()], dtype=object))
    assert worker._read_answers(tmp_path / "pickled.npz") is None
    np.savez_compressed(tmp_path / "bomb.npz", out0=np.zeros(10_000))  # 80 kB unpacked, tiny packed
    monkeypatch.setattr(worker, "MAX_ANSWERS_BYTES", 50_000)
    assert worker._read_answers(tmp_path / "bomb.npz") is None
    assert worker._read_answers(tmp_path / "missing.npz") is None
