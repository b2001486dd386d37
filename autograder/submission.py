"""Submissions on disk (one folder or zip per student), and what the grader runs for one: the
instructor's notebook with the student's answer cells put in and the test cells as released (no
hidden test), and, per test, the cells its decisive run needs."""
import copy
import errno
import os
import re
import stat
import unicodedata
import zipfile
from pathlib import Path

from .integrity import graded_cells, is_answer, nbgrader_meta, source

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a notebook inside a zip, unpacked


class SubmissionError(ValueError):
    """A submission that cannot be graded as it stands; the message says why."""


def student_id(name):
    """The student id a folder or zip name stands for (NFC-normalised), or SubmissionError: any
    printable text without path separators, not starting with a dot, at most 100 characters."""
    sid = unicodedata.normalize("NFC", name)
    if not sid or len(sid) > 100 or sid.startswith(".") or "/" in sid or "\\" in sid \
            or not sid.isprintable() or sid.strip() != sid:
        raise SubmissionError(f"{ascii(name)} is not a usable student id: use printable characters without "
                              f"slashes, leading dots or surrounding spaces (at most 100)")
    return sid


def shown(name):
    """A name as it may be logged, stored and exported whatever it holds: characters that are not
    printable (control characters, bytes that are not UTF-8) written as escapes."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name)


def find_submissions(folder):
    """({student id: path}, {name: reason it cannot be graded}) for every entry in folder: a
    subfolder or a .zip each. A linked entry, an id with both a folder and a zip, or a name that is
    no usable id is refused with its reason rather than guessed at."""
    found, refused, seen = {}, {}, {}
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith("."):
            continue
        name = path.stem if path.suffix == ".zip" else path.name
        try:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise SubmissionError(f"{path.name} is a symbolic link; submit a folder or a zip")
            if not (stat.S_ISDIR(mode) or (stat.S_ISREG(mode) and path.suffix == ".zip")):
                continue
            sid = student_id(name)
        except SubmissionError as err:
            refused[shown(name)] = str(err)
            continue
        if sid in seen:
            refused[sid] = (f"both {seen[sid].name} and {path.name} are submissions of {sid}; "
                            f"keep one of them")
            found.pop(sid, None)
            continue
        seen[sid] = path
        found[sid] = path
    for sid in refused:
        found.pop(sid, None)
    return found, refused


def _ignored(parts):
    """Folders no notebook is taken from: hidden ones (.ipynb_checkpoints), __pycache__, __MACOSX."""
    return any(p.startswith((".", "__")) for p in parts[:-1])


def _best(paths):
    """Of several copies of a notebook, the one nearest the top (then by name)."""
    return min(paths, key=lambda parts: (len(parts), parts)) if paths else None


def extract_notebooks(submission, names, target, folder=None):
    """Copy the expected notebooks out of a folder or zip into target; returns (the missing names,
    notes on notebooks found more than once). Only regular files are read (no link, FIFO or
    device), a zip is read by member name (no path in it is ever extracted), no member larger than
    MAX_MEMBER_BYTES is unpacked, and of several copies the one nearest the top is taken.
    folder: the submission folder opened already (open_folder), whose path may have changed since.

    A folder is read through descriptors, each step opened from the one before without following
    a link (see walk): its owner may rename and replace its subfolders while it is read, but
    never make the grader read anything outside it."""
    target.mkdir(parents=True, exist_ok=True)
    missing, notes = [], []
    if folder is not None or stat.S_ISDIR(os.lstat(submission).st_mode):
        root = os.dup(folder) if folder is not None else open_folder(submission)
        try:
            found = {name: [] for name in names}
            for parts, info in walk(root, skip=lambda parts: _ignored(parts + ("x",))):
                if parts[-1] in found and stat.S_ISREG(info.st_mode):
                    found[parts[-1]].append(parts)
            for name in names:
                hits = found[name]
                if len(hits) > 1:
                    notes.append(f"{name}: {len(hits)} copies in the submission; graded {'/'.join(_best(hits))}")
                if hits:
                    (target / name).write_bytes(read_in(root, _best(hits), MAX_MEMBER_BYTES))
                else:
                    missing.append(name)
        finally:
            os.close(root)
        return missing, notes
    fd = os.open(submission, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as opened, zipfile.ZipFile(opened) as archive:
        members = {}
        for m in archive.infolist():
            parts = tuple(Path(m.filename).parts)
            if not m.is_dir() and not _ignored(parts):
                members.setdefault(parts[-1], []).append((parts, m))
        for name in names:
            copies = dict(members.get(name, []))
            if len(copies) > 1:
                notes.append(f"{name}: {len(copies)} copies in the zip; graded {'/'.join(_best(list(copies)))}")
            member = copies[_best(list(copies))] if copies else None
            if member is None:
                missing.append(name)
            elif member.file_size > MAX_MEMBER_BYTES:
                raise SubmissionError(f"{name} in the zip unpacks to {member.file_size} bytes")
            else:
                with archive.open(member) as f:
                    (target / name).write_bytes(f.read(MAX_MEMBER_BYTES + 1)[:MAX_MEMBER_BYTES])
    return missing, notes


# A submission folder is walked whole (its latest change is its time): bounded, so that a tree
# built to be deep or wide stops with a reason instead of exhausting the grader.
MAX_TREE_DEPTH = 32
MAX_TREE_ENTRIES = 20_000


def open_folder(path, dir_fd=None):
    """A descriptor of the folder at path (never through a link at its last step)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)


