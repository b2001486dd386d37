"""A decisive run re-runs the cells above its test, each with the notebook's per-cell limit. In a file
of its own: it waits out its students' sleeps (about 2.5 minutes, mostly idle), beside the others."""
from autograder import grading
from notebook_tools import SOLUTIONS, grade_id, solved, write_submission


def test_each_cell_above_a_test_gets_the_cell_limit_in_its_decisive_run_as_in_the_notebook(tmp_path, warm_course):
    """A decisive run re-runs the answer cells above its test, each with the notebook's per-cell
    limit, and its answers get their own clock from when the inputs are sent. A correct submission
    whose three answer cells above test-train each sleep 17.5 s (52.5 s in all, each below the
    20 s cell limit) earns full marks: with one clock of cell_timeout + 30 = 50 s for the whole run
    it earned 0 on test-train. A cell that runs past the limit loses only the test that needs it."""
    subs = tmp_path / "subs"
    warm_course("02_svm", tmp_path / "course")
    slow = solved("02_svm")
    for cell in slow["cells"]:
        if grade_id(cell) in ("naive", "vectorized", "train"):
            cell["source"] += "\nimport time\ntime.sleep(17.5)\n"
    write_submission(subs, "slow", "02_svm", slow)
    late = solved("02_svm")
    for cell in late["cells"]:
        if grade_id(cell) == "train":  # interrupted before it defines train
            cell["source"] = "import time\ntime.sleep(600)\n" + cell["source"]
    write_submission(subs, "late", "02_svm", late)
    results = grading.autograde(SOLUTIONS / "02_svm", subs, tmp_path / "course", cell_timeout=20, workers=2,
                                progress=False, feedback=False, log=lambda *_: None)
    slow, late = results["slow"], results["late"]
    assert slow["status"] == "graded" and slow["auto_score"] == slow["auto_max"] == 8, slow
    assert late["status"] == "graded" and late["auto_score"] == 8 - 2, late
    assert late["tests"]["02_svm:test-train"][0] == 0
