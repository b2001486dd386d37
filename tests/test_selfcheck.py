"""The learner's self-check (course_lib.selfcheck): `course-lib check NOTEBOOK` and
`checks.self_check()` grade a notebook as the grader does, per function, on fresh inputs, with the
grader's messages and points, from data made at release time (course_lib/selfcheck/*.json)."""
import json
import re
import shutil

import nbformat
import numpy as np
import pytest

from autograder import release
from autograder.cases import CASES, credit
from course_lib import selfcheck
from notebook_tools import ASSIGNMENTS, NAMES, SOLUTIONS, blank, grade_id, load, solved, source

DATA = selfcheck.DATA


# ---------------------------------------------------------------- the release data
def test_the_self_check_data_is_in_sync_with_the_solutions():
    """course_lib/selfcheck/ is what `course-grade release` makes (the full check, with nbgrader,
    is test_notebooks.py's test_release_is_in_sync_with_the_solutions, which now covers it too)."""
    assert release.selfcheck_differences(SOLUTIONS, ASSIGNMENTS) == []
    assert selfcheck.assignments() == NAMES


def test_data_out_of_sync_is_found(tmp_path):
    for path in DATA.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    data = json.loads((tmp_path / "02_svm.json").read_text())
    data["tests"][0]["points"] += 1
    (tmp_path / "02_svm.json").write_text(json.dumps(data))
    (tmp_path / "03_softmax.json").unlink()
    (tmp_path / "09_gone.json").write_text("{}")
    found = release.selfcheck_differences(SOLUTIONS, ASSIGNMENTS, tmp_path)
    assert found == [f"{tmp_path / '02_svm.json'} differs", f"{tmp_path / '03_softmax.json'} is missing",
                     f"{tmp_path / '09_gone.json'} has no source in {SOLUTIONS}"]


def test_the_data_is_listed_as_package_data():
    text = (SOLUTIONS.parent / "pyproject.toml").read_text()
    assert '"course_lib.selfcheck" = ["*.json"]' in text


@pytest.mark.parametrize("name", NAMES)
def test_the_data_holds_every_test_and_no_answer(name):
    data = selfcheck.load(name)
    source_nb = load(SOLUTIONS / name / f"{name}.ipynb")
    tests = [(grade_id(c), float(c["metadata"]["nbgrader"]["points"])) for c in source_nb["cells"]
             if c["metadata"].get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]
    assert [(t["grade_id"], t["points"]) for t in data["tests"]] == tests
    assert set(CASES[name]) == {t["grade_id"] for t in data["tests"]}
    text = json.dumps(data)
    for test in data["tests"]:
        assert f'checks.answer("{test["grade_id"]}"' in test["hidden"] and test["functions"], test["grade_id"]
    for cell in source_nb["cells"]:  # no line of any answer region is shipped
        if cell["metadata"].get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
            region = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source(cell), re.S)
            for line in (region.group(1).splitlines() if region else []):
                if len(line.strip()) > 25 and line.strip() not in "".join(source(c) for c in blank(name)["cells"]):
                    assert json.dumps(line.strip())[1:-1] not in text, (name, line)


# ---------------------------------------------------------------- which notebook, and bad input
def test_a_notebook_is_known_by_its_cells_then_its_name(tmp_path):
    for name in NAMES:
        assert selfcheck.identify(blank(name), "renamed.ipynb") == name
    softmax = blank("03_softmax")
    for cell in softmax["cells"]:
        cell.pop("id", None)
    assert selfcheck.identify(softmax, "mine.ipynb") == "03_softmax"  # grade ids as 02_svm's: its functions
    bare = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}
    assert selfcheck.identify(bare, "03_softmax.ipynb") == "03_softmax"
    with pytest.raises(selfcheck.SelfCheckError, match="not one of the course's notebooks.*01_knn, 02_svm"):
        selfcheck.identify(bare, "mine.ipynb")