def walk(root, skip=lambda parts: False):
    """(parts, lstat result) of every entry under the folder descriptor root, parts relative to
    it, depth first; each subfolder is opened from its parent's descriptor without following a
    link (a link is listed, never entered), when it is entered (one descriptor per level: a wide
    tree cannot exhaust them), and not entered where skip(parts) says so. SubmissionError past
    MAX_TREE_DEPTH or MAX_TREE_ENTRIES."""
    def listing(fd):
        with os.scandir(fd) as entries:
            return [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
    fds, levels, seen = [os.dup(root)], [((), None)], 0
    try:
        levels[0] = ((), listing(fds[0]))
        while levels:
            parts, todo = levels[-1]
            if not todo:
                levels.pop()
                os.close(fds.pop())
                continue
            name, info = todo.pop()
            seen += 1
            if seen > MAX_TREE_ENTRIES:
                raise SubmissionError(f"the submission holds more than {MAX_TREE_ENTRIES} files and folders")
            here = parts + (name,)
            yield here, info
            if not stat.S_ISDIR(info.st_mode) or skip(here):
                continue
            if len(here) >= MAX_TREE_DEPTH:
                raise SubmissionError(f"the submission's folders are nested more than {MAX_TREE_DEPTH} deep")
            try:
                fd = open_folder(name, dir_fd=fds[-1])
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    continue  # replaced by a link or removed since it was listed: not entered
                raise SubmissionError(f"{'/'.join(here)} cannot be read: {err.strerror}") from err
            fds.append(fd)
            levels.append((here, listing(fd)))
    finally:
        for fd in fds:
            os.close(fd)


def read_in(root, parts, limit):
    """The bytes of the regular file at parts under the folder descriptor root, each folder on the
    way opened from the one before without following a link (see read_regular)."""
    fd = os.dup(root)
    try:
        for name in parts[:-1]:
            step = open_folder(name, dir_fd=fd)
            os.close(fd)
            fd = step
        return read_regular(parts[-1], limit, dir_fd=fd)
    finally:
        os.close(fd)


def read_regular(path, limit, dir_fd=None):
    """The bytes of a regular file (never a link, FIFO or device) of at most `limit` bytes; else
    SubmissionError (OSError if it cannot be opened). dir_fd: path is relative to that folder."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SubmissionError(f"{Path(path).name} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise SubmissionError(f"{Path(path).name} is larger than {limit} bytes")
    return data


def without_hidden(code):
    """A test cell as students see it: the hidden region removed, as nbgrader's release does."""
    lines, hidden = [], False
    for line in code.splitlines(keepends=True):
        if line.strip() == BEGIN_HIDDEN:
            hidden = True
        elif line.strip() == END_HIDDEN:
            hidden = False
        elif not hidden:
            lines.append(line)
    return "".join(lines).rstrip("\n")


def hidden_code(source_nb, gid):
    """The hidden region of the instructor's test cell gid: the decisive run's code."""
    for cell in source_nb["cells"]:
        if nbgrader_meta(cell).get("grade_id") == gid:
            code = source(cell)
            start, end = code.find(BEGIN_HIDDEN), code.find(END_HIDDEN)
            return code[start + len(BEGIN_HIDDEN):end] if 0 <= start < end else ""
    return ""


def _chosen(copies, stub):
    """The student's version of an answer cell pasted more than once: the last copy that is not
    the release's stub (a stale stub above the real answer is not what they meant)."""
    answered = [c for c in copies if source(c).strip() != stub.strip()]
    return (answered or copies)[-1]


def assemble(source_nb, release_nb, submitted_nb):
    """The notebook to run: every cell of the instructor's notebook in its order, the test cells
    without their hidden tests, each answer cell holding the student's version of it, found by
    grade id (a lost answer cell keeps the release's stub). Cells the student added are not run."""
    released = {gid: cells[0] for gid, cells in graded_cells(release_nb).items()}
    submitted = graded_cells(submitted_nb)
    nb = copy.deepcopy(source_nb)
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if meta.get("solution"):
            stub = source(released[gid])
            mine = [c for c in submitted.get(gid, []) if c.get("cell_type") == cell["cell_type"]]
            cell["source"] = source(_chosen(mine, stub)) if mine else stub
        elif meta.get("grade") and cell["cell_type"] == "code":
            cell["source"] = without_hidden(source(cell))
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def phase_cells(notebook, index):
    """The code a test's decisive run executes before its hidden code: the instructor's locked
    setup cells and the student's answer cells above the test cell, in order."""
    cells = []
    for cell in notebook["cells"][:index]:
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "code" and (is_answer(cell) or (meta.get("locked") and not meta.get("grade"))):
            cells.append(source(cell))
    return cells


# What a failed test cell's message keeps: the checks' diagnoses ("... 4 times the expected answer,
# close to N: a missing or extra 1/N") run to 300-500 characters and are the useful part.
EVALUE_CHARS = 600


def stderr_summary(text):
    """The telling line of a cell's stderr (a warning's own line, not the source line Python
    prints after it), shortened: the student's own output, so that they see what cost the test."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    telling = next((line for line in lines if re.search(r"(Warning|Error)\b", line)), lines[0] if lines else "")
    return telling[:EVALUE_CHARS] or "(empty)"


def cell_passed(cell):
    """nbgrader's rule: a test cell fails if it raised or wrote anything to stderr; it must also
    have run at all (a dead kernel leaves the rest unexecuted)."""
    if cell.get("execution_count") is None:
        return False, "not run (the kernel died or time ran out before it)"
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt":
            return False, "ran longer than the cell time limit and was interrupted"
        if out.get("output_type") == "error" and out.get("ename") in ("TimeoutError", "DeadKernelError"):
            return False, str(out.get("evalue"))[:EVALUE_CHARS]
        if out.get("output_type") == "error":
            return False, f"raised {str(out.get('ename'))[:60]}: {str(out.get('evalue'))[:EVALUE_CHARS]}"
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return False, f"wrote to stderr: {stderr_summary(out.get('text'))}"
    return True, ""
