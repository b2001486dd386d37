"""What a submission did to its notebook, read without running anything: test cells changed,
deleted, stripped of their metadata or duplicated, graded cells' metadata changed, solution cells
missing, the wrong assignment's notebook, and course-library names (or dynamic imports) in answer cells
that the instructor's own answer does not need.

The grader never trusts the submission's structure: it runs the instructor's notebook with the
student's answer cells put in (see submission.assemble), so a changed or deleted test cell is
restored, not obeyed. These findings say what was restored and what an instructor may want to look
at; none of them costs points. Points come from what the code computes where the reference does
not exist (autograder.edition), which no spelling can get around.
"""
import ast


def source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def nbgrader_meta(cell):
    meta = cell.get("metadata", {})
    return meta.get("nbgrader", {}) if isinstance(meta, dict) else {}


def graded_cells(nb):
    """{grade_id: [cells]} of every cell with nbgrader metadata and a grade id."""
    cells = {}
    for cell in nb.get("cells", []):
        gid = nbgrader_meta(cell).get("grade_id")
        if gid:
            cells.setdefault(gid, []).append(cell)
    return cells


def is_test(cell):
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution")


def is_answer(cell):
    return cell.get("cell_type") == "code" and nbgrader_meta(cell).get("solution")


def answer_groups(source_nb):
    """{test grade id: [answer-cell grade ids it grades]}: the code answer cells between the
    previous test cell and this one, in the instructor's notebook."""
    groups, pending = {}, []
    for cell in source_nb["cells"]:
        if is_answer(cell):
            pending.append(nbgrader_meta(cell)["grade_id"])
        elif is_test(cell):
            groups[nbgrader_meta(cell)["grade_id"]] = pending
            pending = []
    return groups


# ---------------------------------------------------------------- structure
def structure(release_nb, submitted_nb):
    """Findings about the graded cells, as short sentences."""
    released, submitted = graded_cells(release_nb), graded_cells(submitted_nb)
    plain = {source(c).strip() for c in submitted_nb.get("cells", []) if not nbgrader_meta(c)}
    findings = []
    for gid, (cell, *_) in released.items():
        kind = "test cell" if is_test(cell) else "answer cell" if nbgrader_meta(cell).get("solution") \
            else "read-only cell"
        if gid not in submitted:
            if source(cell).strip() in plain:
                findings.append(f"{kind} {gid}: nbgrader metadata stripped (restored for grading)")
            elif kind == "answer cell":
                findings.append(f"{kind} {gid}: missing (its grade id changed or the cell was "
                                f"deleted); graded as unanswered")
            else:
                findings.append(f"{kind} {gid}: deleted (restored for grading)")
            continue
        if len(submitted[gid]) > 1:
            findings.append(f"{kind} {gid}: duplicated {len(submitted[gid])} times (" + (
                "the last copy that is not the release's stub is graded)" if kind == "answer cell"
                else "the instructor's is run)"))
        mine = submitted[gid][0]
        if nbgrader_meta(mine) != nbgrader_meta(cell) or mine.get("cell_type") != cell.get("cell_type"):
            findings.append(f"{kind} {gid}: cell type or nbgrader metadata changed (ignored)")
        if kind != "answer cell" and source(mine) != source(cell):
            findings.append(f"{kind} {gid}: modified (restored for grading)")
    for gid in sorted(set(submitted) - set(released)):
        findings.append(f"cell with unknown grade id {gid!r} (ignored)")
    return findings


def belongs_elsewhere(release_nb, submitted_nb):
    """True for another assignment's notebook: it shares no graded cell with the release, or
    neither its title nor half of the release's read-only graded cells (setup, tests). Assignments
    reuse grade ids and setup cells (02_svm and 03_softmax both have a test-naive), so neither
    alone can tell."""
    released, submitted = graded_cells(release_nb), graded_cells(submitted_nb)
    if not set(released) & set(submitted):
        return True
    read_only = {gid: source(cells[0]) for gid, cells in released.items()
                 if not nbgrader_meta(cells[0]).get("solution")}
    same = [gid for gid, text in read_only.items()
            if gid in submitted and source(submitted[gid][0]) == text]
    first = [source(c).strip() for nb in (release_nb, submitted_nb) for c in nb.get("cells", [])[:1]]
    return 2 * len(same) <= len(read_only) and (len(first) < 2 or first[0] != first[1])


# ---------------------------------------------------------------- the reference implementation
SETS = "changes "  # marks an assignment to a library name (checks.check_close = ...)
DYNAMIC = {"__import__", "eval", "exec", "compile", "importlib"}  # not getattr & co: ordinary code uses them


def course_names(setup_code):
    """Names the setup cell binds to the course library (modules, functions, classes)."""
    names = set()
    for node in ast.walk(ast.parse(_python(setup_code))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib"):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names
                      if a.name.startswith("course_lib")}
    return names


def _python(code):
    """Cell source as Python: IPython magics and shell escapes become comments."""
    return "\n".join("#" + line if line.lstrip().startswith(("%", "!")) else line
                     for line in code.splitlines())


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def library_uses(code, names):
    """The course-library names a cell uses (as dotted paths such as reference.svm_loss_naive),
    imports of the library, and dynamic code (eval, __import__, getattr...) that could reach it."""
    try:
        tree = ast.parse(_python(code))
    except SyntaxError:
        return set()
    names = set(names) - _bound_here(tree)  # a variable of the student's own called `checks` is theirs
    uses = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            uses |= {f"import {m}" for m in modules if m.split(".")[0] in ("course_lib", "importlib")}
        elif isinstance(node, ast.Name) and node.id in DYNAMIC:
            uses.add(f"dynamic code: {node.id}")
        elif isinstance(node, ast.Attribute):
            path = _dotted(node)
            if path and path.split(".")[0] in names:
                uses.add(f"{SETS}{path}" if isinstance(node.ctx, ast.Store) else path)
        elif isinstance(node, ast.Name) and node.id in names:
            uses.add(node.id)
    # reference.affine_forward is also a use of `reference`: keep the longest paths only
    return {u for u in uses if not any(v.removeprefix(SETS).startswith(u + ".") for v in uses)}


def _bound_here(tree):
    """Names a cell binds itself: assignment and loop targets, functions, classes, parameters."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def reference_use(source_nb, submitted_nb):
    """{answer grade id: sorted forbidden uses}: course-library names the student's answer cell
    uses that the instructor's own answer for that cell does not need."""
    setup = "\n".join(source(c) for c in source_nb["cells"]
                      if c.get("cell_type") == "code" and nbgrader_meta(c).get("locked")
                      and not nbgrader_meta(c).get("grade"))
    names = course_names(setup)
    instructor = {nbgrader_meta(c)["grade_id"]: c for c in source_nb["cells"] if is_answer(c)}
    student = {gid: cells[0] for gid, cells in graded_cells(submitted_nb).items()}
    flagged = {}
    for gid, cell in instructor.items():
        if gid not in student:
            continue
        allowed = library_uses(source(cell), names)
        extra = {u for u in library_uses(source(student[gid]), names)
                 if u not in allowed and not any(u.startswith(a + ".") for a in allowed)}
        if extra:
            flagged[gid] = sorted(extra)
    return flagged