def test_the_notebook_run_is_the_graders(tmp_path):
    """Answer cells are the learner's, test cells as released, added cells left out, DATASET kept."""
    nb = solved("01_knn")
    for cell in nb["cells"]:
        if grade_id(cell) == "test-two-loops":
            cell["source"] = "pass  # the learner emptied the test"
        if grade_id(cell) == "setup":
            cell["source"] = source(cell).replace('DATASET = "digits"', 'DATASET = "cifar10"')
    nb["cells"].insert(3, {"cell_type": "code", "id": "mine", "metadata": {}, "outputs": [],
                           "execution_count": None, "source": "print('added')"})
    ran = selfcheck.notebook_to_run(selfcheck.load("01_knn"), nb)
    sources = {grade_id(c): source(c) for c in ran["cells"] if grade_id(c)}
    assert "compute_distances_two_loops(" in sources["test-two-loops"]
    assert 'DATASET = "cifar10"' in sources["setup"]
    assert sources["two-loops"] == next(source(c) for c in nb["cells"] if grade_id(c) == "two-loops")
    assert not any("print('added')" in source(c) for c in ran["cells"])
    assert len(ran["cells"]) == len(selfcheck.load("01_knn")["release"]["cells"])  # the added cell is not run


def test_bad_paths_say_what_is_wrong(tmp_path, capsys):
    (tmp_path / "notes.ipynb").write_text("not json")
    (tmp_path / "mine.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (tmp_path / "folder").mkdir()
    expected = {"missing.ipynb": "no such file", "notes.ipynb": "is not a notebook (not JSON",
                "mine.ipynb": "is not one of the course's notebooks (none of its graded cells is one of theirs); "
                              "the course's assignments are 01_knn, 02_svm", "folder": "is a folder"}
    for path, says in expected.items():
        assert selfcheck.main([str(tmp_path / path)]) == 1
        err = capsys.readouterr().err
        assert says in err, err


def test_course_lib_without_a_subcommand_still_runs_the_demo(monkeypatch, capsys):
    import course_lib.__main__ as entry
    monkeypatch.setattr(entry, "run_all", lambda seed: [])
    monkeypatch.setattr(entry, "format_table", lambda rows: f"table of {len(rows)}")
    assert entry.main(["--seed", "1"]) == 0
    assert "table of 0" in capsys.readouterr().out
    assert entry.main(["check", "/nonexistent.ipynb"]) == 1
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- the notebooks, for a learner without a clone
def test_the_notebooks_come_out_of_the_package_as_released(tmp_path, capsys):
    assert selfcheck.notebooks_main([str(tmp_path)]) == 0
    for name in NAMES:
        written = tmp_path / name / f"{name}.ipynb"
        assert written.read_bytes() == (ASSIGNMENTS / name / f"{name}.ipynb").read_bytes(), name
    assert f"jupyter lab {tmp_path}" in capsys.readouterr().out


def test_the_learners_notebooks_are_never_overwritten(tmp_path, capsys):
    mine = tmp_path / "02_svm" / "02_svm.ipynb"
    mine.parent.mkdir()
    mine.write_text("my work")
    assert selfcheck.write_notebooks(tmp_path, ["01_knn", "02_svm"]) == [tmp_path / "01_knn" / "01_knn.ipynb"]
    assert mine.read_text() == "my work"
    assert selfcheck.notebooks_main([str(tmp_path), "02_svm"]) == 0
    assert mine.read_text() == "my work" and f"kept {mine}" in capsys.readouterr().out
    assert not list(tmp_path.rglob("*.partial"))


def test_an_unknown_assignment_names_the_course_s(tmp_path, capsys):
    assert selfcheck.notebooks_main([str(tmp_path), "01_knn", "09_gans"]) == 1
    err = capsys.readouterr().err
    assert "no assignment '09_gans'; the course's assignments are 01_knn, 02_svm" in err
    assert not (tmp_path / "01_knn").exists()  # nothing written when the request is wrong


def test_fix_first_is_a_written_function_and_verbose_shows_every_problem():
    from course_lib.selfcheck import Report, Result
    blank = Result("test-naive", ["svm_loss_naive"], 3.0, 0.0, ["test cell raised NotImplementedError"],
                   "svm_loss_naive is not written yet: replace the line")
    wrong = Result("test-vectorized", ["svm_loss_vectorized"], 3.0, 0.0,
                   ["with reg=0.1: dW is off " + "x" * 200, "with reg=0: loss is off"], "")
    report = Report("02_svm", [blank, wrong, Result("test-train", ["train"], 2.0, 2.0, [])])
    assert report.first_failure() is wrong  # a wrong answer is nearer to its points than a blank one
    short, full = report.text(), report.text(verbose=True)
    assert "Fix svm_loss_vectorized first" in short and "--verbose" in short
    assert "x" * 200 not in short.split("Fix ")[0]  # the table cuts it
    assert "  - with reg=0.1: dW is off " + "x" * 200 in full and "  - with reg=0: loss is off" in full
    assert "test-naive (svm_loss_naive, 0 of 3 points):" in full and "test-train (" not in full
    assert Report("02_svm", [blank]).first_failure() is blank


@pytest.mark.slow
def test_a_learner_with_the_wheel_alone_gets_the_notebooks_and_checks_them(tmp_path):
    """pip install, no clone: the wheel built from the repository's files, unpacked where Python
    finds it first, with no repository on the path, writes the notebooks and checks one."""
    import subprocess
    import sys
    import zipfile
    root, src = SOLUTIONS.parent, tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for part in ("course_lib", "autograder"):
        shutil.copytree(root / part, src / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(root / part, src / part)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next((tmp_path / "dist").glob("course_lib-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"course_lib/selfcheck/{n}.json" for n in NAMES} <= set(names)
    assert {f"course_lib/guide_data/{n}.json" for n in NAMES} <= set(names)
    assert not any(n.startswith(("solutions/", "assignments/", "tests/")) for n in names)
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "site")

    def course_lib(*args):
        return subprocess.run([sys.executable, "-m", "course_lib", *args], cwd=home, env=env,
                              capture_output=True, text=True, timeout=600)
    where = subprocess.run([sys.executable, "-c", "import course_lib; print(course_lib.__file__)"], cwd=home,
                           env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(tmp_path / "site")), where.stdout + where.stderr
    guide = subprocess.run([sys.executable, "-c", (
        "from course_lib import guide, selfcheck\n"
        "for name in selfcheck.assignments():\n"
        "    for gid in selfcheck.exercise_tests(selfcheck.load(name)):\n"
        "        entry = guide.exercise(name, gid)\n"
        "        assert 2 <= len(entry['hints']) <= 3 and entry['walkthrough'] and entry['solution'], (name, gid)\n"
        "    assert guide.reading(name), name\n"
        "print('guides ok')")], cwd=home, env=env, capture_output=True, text=True, timeout=120)
    assert guide.stdout.strip() == "guides ok", guide.stdout + guide.stderr
    run = course_lib("notebooks", "my-course")
    assert run.returncode == 0, run.stderr
    assert (home / "my-course" / "08_image_features" / "08_image_features.ipynb").read_bytes() == \
        (ASSIGNMENTS / "08_image_features" / "08_image_features.ipynb").read_bytes()
    run = course_lib("check", "my-course/08_image_features/08_image_features.ipynb")
    assert run.returncode == 1, run.stderr
    assert "08_image_features: 0 of 5 autograded points" in run.stdout, run.stdout + run.stderr
    assert "Not written yet: hog_features; colour_histogram." in run.stdout


# ---------------------------------------------------------------- the same points as the grader
@pytest.fixture
def main_module_kept():
    """IPython's shell makes its namespace sys.modules["__main__"]; put the real one back."""
    import sys
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def _namespace(nb):
    """A shell that ran the notebook's setup and answer cells, as a learner's kernel has them."""
    from autograder.submission import phase_cells
    from test_mistakes import Kernel
    kernel = Kernel()
    for code in phase_cells(nb, len(nb["cells"])):
        kernel.run(code)
    return kernel.shell.user_ns


@pytest.mark.parametrize("mistake", ["SVM gradient not averaged", "ReLU gradient 1 at exactly 0",
                                     "dropout mask left boolean and divided by p"])
def test_self_check_gives_the_points_the_grader_gives(mistake, main_module_kept):
    """The grader's judgement, computed by the mistake corpus's own harness (test_mistakes.py)
    from autograder.cases on the same inputs, against check_namespace's."""
    import test_mistakes as corpus
    found = next(m for m in corpus.CORPUS + corpus.SLIPS if m.name == mistake)
    nb = corpus.assembled(found.assignment, corpus.with_mistake(found))
    judged = (found.test, *found.unaffected)
    points = {t["grade_id"]: t["points"] for t in selfcheck.load(found.assignment)["tests"]}
    report = selfcheck.check_namespace(found.assignment, _namespace(nb), visible={g: (True, "") for g in judged},
                                       seed=0, only=judged)
    mine = {r.grade_id: r for r in report.results}
    for gid in judged:
        theirs = corpus.decisive_problems(found.assignment, nb, gid, seed=0)
        assert mine[gid].earned == credit(points[gid], theirs), (gid, mine[gid].problems, theirs)
        if len(CASES[found.assignment][gid].configurations(np.random.default_rng(0))) == 1:
            assert mine[gid].problems == theirs, gid  # the grader's very messages
    assert mine[found.test].earned < points[found.test]
    assert all(mine[g].earned == points[g] for g in found.unaffected)


def test_in_cell_self_check_on_the_learners_functions(tmp_path, monkeypatch, main_module_kept):
    """checks.self_check() in a kernel that ran the notebook (one function left unwritten): the
    visible test cells run again on the kernel's state, the hidden ones on fresh inputs; the
    kernel's names are as they were afterwards."""
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance(colors="NoColor")
    shell.enable_gui = lambda gui=None: None
    shell.reset(new_session=True)
    for cell in solved("01_knn", broken=("one-loop",))["cells"]:
        if cell["cell_type"] == "code":
            shell.run_cell(source(cell), silent=True)
    before = dict(shell.user_ns)
    result = shell.run_cell("from course_lib import checks\nreport = checks.self_check()")
    report = shell.user_ns["report"]
    assert result.error_in_exec is None
    assert [(r.grade_id, r.earned) for r in report.results] == [
        ("test-two-loops", 2), ("test-one-loop", 0), ("test-no-loops", 3), ("test-predict", 3),
        ("test-cross-validate", 2)]
    text = report.text()
    assert "01_knn: 10 of 12 autograded points" in text
    assert "Fix compute_distances_one_loop first (test-one-loop, 0 of 2 points): test cell raised " \
           "NotImplementedError" in text
    assert "raised NotImplementedError on the grader's inputs" in text
    assert "Not written yet: compute_distances_one_loop." in text
    assert all(shell.user_ns[k] is v for k, v in before.items() if not k.startswith("_"))
    assert checks_answer_is_the_notebooks()
    from course_lib import guide  # a test passed in full opens its exercises' walkthroughs
    assert guide.passed("01_knn", "two-loops") and guide.passed("01_knn", "no-loops")
    assert not guide.passed("01_knn", "one-loop")


def test_in_cell_self_check_leaves_out_what_cells_the_learner_added_define(tmp_path, monkeypatch, main_module_kept):
    """A helper defined in a cell the learner added passes in their kernel and fails in the
    grader's run (which never runs that cell): with the saved notebook at hand (JupyterLab's
    __session__), self_check leaves such names out too and says why; without it, it says what
    it cannot know."""
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.chdir(tmp_path)
    nb = solved("02_svm")
    at = next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == "vectorized")
    answer = nb["cells"][at]
    answer["source"] = source(answer).replace("def svm_loss_vectorized(", "def _mine(") + \
        "\n\ndef svm_loss_vectorized(W, X, y, reg):\n    return my_helper(W, X, y, reg)\n"
    nb["cells"].insert(at, nbformat.v4.new_code_cell("my_helper = lambda W, X, y, reg: _mine(W, X, y, reg)"))
    (tmp_path / "02_svm.ipynb").write_text(json.dumps(nb))
    shell = InteractiveShell.instance(colors="NoColor")
    shell.enable_gui = lambda gui=None: None
    shell.reset(new_session=True)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            shell.run_cell(source(cell), silent=True)
    shell.run_cell("from course_lib import checks")
    unknown = shell.run_cell("checks.self_check('02_svm')").result
    assert dict((r.grade_id, r.earned) for r in unknown.results)["test-vectorized"] == 3
    assert "`course-lib check NOTEBOOK` in a terminal runs the notebook as the grader does" in unknown.text()
    shell.user_ns["__session__"] = "02_svm.ipynb"  # what JupyterLab's kernel is told
    known = shell.run_cell("checks.self_check()").result
    vectorized = next(r for r in known.results if r.grade_id == "test-vectorized")
    assert vectorized.earned == 0 and "made in a cell you added" in vectorized.note, vectorized
    assert "runs the notebook as the grader does" not in known.text()
    assert callable(shell.user_ns["my_helper"])  # put back afterwards


def test_a_warning_on_stderr_is_quoted_in_the_test_cells_verdict():
    from autograder.submission import cell_passed
    warned = {"execution_count": 3, "outputs": [{"output_type": "stream", "name": "stderr", "text":
              "/tmp/ipykernel_7/1.py:3: RuntimeWarning: divide by zero encountered in scalar divide\n"
              "  _ = np.float32(1) / np.float32(0)\n"}]}
    passed, why = cell_passed(warned)
    assert not passed and why.startswith("wrote to stderr: ") and "RuntimeWarning: divide by zero" in why


def checks_answer_is_the_notebooks():
    from course_lib import checks
    return checks.answer("x", None) is None and checks.answer.__module__ == "course_lib.checks"


def test_answers_that_call_the_withheld_library_fail_as_in_the_grader(main_module_kept):
    """An answer that calls the course's own implementation gets nothing, as in the grader's
    edition, and says why; the library works again afterwards."""
    from course_lib.classifiers import linear
    nb = solved("02_svm")
    for cell in nb["cells"]:
        if grade_id(cell) == "vectorized":
            cell["source"] = ("from course_lib.classifiers.linear import svm_loss_vectorized as _mine\n"
                              "def svm_loss_vectorized(W, X, y, reg):\n    return _mine(W, X, y, reg)\n")
    report = selfcheck.check_namespace("02_svm", _namespace(nb), visible={"test-vectorized": (True, "")},
                                       only=("test-vectorized",))
    (result,) = report.results
    assert result.earned == 0 and result.problems == ["raised NotImplementedError on the grader's inputs"]
    assert "withholds while it grades this test" in result.note
    W, X, y = np.zeros((3, 2)), np.ones((4, 3)), np.array([0, 1, 0, 1])
    assert linear.svm_loss_vectorized(W, X, y, 0.0)[0] == pytest.approx(1.0)


def test_a_name_only_an_explanation_cell_binds_is_not_there_as_in_the_grader(main_module_kept):
    """The grader's run of a test has the setup and answer cells above it, not the notebook's other
    cells: an answer that reads a variable one of those made fails there, and here."""
    nb = solved("01_knn")
    for cell in nb["cells"]:
        if grade_id(cell) == "two-loops":
            cell["source"] = "def compute_distances_two_loops(X, X_train):\n    return dists[:len(X), :len(X_train)]\n"
    ns = _namespace(nb)
    ns["dists"] = np.zeros((100, 100))  # as an explanation cell of 01_knn leaves it
    assert "dists" in selfcheck.names_not_run(selfcheck.load("01_knn"), "test-two-loops")
    report = selfcheck.check_namespace("01_knn", ns, visible={"test-two-loops": (True, "")}, only=("test-two-loops",))
    assert report.results[0].problems == ["raised NameError on the grader's inputs"]
    assert "name 'dists' is not defined" in report.results[0].note
    assert ns["dists"].shape == (100, 100)  # and it is back


def test_a_function_that_never_returns_is_stopped_as_in_the_grader():
    test = next(t for t in selfcheck.load("04_fc_nets")["tests"] if t["grade_id"] == "test-momentum")
    ns = {}
    exec("import numpy as np\nfrom course_lib import checks\n"
         "def sgd_momentum(w, dw, config=None):\n    while True:\n        pass\n", ns)
    problems, note = selfcheck.run_decisive("04_fc_nets", test, ns, np.random.default_rng(0), seconds=0.5)
    assert problems == ["no answers: the grader's run of this test ran out of time"]
    assert "longer than 0.5 s" in note
    assert sorted(ns) == ["__builtins__", "checks", "np", "sgd_momentum"]  # as it was


# ---------------------------------------------------------------- course-lib check, end to end
def _check(tmp_path, capsys, nb, name="01_knn"):
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(nb))
    code = selfcheck.main([str(path), "--seed", "3"])
    return code, capsys.readouterr().out


@pytest.mark.slow
def test_check_right_partial_and_blank(tmp_path, capsys):
    code, out = _check(tmp_path, capsys, solved("01_knn"))
    assert code == 0 and "01_knn: 12 of 12 autograded points" in out and "Everything passes." in out, out
    from course_lib import guide  # the pass is recorded beside the notebook: its walkthroughs open at once
    recorded = json.loads((tmp_path / guide.PASSED_FILE).read_text())
    assert recorded == {"01_knn": sorted(selfcheck.exercise_tests(selfcheck.load("01_knn")))}
    code, out = _check(tmp_path, capsys, solved("01_knn", broken=("one-loop", "predict")))
    assert code == 1 and "01_knn: 7 of 12 autograded points" in out, out
    assert re.search(r"test-cross-validate\s+cross_validate\s+2/2\s+ok", out), out  # judged on its own
    assert "Fix compute_distances_one_loop first" in out
    assert "Not written yet: compute_distances_one_loop; predict_labels." in out
    code, out = _check(tmp_path, capsys, blank("01_knn"))
    assert code == 1 and "01_knn: 0 of 12 autograded points" in out, out
    assert "Not written yet: compute_distances_two_loops; compute_distances_one_loop; compute_distances_no_loops; " \
           "predict_labels; cross_validate." in out


@pytest.mark.slow
def test_check_blames_an_answer_cell_that_raised_not_the_name_error_after_it(tmp_path, capsys):
    nb = solved("02_svm")
    cell = next(c for c in nb["cells"] if grade_id(c) == "naive")
    cell["source"] = source(cell).replace("def svm_loss_naive(W, X, y, reg):", "def svm_loss_naive(W, X, y, reg)")
    code, out = _check(tmp_path, capsys, nb, "02_svm")
    assert code == 1 and "02_svm: 5 of 8 autograded points" in out, out
    assert "your code said: your answer cell naive raised SyntaxError: " in out and "fix that first" in out


@pytest.mark.slow
def test_check_a_wrong_function_costs_its_own_points_with_the_graders_message(tmp_path, capsys):
    import test_mistakes as corpus
    found = next(m for m in corpus.CORPUS if m.name == "SVM gradient not averaged")
    code, out = _check(tmp_path, capsys, corpus.with_mistake(found), "02_svm")
    assert code == 1 and "02_svm: 5 of 8 autograded points" in out, out
    assert re.search(r"test-naive\s+svm_loss_naive\s+3/3\s+ok", out)
    assert re.search(r"test-train\s+train, predict\s+2/2\s+ok", out)
    fix = next(line for line in out.splitlines() if line.startswith("Fix "))
    assert fix.startswith("Fix svm_loss_vectorized first (test-vectorized, 0 of 3 points): test cell raised")
    assert "division by N" in out  # the grader's own diagnosis, on its inputs


@pytest.mark.slow
def test_self_check_in_a_notebook_cell(tmp_path):
    from nbclient import NotebookClient
    nb = nbformat.reads(json.dumps(solved("01_knn", broken=("no-loops",))), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("checks.self_check()"))
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in nb.cells[-1].outputs)
    assert "01_knn: 9 of 12 autograded points" in shown, nb.cells[-1].outputs
    assert "Fix compute_distances_no_loops first (test-no-loops, 0 of 3 points)" in shown


