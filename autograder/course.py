"""The nbgrader course directory the pipeline works in, and its configuration."""
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

# nbgrader here registers assignments, keeps the gradebook and renders and releases feedback;
# autograder.worker runs the notebooks. The instructor's nbgrader_config.py is theirs (course id,
# exchange, late penalties...): course-grade writes a fresh one only where there is none, and then
# keeps one block of its own in it, which switches off nbgrader's own autograde (see
# autograder.nbgrader_guard) and names what each stub of a release stands for (autograder.stubs).
# nbgrader's default feedback chain (GetGrades, CSS) is what we want.
BLOCK_START = "# --- course-grade: rewritten by course-grade on every run; keep your settings outside ---"
BLOCK_END = "# --- end of course-grade's block ---"
BLOCK = f'''{BLOCK_START}
c = get_config()
c.Autograde.sanitize_preprocessors = ["autograder.nbgrader_guard.RefuseAutograde"]
c.Autograde.autograde_preprocessors = ["autograder.nbgrader_guard.RefuseAutograde"]
import autograder.stubs
c.GenerateAssignment.preprocessors = autograder.stubs.preprocessors()
{BLOCK_END}
'''


def write_config(course):
    """Create nbgrader_config.py (course id: the folder's name) or keep the instructor's, with
    course-grade's block brought up to date in it."""
    path = course / "nbgrader_config.py"
    if not path.exists():
        text = f"c = get_config()\nc.CourseDirectory.course_id = {course.name!r}\n"
    else:
        text = path.read_text()
        if BLOCK_START in text and BLOCK_END in text:
            start, end = text.index(BLOCK_START), text.index(BLOCK_END) + len(BLOCK_END)
            text = text[:start].rstrip("\n") + "\n" + text[end:].lstrip("\n")
    updated = text.rstrip("\n") + "\n\n" + BLOCK
    try:  # nbgrader skips a config it cannot load, and with it the guard: never write one
        compile(updated, str(path), "exec")
    except SyntaxError as err:
        raise NbgraderError(f"{path} has a syntax error (line {err.lineno}): {err.msg}; fix it first, "
                            f"since nbgrader would silently ignore the whole file") from None
    if not path.exists() or path.read_text() != updated:
        path.write_text(updated)


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message holds the end of its log."""


# files of solutions/<name>/ that are not part of the assignment nbgrader releases and grades:
# the learners' guide reaches them through course_lib (autograder.guide_release), never a jail
NOT_RELEASED = ("guide.toml",)


def notebooks(folder):
    return sorted(Path(folder).glob("*.ipynb"))


def run_nbgrader(course, *args, timeout=None):
    """Run one nbgrader command in the course directory; raise NbgraderError with its log if it
    fails. Returns the completed process."""
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise NbgraderError(f"nbgrader {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def tree_hash(path, ignore=()):
    """Hash of a file, or of every file below a folder (names and bytes): what changed, not when.
    Files named in `ignore` are left out."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if ".ipynb_checkpoints" in f.parts or "__pycache__" in f.parts or f.name in ignore:
            continue
        name = f.name if f == path else str(f.relative_to(path))
        digest.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def copy_source(solution_folder, course):
    """The assignment's files nbgrader releases, into course/source/<name>."""
    shutil.copytree(solution_folder, Path(course) / "source" / Path(solution_folder).name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", *NOT_RELEASED))


def prepare(course, solution_folder):
    """Make `course` an nbgrader course directory holding this assignment's source, and register
    the assignment (its grade cells, checksums and hidden tests) in the gradebook. Regenerates only
    when the source changed, so earlier grades stay attached to the same cells."""
    course = Path(course).resolve()
    solution_folder = Path(solution_folder)
    name = solution_folder.name
    course.mkdir(parents=True, exist_ok=True)
    write_config(course)
    source = course / "source" / name
    stamp = course / f".source-{name}.sha256"
    wanted = tree_hash(solution_folder, ignore=NOT_RELEASED)
    if source.exists() and stamp.exists() and stamp.read_text() == wanted:
        return course
    if source.exists():
        shutil.rmtree(source)
    copy_source(solution_folder, course)
    run_nbgrader(course, "generate_assignment", name, "--force")
    stamp.write_text(wanted)
    return course
