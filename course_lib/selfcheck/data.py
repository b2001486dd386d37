"""The course's assignments as the self-check knows them: course_lib/selfcheck/<name>.json, made
by `course-grade release` (autograder.release.selfcheck_data): the released notebook whole, and per
test its grade id, points, the functions it judges, its hidden code and its visible code."""
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent


class SelfCheckError(ValueError):
    """What was asked cannot be checked (no such notebook, not one of the course's); the message
    says what to do."""


def assignments():
    """The names of the course's assignments (those with self-check data)."""
    return sorted(p.stem for p in DATA.glob("*.json"))



def _stored(name):
    path = DATA / f"{name}.json"
    if not path.is_file():
        raise SelfCheckError(f"no assignment {name!r}; the course's assignments are {', '.join(assignments())}")
    return json.loads(path.read_text(encoding="utf-8"))


def load(name):
    """The self-check data of assignment `name`: its released notebook with each cell's source as
    one string (as nbformat holds it in memory), and from it "cells", the code cells (what the
    grader runs), and "kernelspec"."""
    data = _stored(name)
    for cell in data["release"]["cells"]:
        cell["source"] = source(cell)
    data["cells"] = [c for c in data["release"]["cells"] if c.get("cell_type") == "code"]
    data["kernelspec"] = data["release"].get("metadata", {}).get("kernelspec", {})
    return data


def release_text(name):
    """Assignment `name`'s student notebook, byte for byte as released in assignments/."""
    return json.dumps(_stored(name)["release"], indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def grade_id(cell):
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    nbgrader = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None


def identify(nb, filename=None):
    """The assignment a notebook is, from its cells (their ids and graded cells' grade ids) and,
    to break a tie or when it has neither, its file name. SelfCheckError if it is none of them."""
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    ids = {c.get("id") for c in cells} - {None}
    gids = {grade_id(c) for c in cells} - {None}
    stem = Path(filename).stem if filename else None
    code = "\n".join(source(c) for c in cells if c.get("cell_type") == "code")
    best, score = None, (0, 0, False, 0)
    for name in assignments():
        data = load(name)
        functions = {f for t in data["tests"] for f in t["functions"]}
        mine = (len(ids & {c["id"] for c in data["cells"]}),
                len(gids & ({grade_id(c) for c in data["cells"]} - {None})),
                stem == name,  # 02_svm and 03_softmax share their grade ids: then the name, then
                sum(f"def {f}(" in code for f in functions))  # the functions defined tell them apart
        if mine > score:
            best, score = name, mine
    if best is None or score[:3] == (0, 0, False):
        raise SelfCheckError(f"{filename or 'this notebook'} is not one of the course's notebooks (none of its "
                             f"graded cells is one of theirs); the course's assignments are {', '.join(assignments())}")
    return best



def source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src



def plain_python(text):
    """Cell code as plain Python (IPython's % magics turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(text)
    except Exception:  # noqa: BLE001 - no IPython: the code as it is
        return text




def bound_names(code):
    """The names a cell binds at its top level (definitions, imports, assignments, loop targets)."""
    import ast
    try:
        tree = ast.parse(plain_python(code))
    except SyntaxError:
        return set()
    names, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def names_not_run(data, grade_id):
    """Names that only cells the grader's decisive run of grade_id does not run bind: the
    release's other code cells (explanations, plots, test cells) and the answer cells below it.
    The grader's run has setup and answer cells above the test only (submission.phase_cells)."""
    above, elsewhere, below = set(), set(), False
    for cell in data["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        below = below or meta.get("grade_id") == grade_id
        runs = not below and (meta.get("solution") or (meta.get("locked") and not meta.get("grade")))
        (above if runs else elsewhere).update(bound_names(cell["source"]))
    return elsewhere - above



def exercise_tests(data):
    """{answer cell's grade id: the tests that judge it}: a test judges the answer cells named by
    the first test after them, and so do the tests that follow until the next answer cells
    (update-rules: test-momentum, test-rmsprop and test-adam)."""
    found, current = {}, []
    for test in data["tests"]:
        current = test["answers"] or current
        for exercise in current:
            found.setdefault(exercise, []).append(test["grade_id"])
    return found