def test_an_exercise_opens_its_walkthrough_only_when_every_test_of_it_passed(tmp_path, monkeypatch):
    """update-rules is judged by three tests: momentum alone written must not open Adam's code."""
    from course_lib import guide
    from course_lib.selfcheck import Report, Result, exercise_tests
    from course_lib.selfcheck.kernel import _open_walkthroughs
    monkeypatch.chdir(tmp_path)
    tests = exercise_tests(selfcheck.load("04_fc_nets"))
    assert tests["update-rules"] == ["test-momentum", "test-rmsprop", "test-adam"]
    assert tests["fc-net"] == ["test-fc-init", "test-fc-loss", "test-fc-hooks"]
    results = [Result(gid, [], 1.0, 1.0 if gid == "test-momentum" else 0.0,
                      [] if gid == "test-momentum" else ["wrong"]) for gid in tests["update-rules"]]
    results.append(Result("test-affine", [], 1.0, 1.0, []))
    _open_walkthroughs(Report("04_fc_nets", results))
    assert guide.passed("04_fc_nets", "affine") and not guide.passed("04_fc_nets", "update-rules")


def test_a_withheld_function_is_given_back_everywhere_even_to_modules_imported_meanwhile():
    """A fresh kernel had not imported the numba backend yet; withholding 04's affine layer
    imported it, and its `from .numpy_kernels import affine_forward` took the stub for the rest of
    the session: the solution's next tests (the networks, on the course's layers) then failed."""
    import subprocess
    import sys
    code = ("import sys\n"
            "import numpy as np\n"
            "import course_lib.layers as layers\n"
            "from autograder.cases import CASES\n"
            "from autograder.edition import with_helpers\n"
            "from course_lib.selfcheck.kernel import _withheld\n"
            "assert 'course_lib.kernels.numba_kernels' not in sys.modules\n"
            "with _withheld(with_helpers(CASES['04_fc_nets']['test-affine'].withhold), {}):\n"
            "    import course_lib.kernels.numba_kernels\n"
            "for backend in ('numpy', 'numba'):\n"
            "    print(layers.affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4), backend=backend)[0].sum())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["24.0", "24.0"]
