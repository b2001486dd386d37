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
import unicodedata
import zipfile
from pathlib import Path

from .submission import (SubmissionError, extract_notebooks, find_submissions, open_folder, read_regular, shown,
                         student_id, walk)

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
        try:
            fd = open_folder(path) if stat.S_ISDIR(path.lstat().st_mode) else None
        except OSError as err:
            unreadable[student] = f"cannot read the submission: {err}"
            continue
        try:
            latest = _last_modified(path, fd)
            when = datetime.datetime.fromtimestamp(latest, datetime.timezone.utc).strftime(TIMESTAMP_FORMAT)
            _install(path, fd, course, student, assignment, names, when, None, notes)
        except (OSError, zipfile.BadZipFile, SubmissionError) as err:
            unreadable[student] = f"cannot read the submission: {err}"
        finally:
            if fd is not None:
                os.close(fd)
    return refused, unreadable, notes


def collect_exchange(inbound, course, assignment, names, shared_account=False):
    """What `nbgrader collect` does, from the exchange's inbound folder (entries
    <student>+<assignment>+<time>[+<random>], written by the students' `nbgrader submit`), but
    reading it as the students' ground. nbgrader's copy follows links, so an entry holding a link
    to another student's notebook, or to the instructor's, was collected as the student's own work
    and graded (a student-style attack did). Here every entry is read through descriptors, never
    through a link, even one swapped in while it is read (submission.walk). An entry written by
    another user than the student it names (or root, or the grader's own user) is left out: one
    student could otherwise replace another's submission, even as the only one who has submitted
    yet. shared_account: every student submits through one account (a JupyterHub whose servers
    all run as one user), so the writer says nothing and is not checked. Each student's latest
    entry is taken, latest by when the entry was made (its ctime, which no user can set ahead),
    not by the time in its name; its timestamp.txt and submission_secret.txt (feedback goes back
    through the exchange with it) are kept. Returns what collect returns."""
    entries, skipped = {}, {}
    inbound_fd = open_folder(inbound)
    try:
        listed = []
        for name in sorted(os.listdir(inbound_fd)):
            parts = name.split("+")
            if len(parts) < 3 or parts[1] != assignment:
                continue
            try:
                listed.append((name, student_id(parts[0]), os.stat(name, dir_fd=inbound_fd, follow_symlinks=False)))
            except (SubmissionError, OSError):
                continue
        for name, student, info in listed:
            writer = _user(info.st_uid)
            if not stat.S_ISDIR(info.st_mode):
                skipped.setdefault(student, []).append(
                    f"exchange entry {shown(name)} is a link or not a folder: not collected (for review)")
            elif not shared_account and writer != student and info.st_uid not in (0, os.geteuid()):
                skipped.setdefault(student, []).append(
                    f"exchange entry {shown(name)} was written by user {writer}, not {student}: not collected "
                    f"(for review)")
            else:
                entries.setdefault(student, []).append((info.st_ctime_ns, name))
        unreadable, notes = {}, {}
        for student, found in entries.items():
            name = max(found)[1]
            note = list(skipped.pop(student, []))
            try:
                fd = open_folder(name, dir_fd=inbound_fd)
            except OSError as err:
                unreadable[student] = f"cannot read the submission: {err}"
                continue
            try:
                stamp = _small_text(TIMESTAMP, fd) or datetime.datetime.fromtimestamp(
                    os.fstat(fd).st_ctime, datetime.timezone.utc).strftime(TIMESTAMP_FORMAT)
                _install(Path(inbound) / name, fd, course, student, assignment, names, stamp,
                         _small_text(SECRET, fd), notes)
            except (OSError, zipfile.BadZipFile, SubmissionError) as err:
                unreadable[student] = f"cannot read the submission: {err}"
            finally:
                os.close(fd)
            notes[student] = note + notes.get(student, [])
    finally:
        os.close(inbound_fd)
    refused = {student: "; ".join(why) for student, why in skipped.items()}  # nothing else to grade
    return refused, unreadable, notes


def _user(uid):
    import pwd
    try:
        return unicodedata.normalize("NFC", pwd.getpwuid(uid).pw_name)  # as student ids are
    except KeyError:
        return f"uid {uid}"


def _install(path, fd, course, student, assignment, names, stamp, secret, notes):
    """The submission at path (a zip, or the folder open as fd) as submitted/<student>/<assignment>:
    its notebooks (regular files only), `stamp` as timestamp.txt and `secret` (or a fresh one);
    swapped in whole, or left as it was when its notebooks did not change. Raises what reading the
    submission raises."""
    with tempfile.TemporaryDirectory(dir=course, prefix=".collect-") as tmp:
        fresh = Path(tmp) / assignment
        _missing, notes[student] = extract_notebooks(path, names, fresh, folder=fd)
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


def _last_modified(path, fd=None):
    """When a submission last changed: a zip's time, or the latest of a folder's (open as fd)
    entries'."""
    if fd is None:
        return path.lstat().st_mtime
    return max([os.fstat(fd).st_mtime, *(info.st_mtime for _, info in walk(fd))])


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


def _small_text(path, dir_fd=None, limit=4096):
    """A receipt's text: a regular file (never a link) of at most `limit` bytes, else None."""
    try:
        data = read_regular(path, limit, dir_fd=dir_fd)
    except (OSError, SubmissionError):
        return None
    return data.decode("utf-8", "replace").strip() or None
