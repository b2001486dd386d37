"""Student releases: assignments/<name>/ is generated from solutions/<name>/ by nbgrader, never
edited by hand. `release_all` writes them; `differences` says whether the committed ones are in sync."""
import filecmp
import json
import shutil
import tempfile
from pathlib import Path

from . import guide_release
from .course import notebooks, prepare


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


def generate(solution_folder, out_folder):
    """Release one assignment into out_folder (replaced whole)."""
    check_no_outputs(solution_folder)
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        course = prepare(Path(tmp) / "course", solution_folder)
        released = course / "release" / Path(solution_folder).name
        staging = Path(tmp) / "staging"
        shutil.copytree(released, staging)
        out_folder = Path(out_folder)
        if out_folder.exists():
            shutil.rmtree(out_folder)
        out_folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(out_folder))
    return out_folder


def release_all(solutions="solutions", assignments="assignments", guide_data=None):
    """Regenerate every assignments/<name>/ from solutions/<name>/, and the learners' guide data
    (course_lib/guide_data, see autograder.guide_release; checked first: a missing or malformed
    guide stops the release before anything is written); returns the names."""
    folders = assignment_folders(solutions)
    guide_release.build_all(folders)
    names = []
    for folder in folders:
        generate(folder, Path(assignments) / folder.name)
        names.append(folder.name)
    guide_release.write_all(folders, guide_data or guide_release.default_folder(solutions))
    return names


def differences(solutions="solutions", assignments="assignments", guide_data=None):
    """Files that differ between a fresh release and the committed assignments/ and guide data
    (empty: in sync). A guide that cannot be released raises guide_release.GuideError."""
    found = guide_release.differences(assignment_folders(solutions),
                                      guide_data or guide_release.default_folder(solutions))
    with tempfile.TemporaryDirectory(prefix="sync-") as tmp:
        for folder in assignment_folders(solutions):
            fresh = generate(folder, Path(tmp) / folder.name)
            committed = Path(assignments) / folder.name
            if not committed.exists():
                found.append(f"{committed} is missing")
                continue
            found += _compare(fresh, committed)
        released = {p.name for p in assignment_folders(solutions)}
        found += [f"{p} has no source in {solutions}" for p in Path(assignments).iterdir()
                  if p.is_dir() and p.name not in released] if Path(assignments).exists() else []
    return found


def _compare(fresh, committed):
    cmp = filecmp.dircmp(fresh, committed, ignore=["__pycache__", ".ipynb_checkpoints"])
    found = [f"{committed / n} is not generated" for n in cmp.right_only]
    found += [f"{committed / n} is missing" for n in cmp.left_only]
    found += [f"{committed / n} differs" for n in cmp.diff_files]
    for sub in cmp.common_dirs:
        found += _compare(Path(fresh) / sub, Path(committed) / sub)
    return found
