"""The solution notebooks: clean, runnable top to bottom, graded cells well formed, releases in sync."""
import ast
import re

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import release
from notebook_tools import ASSIGNMENTS, NAMES, SOLUTIONS, grade_id, load, source


def test_every_assignment_has_a_solution_and_a_release():
    assert NAMES == ["01_knn", "02_svm", "03_softmax", "04_fc_nets", "05_batchnorm_dropout",
                     "06_convnets", "07_network_visualization", "08_image_features"]
    for name in NAMES:
        assert (ASSIGNMENTS / name / f"{name}.ipynb").exists()


@pytest.mark.parametrize("name", NAMES)
def test_solutions_are_committed_without_outputs(name):
    release.check_no_outputs(SOLUTIONS / name)


@pytest.mark.slow
def test_release_is_in_sync_with_the_solutions():
    """assignments/ is what `course-grade release` makes from solutions/, byte for byte."""
    assert release.differences(SOLUTIONS, ASSIGNMENTS) == []


def test_outputs_in_a_solution_are_refused(tmp_path):
    nb = load(SOLUTIONS / "02_svm" / "02_svm.ipynb")
    nb["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    (tmp_path / "02_svm").mkdir()
    nbformat.write(nbformat.from_dict(nb), tmp_path / "02_svm" / "02_svm.ipynb")
    with pytest.raises(release.OutputsError, match="clear them first"):
        release.check_no_outputs(tmp_path / "02_svm")


@pytest.mark.parametrize("name", NAMES)
def test_graded_cells_are_well_formed(name):
    cells = load(SOLUTIONS / name / f"{name}.ipynb")["cells"]
    ids = [grade_id(c) for c in cells if grade_id(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    tests = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")
             and c["cell_type"] == "code"]
    assert tests and all(c["metadata"]["nbgrader"]["locked"] for c in tests)
    assert all("### BEGIN HIDDEN TESTS" in source(c) for c in tests), "every test cell has hidden tests"
    for cell in tests:
        # nbgrader awards a test cell the value of its last expression when that is a number;
        # a test cell must end on a statement (or a call that returns None), never a bare value
        body = source(cell).replace("### BEGIN HIDDEN TESTS", "").replace("### END HIDDEN TESTS", "")
        last = ast.parse(body).body[-1]
        assert not isinstance(last, ast.Expr) or isinstance(last.value, ast.Call), grade_id(cell)
    answers = [c for c in cells if c["cell_type"] == "markdown"
               and c["metadata"].get("nbgrader", {}).get("grade")]
    assert len(answers) >= 2, "written questions, graded by hand"


@pytest.mark.parametrize("name", NAMES)
def test_every_stub_of_a_release_names_what_to_write(name):
    """A blank answer cell raises NotImplementedError with the name of the function it stands in
    for, so that running an unfinished notebook (or a panel calling it) says what is missing."""
    cells = load(ASSIGNMENTS / name / f"{name}.ipynb")["cells"]
    stubs = [c for c in cells
             if c["metadata"].get("nbgrader", {}).get("solution") and c["cell_type"] == "code"]
    assert stubs
    for cell in stubs:
        tree = ast.parse(source(cell))
        raises = [n for n in ast.walk(tree) if isinstance(n, ast.Raise)
                  and getattr(n.exc, "func", None) and getattr(n.exc.func, "id", "") == "NotImplementedError"]
        assert raises, grade_id(cell)
        defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for node in raises:
            message = node.exc.args[0].value
            assert re.fullmatch(r".+ is not written yet( \(part \d of \d\))?: replace this line with your code",
                                message), message
            named = message.split(" is not written")[0].split(".")[-1]
            assert named in defined or named == f"the cell {grade_id(cell)}", (grade_id(cell), message)


def test_stubs_are_named_after_their_enclosing_definitions():
    from autograder.stubs import named_stubs
    source_ = ("class KNearestNeighbor:\n    def two_loops(self, X):\n        for i in X:\n"
               "            raise NotImplementedError()\n\n\ndef predict(W):\n"
               "    raise NotImplementedError()\nraise NotImplementedError()\n"
               "raise NotImplementedError('kept')\n"
               "def loss(W):\n    for w in W:\n        raise NotImplementedError()\n    raise NotImplementedError()")
    lines = named_stubs(source_, outside="the cell hyper").split("\n")
    written = "is not written yet: replace this line with your code"
    assert lines[3] == f'            raise NotImplementedError("KNearestNeighbor.two_loops {written}")'
    assert lines[7] == f'    raise NotImplementedError("predict {written}")'
    assert lines[8].startswith('raise NotImplementedError("the cell hyper is not written yet')
    assert lines[9] == "raise NotImplementedError('kept')"
    assert lines[12] == '        raise NotImplementedError("loss is not written yet (part 1 of 2): replace this line with your code")'
    assert lines[13] == '    raise NotImplementedError("loss is not written yet (part 2 of 2): replace this line with your code")'


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_solution_notebook_runs_top_to_bottom_without_stderr(name, tmp_path):
    nb = nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("name") != "stderr", f"{grade_id(cell)} wrote to stderr: {out.get('text')}"
            assert out["output_type"] != "error", f"{grade_id(cell)} raised {out.get('ename')}"
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert re.search(r"(gradient|votes|relative difference \S+) ok", printed), "no check printed ok"


def test_readme_lists_every_test_with_its_points():
    """The README's assignment table names each test cell with its points, and the totals."""
    readme = (SOLUTIONS.parent / "README.md").read_text()
    for name in NAMES:
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
        total = 0
        for cell in load(SOLUTIONS / name / f"{name}.ipynb")["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("grade") and cell["cell_type"] == "code":
                assert f"{meta['points']:g} (`{meta['grade_id']}`" in row, (name, meta["grade_id"])
                total += meta["points"]
        assert f"| {total:g} |" in row, (name, total)
