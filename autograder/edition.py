"""Grading editions of course_lib: the library as it is, except that the implementations one test
grades are gone. Their functions remain as stubs that raise NotImplementedError (so the rest of the
library imports and runs), their source is not in the edition's files, and the cuda backend, which
could run every kernel again on the CPU through Numba's simulator, is left out entirely.

An edition is what the decisive process of a test imports as `course_lib`: the student's code can
reach the library's other parts, in any spelling, and still cannot reach the answer key.

Neither an edition nor the notebook's copy of the library (`notebook_library`) holds the learners'
guide data (`NOT_IN_JAILS`): its walkthroughs are the instructor's answers, which a student's code
could otherwise read, or run, in a jail. Both are made by `_copy`, the one place a jail's library
comes from, and autograder.sandbox refuses any other library folder that holds it.

Withheld names are "path/in/course_lib.py:qualified.name", e.g. "classifiers/linear.py:svm_loss_naive"
or "classifiers/linear.py:LinearClassifier.train".
"""
import ast
import functools
import hashlib
import shutil
import tempfile
from pathlib import Path

import course_lib

LIBRARY = Path(course_lib.__file__).resolve().parent
NO_CUDA = '''"""Not part of a grading edition: the cuda backend is unavailable while grading."""


def unavailable_reason():
    return "the cuda backend is not available while grading; use the numpy or numba backend"
'''


# what no jail's copy of the library holds: the learners' guide data (course_lib.guide.DATA), whose
# walkthroughs are the instructor's answers
NOT_IN_JAILS = ("guide_data",)


def jail_safe(library):
    """Whether a library folder holds none of NOT_IN_JAILS (autograder.sandbox checks it)."""
    return not any((Path(library) / name).exists() for name in NOT_IN_JAILS)


class EditionError(ValueError):
    """A withheld name that the library does not have: the list and the library disagree."""


def _stub(node, where):
    message = f"{where} is withheld while this test is graded: the grader runs your own code"
    body = [ast.Raise(exc=ast.Call(func=ast.Name("NotImplementedError", ast.Load()),
                                   args=[ast.Constant(message)], keywords=[]), cause=None)]
    keep = [d for d in node.decorator_list if isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod")]
    return ast.FunctionDef(name=node.name, args=node.args, body=body, decorator_list=keep, returns=None)


def _replace(body, path, where):
    """Replace the function at `path` (names through classes and functions) in a list of statements."""
    for i, node in enumerate(body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == path[0]:
            if len(path) == 1:
                if not isinstance(node, ast.FunctionDef):
                    raise EditionError(f"{where} is a class: withhold its methods by name")
                body[i] = _stub(node, where)
            else:
                _replace(node.body, path[1:], where)
            return
    raise EditionError(f"course_lib has no {where}")


def _edited(source, names, module):
    tree = ast.parse(source)
    for name in names:
        _replace(tree.body, name.split("."), f"{module}.{name}")
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def with_helpers(withheld):
    """withheld and every private module-level function of the same file that only withheld
    functions reach (the Numba kernels behind a layer, their im2col and Winograd parts): a helper
    that does nothing but the graded work is the graded work. Helpers that the file's other code
    reaches too (argument checks, backend dispatch) stay. Found from the code, so a new helper is
    withheld without being listed."""
    found = list(dict.fromkeys(withheld))
    for path, names in _by_name(withheld).items():
        tree = _parsed((LIBRARY / path).read_text())
        helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("_")}
        graded = [node for name in names for node in [_find(tree.body, name.split("."))] if node is not None]
        others = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name in helpers)]
        needed = _reached(others, helpers, skip=graded)
        found += [f"{path}:{name}" for name in sorted(_reached(graded, helpers) - needed - set(names))]
    return found


@functools.lru_cache(maxsize=32)
def _parsed(text):
    """A library file's syntax tree, parsed once per process for its text (the instructor check
    fingerprints every case; only read, never changed)."""
    return ast.parse(text)


def _reached(roots, helpers, skip=()):
    """The private helpers that the code of roots reaches, through helpers (never into skip)."""
    skip_ids = {id(n) for n in skip}
    reached, todo = set(), list(roots)
    while todo:
        node = todo.pop()
        if id(node) in skip_ids:
            continue
        if isinstance(node, ast.Name) and node.id in helpers and node.id not in reached:
            reached.add(node.id)
            todo.append(helpers[node.id])
        todo.extend(ast.iter_child_nodes(node))
    return reached


def _find(body, path):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == path[0]:
            return node if len(path) == 1 else _find(node.body, path[1:])
    return None


def _by_name(withheld):
    files = {}
    for entry in withheld:
        path, sep, name = entry.partition(":")
        if not sep or not (LIBRARY / path).is_file():
            raise EditionError(f"{entry!r}: expected 'file/in/course_lib.py:name'")
        files.setdefault(path, []).append(name)
    return files


def _by_file(withheld):
    return _by_name(with_helpers(withheld))


def fingerprint(withheld):
    """What an edition depends on: the library's files (but NOT_IN_JAILS, which no jail gets and
    no grade depends on: a new hint rebuilds nothing), the withheld names with their helpers, and
    this module's code, which makes the edition."""
    digest = hashlib.sha256("\n".join(sorted(with_helpers(withheld))).encode())
    digest.update(Path(__file__).read_bytes())
    for f in sorted(LIBRARY.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts and not set(NOT_IN_JAILS) & set(f.relative_to(LIBRARY).parts):
            digest.update(str(f.relative_to(LIBRARY)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def build(folder, withheld):
    """Make folder/course_lib the edition without `withheld`; reuse it if it is up to date.
    Returns (the course_lib folder, True if it was (re)built)."""
    files = _by_file(withheld)

    def edit(staging):
        (staging / "kernels" / "cuda_kernels.py").write_text(NO_CUDA)
        for path, names in files.items():
            module = "course_lib." + path.removesuffix(".py").replace("/", ".")
            (staging / path).write_text(_edited((LIBRARY / path).read_text(), names, module))
    return _copy(folder, fingerprint(withheld), edit)


def notebook_library(folder):
    """Make folder/course_lib the library a notebook's jail gets: all of it (cuda backend
    included, nothing withheld) but NOT_IN_JAILS; reuse it if it is up to date.
    Returns (the course_lib folder, True if it was (re)built)."""
    return _copy(folder, "notebook " + fingerprint(()), lambda staging: None)


def _copy(folder, wanted, edit):
    """folder/course_lib: a copy of the library without NOT_IN_JAILS, then edit(copy)."""
    folder = Path(folder)
    target, stamp = folder / "course_lib", folder / ".fingerprint"
    if target.is_dir() and stamp.exists() and stamp.read_text() == wanted and jail_safe(target):
        return target, False
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".building-")) / "course_lib"
    shutil.copytree(LIBRARY, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *NOT_IN_JAILS))
    edit(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    shutil.rmtree(staging.parent, ignore_errors=True)
    stamp.write_text(wanted)
    return target, True
