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


def panel_notebook(nb):
    """The cells a notebook's (last) panel needs, as a notebook of its own: the setup cell, the
    answer cells that define the names the panel's call uses (and the names those use), and the
    panel. What a student has after writing those answers and running them, in seconds."""
    import ast
    cells = nb["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    setup = next(i for i in code if 'DATASET = "digits"' in source(cells[i]))
    panel = [i for i in code if re.search(r"widgets\.\w+_panel\(", source(cells[i]))][-1]

    def names_used(i):
        return {n.id for n in ast.walk(ast.parse(source(cells[i]))) if isinstance(n, ast.Name)}

    def names_defined(i):
        tree = ast.parse(source(cells[i]))
        return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}

    answers = [i for i in code if setup < i < panel and nbgrader_meta(cells[i]).get("solution")]
    wanted, chosen = names_used(panel), set()
    while True:
        more = {i for i in answers if names_defined(i) & wanted} - chosen
        if not more:
            break
        chosen |= more
        wanted |= set().union(*(names_used(i) for i in more))
    trimmed = copy.deepcopy(nb)
    trimmed["cells"] = [copy.deepcopy(cells[i]) for i in sorted({setup, panel} | chosen)]
    for cell in trimmed["cells"]:
        cell["metadata"].pop("nbgrader", None)
    return trimmed


def write_submission(folder, student, name, nb):
    target = Path(folder) / student
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{name}.ipynb").write_text(json.dumps(nb) if not isinstance(nb, str) else nb)
    return target
