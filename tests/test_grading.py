"""The grading pipeline end to end, in a temporary course directory, with real nbgrader runs."""
import csv
import re
from pathlib import Path

import pytest

from autograder import grading
from notebook_tools import NAMES, SOLUTIONS, blank, grade_id, solved, write_submission


def auto_tests(record):
    return {k: v for k, v in record["tests"].items() if v[2] == "auto"}


@pytest.fixture(scope="module")
def svm(tmp_path_factory, warm_course):
    """One class of 02_svm submissions, graded once for the tests below."""
    root = tmp_path_factory.mktemp("svm")
    warm_course("02_svm", root / "course")
    subs = root / "submissions"
    good = solved("02_svm")
    write_submission(subs, "solved", "02_svm", good)
    write_submission(subs, "blank", "02_svm", blank("02_svm"))
    write_submission(subs, "partial", "02_svm", solved("02_svm", broken=("vectorized",)))
    write_submission(subs, "malformed", "02_svm", "{ this is not a notebook")
    write_submission(subs, "tab\tin the name", "02_svm", good)
    results = grading.autograde(SOLUTIONS / "02_svm", subs, root / "course", progress=False,
                                log=lambda *_: None)
    return root, subs, results


def test_solutions_score_full_marks_on_every_autograded_cell(svm):
    record = svm[2]["solved"]
    assert record["status"] == "graded" and record["integrity"] == []
    tests = auto_tests(record)
    assert len(tests) == 3 and all(score == maximum for score, maximum, _ in tests.values()), tests
    assert record["auto_score"] == record["auto_max"] == 8
    assert record["max_score"] == 12  # plus two written answers, graded by hand


def test_no_cache_a_jail_gets_names_a_path_of_the_host(svm):
    """Every Numba cache is copied into jails; one seeded from the checkout's own cache named the
    repository's path in LLVM's comments (a student-style attack read it in the jail). The caches
    hold only entries compiled in jails, at the jail's paths."""
    from notebook_tools import ROOT
    cache = svm[0] / "course" / "numba-cache" / "02_svm"
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert any(p.suffix == ".nbc" for p in files)
    host = [str(ROOT).encode(), str(svm[0]).encode(), str(Path(__file__).resolve().parents[1]).encode()]
    leaking = [str(p) for p in files if any(h in p.read_bytes() for h in host)]
    assert not leaking, leaking[:5]
    assert any(b"/opt/course/lib/course_lib" in p.read_bytes() for p in files if p.suffix == ".nbc")


def test_each_grading_edition_starts_from_the_notebooks_numba_cache_less_what_it_withholds(tmp_path, warm_course):
    """The instructor's run compiles the library once, in the notebook's jail; each test's edition
    then starts from those entries of the files it does not change, instead of compiling them all
    again. Of a file it changes, it holds nothing compiled from the full file: a submission could
    load a withheld kernel from there by hand (a student-style attack did, for 02's _svm_rows and
    06's pool)."""
    from autograder.cases import CASES
    from autograder.edition import with_helpers
    cache = warm_course("06_convnets", tmp_path / "course") / "numba-cache" / "06_convnets"
    notebook = {p.name for p in (cache / "notebook").rglob("*.nbi")}
    compiled = {n.split(".")[1].split("-")[0] for n in notebook}
    assert {"_max_pool", "_conv_images_stride1"} <= compiled, compiled  # kernels at stake were compiled
    editions = [folder for folder in cache.iterdir() if folder.is_dir() and folder.name != "notebook"]
    assert len(editions) == len(CASES["06_convnets"])
    for folder in editions:
        withheld = with_helpers(CASES["06_convnets"][folder.name].withhold)
        changed = {Path(e.split(":")[0]).stem for e in withheld} | {"cuda_kernels"}
        held = {p.name for p in folder.rglob("*.nb[ic]")}
        assert {n for n in notebook if n.split(".")[0] not in changed} <= held, folder.name
        names = {e.split(":")[1].split(".")[-1] for e in withheld}
        assert not [n for n in held if n.split(".")[1].split("-")[0] in names], folder.name


def test_blank_release_scores_zero_without_crashing(svm):
    record = svm[2]["blank"]
    assert record["status"] == "graded" and record["auto_score"] == 0 and record["auto_max"] == 8


def test_partial_submission_gets_exactly_the_points_it_earned(svm):
    tests = auto_tests(svm[2]["partial"])
    assert tests["02_svm:test-vectorized"][0] == 0
    assert svm[2]["partial"]["auto_score"] == 8 - 3
    assert all(s == m for k, (s, m, _) in tests.items() if k != "02_svm:test-vectorized")


def test_malformed_and_badly_named_submissions_are_reported(svm):
    assert svm[2]["malformed"]["status"] == "malformed"
    assert "not a readable notebook" in " ".join(svm[2]["malformed"]["integrity"])
    assert svm[2]["malformed"]["auto_score"] == 0 and svm[2]["malformed"]["auto_max"] == 8
    assert svm[2]["tab\\tin the name"]["status"] == "rejected"  # the name as it can be shown
    assert "not a usable student id" in svm[2]["tab\\tin the name"]["message"]


def test_feedback_shows_scores_but_not_the_hidden_tests(svm):
    html = (svm[0] / "course" / "feedback" / "solved" / "02_svm" / "02_svm.html").read_text()
    text = re.sub(r"<[^>]+>", "", html)
    assert "Score: 3.0 / 3.0" in text
    # the kernel ran the test cells as released: no hidden code was ever there to show
    assert "HIDDEN TESTS" not in text and "decisive answers" not in text and "_answer" not in text
    assert "Grader's report" in text or "Grader&#39;s report" in text
    partial = (svm[0] / "course" / "feedback" / "partial" / "02_svm" / "02_svm.html").read_text()
    assert "raised NotImplementedError on the grader&#39;s inputs" in partial or \
        "raised NotImplementedError on the grader's inputs" in partial

def test_csv_export_has_a_per_test_breakdown(svm, tmp_path):
    path = grading.export_csv(svm[2], tmp_path / "grades.csv")
    rows = {r["student"]: r for r in csv.DictReader(path.open())}
    assert rows["partial"]["02_svm:test-vectorized (3)"] == "0"
    assert rows["partial"]["02_svm:test-naive (3)"] == "3"
    assert rows["solved"]["auto_score"] == "8" and rows["malformed"]["status"] == "malformed"
    assert "not a readable notebook" in rows["malformed"]["integrity"]
    assert "NotImplementedError" in rows["partial"]["failed checks"]
    summary = grading.summary(svm[2])
    assert "partial" in summary and "mean autograded score" in summary


def test_rerun_keeps_grades_and_regrades_only_what_changed(svm):
    root, subs, results = svm
    said = []
    again = grading.autograde(SOLUTIONS / "02_svm", subs, root / "course", progress=False,
                              feedback=False, log=said.append)
    assert "02_svm: 0 submissions to grade, 4 unchanged, 1 refused" in said  # nothing changed: nobody regraded
    assert again["solved"] == results["solved"]
    write_submission(subs, "blank", "02_svm", solved("02_svm"))  # blank resubmits a solution
    said.clear()
    again = grading.autograde(SOLUTIONS / "02_svm", subs, root / "course", progress=False,
                              feedback=False, log=said.append)
    assert "02_svm: 1 submissions to grade, 3 unchanged, 1 refused" in said
    assert again["blank"]["auto_score"] == 8 and again["partial"] == results["partial"]


def test_an_interrupted_run_loses_no_finished_grade(tmp_path, monkeypatch, warm_course):
    subs = tmp_path / "subs"
    warm_course("03_softmax", tmp_path / "course")
    for student in ("ann", "ben", "cid"):
        write_submission(subs, student, "03_softmax", blank("03_softmax"))
    real = grading._record_in_gradebook

    def interrupt_at_ben(course, assignment, student, *args):
        if student == "ben":
            raise KeyboardInterrupt
        return real(course, assignment, student, *args)

    monkeypatch.setattr(grading, "_record_in_gradebook", interrupt_at_ben)
    with pytest.raises(KeyboardInterrupt):
        grading.autograde(SOLUTIONS / "03_softmax", subs, tmp_path / "course", progress=False,
                          feedback=False, log=lambda *_: None)
    assert set(grading.load_results(tmp_path / "course", "03_softmax")) == {"ann"}
    monkeypatch.setattr(grading, "_record_in_gradebook", real)
    said = []
    results = grading.autograde(SOLUTIONS / "03_softmax", subs, tmp_path / "course",
                                progress=False, feedback=False, log=said.append)
    assert "03_softmax: 2 submissions to grade, 1 unchanged, 0 refused" in said
    assert set(results) == {"ann", "ben", "cid"}


# Autograded points of each assignment (02_svm has its own tests above)
AUTO_POINTS = {"01_knn": 12, "03_softmax": 8, "04_fc_nets": 18, "05_batchnorm_dropout": 23,
               "06_convnets": 20, "07_network_visualization": 9, "08_image_features": 5}


def test_every_other_assignment_has_its_points_listed():
    assert sorted(AUTO_POINTS) == [n for n in NAMES if n != "02_svm"]


@pytest.mark.parametrize("name", sorted(AUTO_POINTS))
def test_other_assignments_full_marks_and_zero(name, tmp_path, warm_course):
    """Full marks: the warm course's instructor check grades the instructor's answers through the
    same pipeline and fails unless every autograded test passes (a solved student notebook puts the
    same answer cells in; 02_svm's class above grades one as submitted). Here: a blank release
    scores zero without crashing, the points add up, and a solved notebook raises no integrity note."""
    from autograder import integrity
    from notebook_tools import ASSIGNMENTS, load
    subs = tmp_path / "subs"
    warm_course(name, tmp_path / "course")
    write_submission(subs, "blank", name, blank(name))
    results = grading.autograde(SOLUTIONS / name, subs, tmp_path / "course", progress=False,
                                feedback=False, log=lambda *_: None)
    assert results["blank"]["auto_score"] == 0 and results["blank"]["status"] == "graded"
    assert results["blank"]["auto_max"] == AUTO_POINTS[name]
    release, source_nb = load(ASSIGNMENTS / name / f"{name}.ipynb"), load(SOLUTIONS / name / f"{name}.ipynb")
    assert integrity.structure(release, solved(name)) == [] and integrity.reference_use(source_nb, solved(name)) == {}


def test_a_hanging_submission_is_stopped_and_the_others_graded(tmp_path, warm_course, monkeypatch):
    leftovers = tmp_path / "tmp"  # the runners' TMPDIR: a stopped run must leave nothing in it
    leftovers.mkdir()
    monkeypatch.setenv("TMPDIR", str(leftovers))
    subs = tmp_path / "subs"
    warm_course("03_softmax", tmp_path / "course")
    write_submission(subs, "solved", "03_softmax", solved("03_softmax"))
    hang = solved("03_softmax")
    hang["cells"][2]["source"] += "\nwhile True:\n    pass\n"  # the locked setup cell: restored
    for cell in hang["cells"]:
        if grade_id(cell) == "train":  # ignores the interrupt at the end of the cell time limit
            cell["source"] = ("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                              "    except KeyboardInterrupt:\n        pass\n")
    write_submission(subs, "hangs", "03_softmax", hang)
    results = grading.autograde(SOLUTIONS / "03_softmax", subs, tmp_path / "course", timeout=90,
                                cell_timeout=120, workers=2, progress=False, feedback=False,
                                log=lambda *_: None)
    assert results["hangs"]["status"] == "timeout" and "90 s" in results["hangs"]["message"]
    assert results["solved"]["status"] == "graded"
    assert results["solved"]["auto_score"] == results["solved"]["auto_max"]
    assert results["hangs"]["auto_score"] == 0 and results["hangs"]["auto_max"] == 8
    assert list(leftovers.iterdir()) == []  # no kernel connection file (it holds the kernel's key)


def test_a_name_that_is_no_id_and_a_submission_without_a_readable_time_break_nothing(tmp_path, warm_course):
    import os
    course = warm_course("03_softmax", tmp_path / "course")
    subs = tmp_path / "subs"
    write_submission(subs, "ann", "03_softmax", blank("03_softmax"))
    os.rename(subs / "ann", os.path.join(bytes(subs), b"bad\xff"))  # not UTF-8: the shell shows bad?
    write_submission(subs, "ann", "03_softmax", blank("03_softmax"))
    said = []

    def strict_log(message):  # a terminal that takes only UTF-8
        message.encode("utf-8")
        said.append(message)

    quiet = dict(progress=False, feedback=False, log=strict_log)
    grading.autograde(SOLUTIONS / "03_softmax", subs, course, **quiet)
    # the student's own `nbgrader submit` writes timestamp.txt: a zone nbgrader would drop
    (course / "submitted" / "ann" / "03_softmax" / "timestamp.txt").write_text("2026-12-03 17:00:00 PST")
    results = grading.autograde(SOLUTIONS / "03_softmax", None, course, **quiet)
    assert grading.NO_TIME in results["ann"]["integrity"]
    assert results["bad\\udcff"]["status"] == "rejected" and any("bad\\udcff" in s for s in said)
    with open(grading.export_final(course, "03_softmax", results, tmp_path / "final.csv"), newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert rows["ann"]["submitted_at"] == "unknown" and rows["ann"]["late_penalty"] == "0"
    assert rows["bad\\udcff"]["status"] == "rejected"
    grading.export_csv(results, tmp_path / "grades.csv")


def _kills_its_worker(job):
    """grade_submission's stand-in: the submission "killer" takes its worker process down (as
    the machine's OOM killer would)."""
    import os
    import time
    if job.student == "killer":
        time.sleep(0.3)
        os._exit(1)
    time.sleep(1)  # still running when the killer's worker dies: the pool breaks under them
    return {"student": job.student}, {}


def test_a_submission_that_kills_its_worker_costs_no_one_else_anything(tmp_path):
    from autograder.model import Job
    jobs = [Job(assignment="02_svm", student=name, submission="", digest="", seed="", sources={}, releases={},
                scratch=str(tmp_path), course=str(tmp_path)) for name in ("a", "killer", "b", "c")]
    graded = dict((job.student, outcome) for job, outcome in grading._graded(jobs, 2, grade=_kills_its_worker))
    assert set(graded) == {"a", "killer", "b", "c"}
    assert graded["killer"][0]["status"] == "error" and "worker" in graded["killer"][0]["notes"][0]
    for name in "abc":
        assert graded[name] == ({"student": name}, {}), name
