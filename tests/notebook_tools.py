"""Helpers for the notebook and grading tests: read notebooks, and make student submissions."""
import copy
import json
import re
from pathlib import Path

from autograder.integrity import nbgrader_meta, source  # noqa: F401 - source is re-exported

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
ASSIGNMENTS = ROOT / "assignments"
NAMES = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir())
_MARKED = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


def load(path):
    return json.loads(Path(path).read_text())


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")


def solved(name, broken=()):
    """The student release of assignment `name` with every solution cell filled in from the
    instructor's notebook, as a student who solved it would submit it; cells whose grade_id is in
    `broken` keep the release's unimplemented stub instead."""
    release = load(ASSIGNMENTS / name / f"{name}.ipynb")
    answers = {grade_id(c): _MARKED.sub("", source(c))
               for c in load(SOLUTIONS / name / f"{name}.ipynb")["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        gid = grade_id(cell)
        if gid in answers and gid not in broken and cell["cell_type"] == "code":
            cell["source"] = answers[gid]
    return nb


def blank(name):
    return load(ASSIGNMENTS / name / f"{name}.ipynb")


def write_submission(folder, student, name, nb):
    target = Path(folder) / student
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{name}.ipynb").write_text(json.dumps(nb) if not isinstance(nb, str) else nb)
    return target
