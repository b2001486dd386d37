"""Submissions on disk (one folder or zip per student), and the notebook the grader runs for one:
the instructor's notebook, hidden tests included, with the student's answer cells put in."""
import copy
import re
import shutil
import zipfile
from pathlib import Path

from .integrity import graded_cells, nbgrader_meta, source

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def find_submissions(folder):
    """{student id: path} for every subfolder or .zip in folder; ids come from the names."""
    found = {}
    for path in sorted(Path(folder).iterdir()):
        if path.is_dir() or path.suffix == ".zip":
            found[path.stem if path.suffix == ".zip" else path.name] = path
    return found


def extract_notebooks(submission, names, target):
    """Copy the expected notebooks out of a folder or zip into target; returns the missing names.
    Nothing else is copied, and a zip is read by member name: no path in it is ever extracted."""
    target.mkdir(parents=True, exist_ok=True)
    missing = []
    if submission.is_dir():
        for name in names:
            hits = [p for p in submission.rglob(name)
                    if ".ipynb_checkpoints" not in p.parts and p.is_file() and not p.is_symlink()]
            if hits:
                shutil.copyfile(hits[0], target / name)
            else:
                missing.append(name)
        return missing
    with zipfile.ZipFile(submission) as archive:
        members = {Path(m).name: m for m in archive.namelist()
                   if not m.endswith("/") and "__MACOSX" not in m and ".ipynb_checkpoints" not in m}
        for name in names:
            if name in members:
                (target / name).write_bytes(archive.read(members[name]))
            else:
                missing.append(name)
    return missing


def assemble(source_nb, release_nb, submitted_nb):
    """The notebook to run: every cell of the instructor's notebook in its order (setup, free
    cells, test cells with their hidden tests), except that each answer cell holds the student's
    version of it, found by grade id; an answer cell the student lost keeps the release's stub.
    Cells the student added are not run."""
    student = {gid: cells[0] for gid, cells in graded_cells(submitted_nb).items()}
    released = {gid: cells[0] for gid, cells in graded_cells(release_nb).items()}
    nb = copy.deepcopy(source_nb)
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        gid = meta["grade_id"]
        mine = student.get(gid)
        if mine is not None and mine.get("cell_type") == cell["cell_type"]:
            cell["source"] = source(mine)
        else:
            cell["source"] = source(released[gid])
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb
