"""Submissions where nbgrader keeps them: <course>/submitted/<student>/<assignment>/, holding the
notebooks, timestamp.txt and submission_secret.txt, as `nbgrader collect` leaves them.

The grader grades from there, so the formgrader lists every graded submission with its time,
nbgrader's late-submission penalties apply, and feedback can go back through nbgrader's exchange.
Submissions that come as a folder of one subfolder or zip per student (an LMS download, say) are
first collected into the same place: the assignment's notebooks only, with the time the entry last
changed (a zip's time, or the latest of a folder's files') as the submission time and a fresh
secret. An entry whose notebooks did not change keeps its earlier copy and time.
"""
import datetime
import os
import secrets
import stat
import tempfile
import zipfile
from pathlib import Path

from .submission import SubmissionError, extract_notebooks, find_submissions, read_regular, shown, student_id

TIMESTAMP = "timestamp.txt"
SECRET = "submission_secret.txt"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"  # as nbgrader writes it (parse_utc reads it)


def submitted(course, student, assignment):
    return Path(course) / "submitted" / student / assignment


def collect(folder, course, assignment, names):
    """Copy every submission in `folder` (one subfolder or zip per student) into submitted/.
    Returns (refused {name: reason}, unreadable {student: reason}, notes {student: [...]}), the
    notes saying which copy of a notebook found more than once was taken."""
    found, refused = find_submissions(folder)
    unreadable, notes = {}, {}
    for student, path in found.items():
        when = datetime.datetime.fromtimestamp(_last_modified(path), datetime.timezone.utc)
        _install(path, course, student, assignment, names, when.strftime(TIMESTAMP_FORMAT), None,
                 unreadable, notes)
    return refused, unreadable, notes


def collect_exchange(inbound, course, assignment, names):
    """What `nbgrader collect` does, from the exchange's inbound folder (entries
    <student>+<assignment>+<time>[+<random>], written by the students' `nbgrader submit`), but
    reading it as the students' ground: nbgrader's copy follows links, so an entry holding a link
    to another student's notebook, or to the instructor's, was collected as the student's own work
    and graded (a student-style attack did). Here an entry or file that is a link is never
    followed: the link is left out, with a note. Each student's latest entry is taken, its
    timestamp.txt and submission_secret.txt (feedback goes back through the exchange with it)
    kept. An entry written by another user than the student it names is noted for review, where
    the entries do not all come from one account. Returns what collect returns."""
    entries, skipped, owners = {}, {}, {}
    for path in sorted(Path(inbound).iterdir()):
        parts = path.name.split("+")
        if len(parts) < 3 or parts[1] != assignment:
            continue
        try:
            student, mode = student_id(parts[0]), path.lstat()
        except (SubmissionError, OSError):
            continue
        if not stat.S_ISDIR(mode.st_mode):
            skipped.setdefault(student, []).append(f"exchange entry {shown(path.name)} is a link or not a folder: "
                                                   "not collected (for review)")
            continue
        owners[path] = mode.st_uid
        entries.setdefault(student, []).append((_exchange_time(parts[2]), path))
    unreadable, notes = {}, {}
    for student, found in entries.items():
        _, path = max(found, key=lambda entry: entry[0])
        note = list(skipped.pop(student, []))
        writer = _user(owners[path])
        if len(set(owners.values())) > 1 and writer != student:
            note.append(f"exchange entry {shown(path.name)} was written by user {writer}, not {student} (for review)")
        stamp = _small_text(path / TIMESTAMP) or datetime.datetime.fromtimestamp(
            path.lstat().st_mtime, datetime.timezone.utc).strftime(TIMESTAMP_FORMAT)
        _install(path, course, student, assignment, names, stamp, _small_text(path / SECRET), unreadable, notes)
        notes[student] = note + notes.get(student, [])
    refused = {student: "; ".join(why) for student, why in skipped.items()}  # nothing else to grade
    return refused, unreadable, notes


def _exchange_time(text):
    from nbgrader.utils import parse_utc
    try:
        return parse_utc(text).replace(tzinfo=None)
    except Exception:  # noqa: BLE001 - the student chose the entry's name
        return datetime.datetime.min


def _user(uid):
    import pwd
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _install(path, course, student, assignment, names, stamp, secret, unreadable, notes):
    """The submission at path (a folder or zip) as submitted/<student>/<assignment>: its notebooks
    (regular files only), `stamp` as timestamp.txt and `secret` (or a fresh one); swapped in
    whole, or left as it was when its notebooks did not change."""
    with tempfile.TemporaryDirectory(dir=course, prefix=".collect-") as tmp:
        fresh = Path(tmp) / assignment
        try:
            _missing, notes[student] = extract_notebooks(path, names, fresh)
        except (OSError, zipfile.BadZipFile, SubmissionError) as err:
            unreadable[student] = f"cannot read the submission: {err}"
            return
        target = submitted(course, student, assignment)
        if _same_notebooks(fresh, target, names):
            return
        (fresh / TIMESTAMP).write_text(stamp)
        (fresh / SECRET).write_text(secret or secrets.token_hex(64))
        target.parent.mkdir(parents=True, exist_ok=True)
        old = Path(tmp) / "old"
        if target.exists():
            target.rename(old)  # swapped, not merged: no notebook of the earlier copy stays
        fresh.rename(target)


def _last_modified(path):
    """When a submission last changed: a zip's time, or the latest of a folder's entries'."""
    times = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        times += [p.lstat().st_mtime for p in path.rglob("*")]
    return max(times)


def _same_notebooks(fresh, target, names):
    if not target.is_dir():
        return False
    for name in names:
        a, b = fresh / name, target / name
        if a.exists() != b.exists() or (a.exists() and a.read_bytes() != b.read_bytes()):
            return False
    return True


def collected(course, assignment):
    """({student: their submitted/<student>/<assignment> folder}, {name: reason it is refused})."""
    found, refused = {}, {}
    root = Path(course) / "submitted"
    if not root.is_dir():
        return found, refused
    for entry in sorted(root.iterdir()):
        folder = entry / assignment
        if entry.name.startswith(".") or not os.path.lexists(folder):
            continue
        try:
            sid = student_id(entry.name)
            if not (stat.S_ISDIR(entry.lstat().st_mode) and stat.S_ISDIR(folder.lstat().st_mode)):
                raise SubmissionError(f"submitted/{entry.name}/{assignment} is not a folder (a link?)")
        except SubmissionError as err:
            refused[shown(entry.name)] = str(err)
            continue
        found[sid] = folder
    return found, refused


def submission_time(folder):
    """The submission's time from its timestamp.txt (naive UTC, as the gradebook keeps it), or None
    when there is none that reads cleanly: missing, not a small regular file, unparsable, out of
    range, or with a time zone name nbgrader's parser does not know (it would read it as UTC).
    The grader flags a submission without a time for review (no late penalty can apply to it)."""
    import warnings

    from nbgrader.utils import parse_utc
    import dateutil.tz
    text = _small_text(Path(folder) / TIMESTAMP)
    if not text:
        return None
    parts = text.split(" ")
    if len(parts) == 3 and not parts[2].lstrip("+-").isdigit() and dateutil.tz.gettz(parts[2]) is None:
        return None  # parse_utc would drop the zone it does not know and read the time as UTC
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dateutil's UnknownTimezoneWarning: the zone was dropped
        try:
            return parse_utc(text).replace(tzinfo=None)
        except Exception:  # noqa: BLE001 - the student may have written anything here
            return None


def copy_receipts(folder, target):
    """timestamp.txt and submission_secret.txt from the submitted folder to an autograded one,
    where nbgrader's feedback steps look for them (a secret is made if the submission had none)."""
    for name in (TIMESTAMP, SECRET):
        text = _small_text(Path(folder) / name)
        if name == SECRET and not text:
            text = secrets.token_hex(64)
        if text:
            (Path(target) / name).write_text(text)


def _small_text(path, limit=4096):
    """A receipt's text: a regular file (never a link) of at most `limit` bytes, else None."""
    try:
        data = read_regular(path, limit)
    except (OSError, SubmissionError):
        return None
    return data.decode("utf-8", "replace").strip() or None
