"""The nbgrader course directory the pipeline works in, and its configuration."""
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

# Written into every course directory. nbgrader here only registers assignments, keeps the gradebook
# and renders feedback (autograder.worker runs the notebooks). The autograded notebooks hold no
# hidden test (the kernel never saw one), so the feedback chain needs no ClearHiddenTests, which
# would fail on a student's answer cell that merely mentions its marker.
CONFIG = '''\
c = get_config()
c.CourseDirectory.course_id = "course"
from nbgrader.preprocessors import GetGrades
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor]
'''


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message holds the end of its log."""


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


def tree_hash(path):
    """Hash of a file, or of every file below a folder (names and bytes): what changed, not when."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if ".ipynb_checkpoints" in f.parts or "__pycache__" in f.parts:
            continue
        name = f.name if f == path else str(f.relative_to(path))
        digest.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def prepare(course, solution_folder):
    """Make `course` an nbgrader course directory holding this assignment's source, and register
    the assignment (its grade cells, checksums and hidden tests) in the gradebook. Regenerates only
    when the source changed, so earlier grades stay attached to the same cells."""
    course = Path(course).resolve()
    solution_folder = Path(solution_folder)
    name = solution_folder.name
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    source = course / "source" / name
    stamp = course / f".source-{name}.sha256"
    wanted = tree_hash(solution_folder)
    if source.exists() and stamp.exists() and stamp.read_text() == wanted:
        return course
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(solution_folder, source, ignore=shutil.ignore_patterns(".ipynb_checkpoints",
                                                                           "__pycache__"))
    run_nbgrader(course, "generate_assignment", name, "--force")
    stamp.write_text(wanted)
    return course
