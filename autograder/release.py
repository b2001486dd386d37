"""Student releases: assignments/<name>/ is generated from solutions/<name>/ by nbgrader, never
edited by hand, and with it course_lib/selfcheck/<name>.json, what a learner's self-check needs
from the instructor's notebook as pure data (the released notebook, and per test its grade id,
points, function and hidden code: `checks.answer(...)` calls, no answers). `release_all` writes
them; `differences` says whether the committed ones are in sync."""
import ast
import filecmp
import json
import shutil
import tempfile
from pathlib import Path

from . import guide_release
from .course import copy_source, notebooks, run_nbgrader, write_config
from .integrity import answer_groups, is_answer, is_test, nbgrader_meta, source
from .submission import hidden_code


class OutputsError(ValueError):
    """A solution notebook was committed with outputs."""


def check_no_outputs(solution_folder):
    for path in notebooks(solution_folder):
        cells = json.loads(path.read_text())["cells"]
        dirty = [i for i, c in enumerate(cells)
                 if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        if dirty:
            raise OutputsError(f"{path} has outputs in cells {dirty}; clear them first "
                               f"(jupyter nbconvert --clear-output --inplace {path})")


def assignment_folders(solutions):
    return sorted(p for p in Path(solutions).iterdir() if p.is_dir() and notebooks(p))


def generate(solution_folders, out_root):
    """Release the assignments, each into out_root/<name> (replaced whole): one nbgrader run for
    all of them (nbgrader's start is most of an assignment's 5 s). Returns the output folders."""
    for folder in solution_folders:
        check_no_outputs(folder)
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        write_config(course)
        for folder in solution_folders:
            copy_source(folder, course)
        # a glob over source/: every assignment copied there, and nothing else
        run_nbgrader(course, "generate_assignment", "*", "--force")
        outs = []
        for folder in solution_folders:
            name = Path(folder).name
            staging = Path(tmp) / "staging" / name
            shutil.copytree(course / "release" / name, staging)
            out_folder = Path(out_root) / name
            if out_folder.exists():
                shutil.rmtree(out_folder)
            out_folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), str(out_folder))
            outs.append(out_folder)
    return outs


def selfcheck_folder(solutions):
    """Where the self-check data goes: course_lib/selfcheck/ beside the solutions/ folder."""
    return Path(solutions).resolve().parent / "course_lib" / "selfcheck"


def _names(code, kind):
    """The names a piece of code loads (kind ast.Load) or defines at its top level (None)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    if kind is None:
        found = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        found += [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    else:
        found = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, kind)]
    return list(dict.fromkeys(found))


def selfcheck_data(name, source_nb, release_nb, notebook_name):
    """What `course-lib check` and `checks.self_check()` need from the instructor's notebook, as
    JSON-able data: the released notebook (what the grader runs, with a learner's answer cells put
    in, and what `course-lib notebooks` writes out), and per test its grade id, points, the
    functions it judges (those of its answer cells that its hidden code calls), the hidden code and
    the visible test code."""
    groups = answer_groups(source_nb)
    defined = {nbgrader_meta(c)["grade_id"]: _names(source(c), None) for c in source_nb["cells"] if is_answer(c)}
    every = [n for names in defined.values() for n in names]
    tests = []
    for cell in source_nb["cells"]:
        if not is_test(cell):
            continue
        gid = nbgrader_meta(cell)["grade_id"]
        hidden = hidden_code(source_nb, gid)
        stored = _names(hidden, ast.Store)
        calls = [n for n in _names(hidden, ast.Load) if n not in stored]
        own = [n for g in groups.get(gid, []) for n in defined.get(g, [])]
        functions = [n for n in calls if n in own] or [n for n in calls if n in every] or own
        tests.append({"grade_id": gid, "points": float(nbgrader_meta(cell).get("points", 0)),
                      "functions": functions, "answers": groups.get(gid, []), "hidden": hidden.strip("\n") + "\n"})
    visible = {nbgrader_meta(c).get("grade_id"): source(c) for c in release_nb["cells"] if is_test(c)}
    for test in tests:
        test["visible"] = visible.get(test["grade_id"], "")
    return {"assignment": name, "notebook": notebook_name, "release": release_nb, "tests": tests}


def write_selfcheck(solution_folder, release_folder, target):
    """Write target/<name>.json for the assignment released into release_folder."""
    solution_folder, release_folder = Path(solution_folder), Path(release_folder)
    found = notebooks(solution_folder)
    if len(found) != 1:
        raise ValueError(f"{solution_folder}: the self-check expects one notebook per assignment, found {len(found)}")
    source_nb = json.loads(found[0].read_text())
    release_nb = json.loads((release_folder / found[0].name).read_text())
    data = selfcheck_data(solution_folder.name, source_nb, release_nb, found[0].name)
    path = Path(target) / f"{solution_folder.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def selfcheck_differences(solutions="solutions", assignments="assignments", selfcheck=None):
    """The self-check data that differs from what solutions/ and the committed assignments/ make
    (empty: in sync); quick, without nbgrader (`differences` also checks assignments/ itself)."""
    found = []
    selfcheck = Path(selfcheck) if selfcheck else selfcheck_folder(solutions)
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as tmp:
        for folder in assignment_folders(solutions):
            fresh = write_selfcheck(folder, Path(assignments) / folder.name, tmp)
            committed = selfcheck / fresh.name
            if not committed.exists():
                found.append(f"{committed} is missing")
            elif committed.read_bytes() != fresh.read_bytes():
                found.append(f"{committed} differs")
    released = {p.name for p in assignment_folders(solutions)}
    found += [f"{p} has no source in {solutions}" for p in sorted(selfcheck.glob("*.json"))
              if p.stem not in released] if selfcheck.exists() else []
    return found


def release_all(solutions="solutions", assignments="assignments", guide_data=None, selfcheck=None):
    """Regenerate every assignments/<name>/ from solutions/<name>/, its self-check data in
    selfcheck (default: course_lib/selfcheck/ beside solutions/) and the learners' guide data
    (course_lib/guide_data, see autograder.guide_release; checked first: a missing or malformed
    guide stops the release before anything is written); returns the names."""
    folders = assignment_folders(solutions)
    guide_release.build_all(folders)
    names = []
    selfcheck = Path(selfcheck) if selfcheck else selfcheck_folder(solutions)
    generate(folders, assignments)
    for folder in folders:
        write_selfcheck(folder, Path(assignments) / folder.name, selfcheck)
        names.append(folder.name)
    for stale in sorted(selfcheck.glob("*.json")) if selfcheck.exists() else []:
        if stale.stem not in names:
            stale.unlink()
    guide_release.write_all(folders, guide_data or guide_release.default_folder(solutions))
    return names


def differences(solutions="solutions", assignments="assignments", guide_data=None, selfcheck=None):
    """Files that differ between a fresh release and the committed assignments/, self-check data
    and guide data (empty: in sync). A guide that cannot be released raises guide_release.GuideError."""
    found = guide_release.differences(assignment_folders(solutions),
                                      guide_data or guide_release.default_folder(solutions))
    selfcheck = Path(selfcheck) if selfcheck else selfcheck_folder(solutions)
    with tempfile.TemporaryDirectory(prefix="sync-") as tmp:
        folders = assignment_folders(solutions)
        for folder, fresh in zip(folders, generate(folders, tmp)):
            data = write_selfcheck(folder, fresh, Path(tmp) / "selfcheck")
            committed = Path(assignments) / folder.name
            if not (selfcheck / data.name).exists():
                found.append(f"{selfcheck / data.name} is missing")
            elif (selfcheck / data.name).read_bytes() != data.read_bytes():
                found.append(f"{selfcheck / data.name} differs")
            if not committed.exists():
                found.append(f"{committed} is missing")
                continue
            found += _compare(fresh, committed)
        released = {p.name for p in assignment_folders(solutions)}
        found += [f"{p} has no source in {solutions}" for p in Path(assignments).iterdir()
                  if p.is_dir() and p.name not in released] if Path(assignments).exists() else []
        found += [f"{p} has no source in {solutions}" for p in sorted(selfcheck.glob("*.json"))
                  if p.stem not in released] if selfcheck.exists() else []
    return found


def _compare(fresh, committed):
    cmp = filecmp.dircmp(fresh, committed, ignore=["__pycache__", ".ipynb_checkpoints"])
    found = [f"{committed / n} is not generated" for n in cmp.right_only]
    found += [f"{committed / n} is missing" for n in cmp.left_only]
    found += [f"{committed / n} differs" for n in cmp.diff_files]
    for sub in cmp.common_dirs:
        found += _compare(Path(fresh) / sub, Path(committed) / sub)
    return found
