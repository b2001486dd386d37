"""Submissions on disk and what the grader runs for them."""
import json
import os
import zipfile

import pytest

from autograder import submission
from notebook_tools import ASSIGNMENTS, SOLUTIONS, blank, grade_id, load, solved, source


def test_ids_are_any_printable_text_without_separators():
    assert submission.student_id("e\u0301le\u0300ve") == "élève"  # normalised to one spelling
    for name in ("Zoë Smith", "学生-7", "o'brien"):
        assert submission.student_id(name) == name
    for bad in ("", ".hidden", "a/b", "tab\there", " padded", "x" * 101):
        with pytest.raises(submission.SubmissionError):
            submission.student_id(bad)


def test_links_collisions_and_strays_are_refused_or_skipped(tmp_path):
    for name in ("ann", "bob", "élève"):
        (tmp_path / name).mkdir()
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as z:
        z.writestr("x.ipynb", "{}")
    with zipfile.ZipFile(tmp_path / "cy.zip", "w") as z:
        z.writestr("x.ipynb", "{}")
    os.symlink(tmp_path / "ann", tmp_path / "dan")
    (tmp_path / "notes.txt").write_text("not a submission")
    found, refused = submission.find_submissions(tmp_path)
    assert sorted(found) == ["ann", "cy", "élève"]
    assert "symbolic link" in refused["dan"] and "both" in refused["bob"]


def test_only_regular_files_are_read(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    os.mkfifo(folder / "a.ipynb")  # would hang a reader
    os.symlink("/dev/zero", folder / "b.ipynb")
    (folder / "c.ipynb").write_text("{}")
    missing, _ = submission.extract_notebooks(folder, ["a.ipynb", "b.ipynb", "c.ipynb"], tmp_path / "out")
    assert missing == ["a.ipynb", "b.ipynb"] and (tmp_path / "out" / "c.ipynb").read_text() == "{}"


def test_the_copy_nearest_the_top_is_graded_and_caches_are_ignored(tmp_path):
    folder = tmp_path / "sub"
    (folder / "02_svm").mkdir(parents=True)
    (folder / "__pycache__").mkdir()
    (folder / "02_svm.ipynb").write_text("mine")
    (folder / "02_svm" / "02_svm.ipynb").write_text("the release I downloaded again")
    (folder / "__pycache__" / "x.ipynb").write_text("hidden")
    missing, notes = submission.extract_notebooks(folder, ["02_svm.ipynb", "x.ipynb"], tmp_path / "out")
    assert (tmp_path / "out" / "02_svm.ipynb").read_text() == "mine"
    assert missing == ["x.ipynb"] and notes == ["02_svm.ipynb: 2 copies in the submission; graded 02_svm.ipynb"]
    with zipfile.ZipFile(tmp_path / "sub.zip", "w") as z:
        z.writestr("deep/er/02_svm.ipynb", "deeper")
        z.writestr("top/02_svm.ipynb", "top")
        z.writestr("__MACOSX/02_svm.ipynb", "resource fork")
    missing, notes = submission.extract_notebooks(tmp_path / "sub.zip", ["02_svm.ipynb"], tmp_path / "zout")
    assert (tmp_path / "zout" / "02_svm.ipynb").read_text() == "top" and "2 copies" in notes[0]


def test_the_notebook_run_has_no_hidden_test_and_the_students_answers():
    source_nb = load(SOLUTIONS / "02_svm" / "02_svm.ipynb")
    assembled = submission.assemble(source_nb, blank("02_svm"), solved("02_svm"))
    text = json.dumps(assembled)
    assert "BEGIN HIDDEN" not in text and "checks.answer" not in text and "BEGIN SOLUTION" not in text
    assert "margin" in "".join(source(c) for c in assembled["cells"] if grade_id(c) == "naive")


def test_a_stub_left_above_the_real_answer_is_not_what_is_graded():
    nb = solved("02_svm")
    stub = next(c for c in blank("02_svm")["cells"] if grade_id(c) == "naive")
    at = next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == "naive")
    nb["cells"].insert(at, stub)
    assembled = submission.assemble(load(SOLUTIONS / "02_svm" / "02_svm.ipynb"), blank("02_svm"), nb)
    naive = "".join(source(c) for c in assembled["cells"] if grade_id(c) == "naive")
    assert "NotImplementedError" not in naive and "margin" in naive


def test_a_decisive_run_gets_the_setup_and_answers_above_its_test_and_its_hidden_code():
    source_nb = load(SOLUTIONS / "02_svm" / "02_svm.ipynb")
    assembled = submission.assemble(source_nb, blank("02_svm"), solved("02_svm"))
    index = next(i for i, c in enumerate(assembled["cells"]) if grade_id(c) == "test-vectorized")
    cells = submission.phase_cells(assembled, index)
    assert len(cells) == 3 and "get_dataset" in cells[0] and "def svm_loss_vectorized" in cells[2]
    assert submission.hidden_code(source_nb, "test-vectorized").strip().endswith(
        'checks.answer("test-vectorized", svm_loss_vectorized)')
    assert (ASSIGNMENTS / "02_svm" / "02_svm.ipynb").exists()


def test_names_that_are_no_id_are_refused_under_a_name_that_can_be_logged_and_exported(tmp_path):
    for raw in (b"bad\xff", b"esc\x1b[31m", b"tab\tname"):
        os.makedirs(os.path.join(bytes(tmp_path), raw))
    (tmp_path / "ann").mkdir()
    found, refused = submission.find_submissions(tmp_path)
    assert list(found) == ["ann"]
    assert sorted(refused) == ["bad\\udcff", "esc\\x1b[31m", "tab\\tname"]
    for name, reason in refused.items():
        (name + reason).encode("ascii")  # nothing a strict log or a CSV writer could choke on


def test_a_submission_time_is_read_only_from_a_clean_timestamp(tmp_path):
    from datetime import datetime

    from autograder.collect import submission_time
    cases = {"2026-12-01 10:30:00.000000 UTC": datetime(2026, 12, 1, 10, 30),
             "2026-12-01 10:30:00 PST": None,  # a zone the parser would drop, reading it as UTC
             "9999999999999999999999": None, "yesterday": None, "": None, "x" * 5000: None}
    for i, (text, expected) in enumerate(cases.items()):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "timestamp.txt").write_text(text)
        assert submission_time(folder) == expected, text
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").mkdir()
    os.symlink(tmp_path / "0" / "timestamp.txt", tmp_path / "link" / "timestamp.txt")
    (tmp_path / "none").mkdir()
    assert submission_time(tmp_path / "link") is None and submission_time(tmp_path / "none") is None
    fifo_folder = tmp_path / "fifo-folder"
    fifo_folder.mkdir()
    os.mkfifo(fifo_folder / "timestamp.txt")
    assert submission_time(fifo_folder) is None


def test_the_exchange_is_collected_without_following_a_link(tmp_path):
    """nbgrader collect follows links: a student-style attack put a link to another student's
    notebook (and one to the instructor's source) in its exchange entry and was graded on it.
    collect_exchange takes each student's latest entry, regular files only."""
    from autograder.collect import collect_exchange, submitted
    inbound, course = tmp_path / "inbound", tmp_path / "course"
    course.mkdir()
    secret_source = tmp_path / "source.ipynb"
    secret_source.write_text('{"the": "instructor"}')

    def entry(student, when, assignment="02_svm", notebook=None):
        folder = inbound / f"{student}+{assignment}+{when} UTC+{os.urandom(4).hex()}"
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text(f"{when} UTC")
        (folder / "submission_secret.txt").write_text(f"secret of {student} at {when}")
        if notebook is not None:
            (folder / "02_svm.ipynb").write_text(notebook)
        return folder

    entry("alice", "2026-01-10 10:00:00.000000", notebook='{"alice": 1}')
    alice = entry("alice", "2026-01-11 09:00:00.000000", notebook='{"alice": 2}')
    entry("bob", "2026-01-11 09:00:00.000000", assignment="01_knn", notebook="{}")
    os.symlink(alice / "02_svm.ipynb", entry("mallory", "2026-01-11 10:00:00.000000") / "02_svm.ipynb")
    os.symlink(secret_source.parent, inbound / "trudy+02_svm+2026-01-11 11:00:00.000000 UTC+ab")
    refused, unreadable, notes = collect_exchange(inbound, course, "02_svm", ["02_svm.ipynb"])
    got = submitted(course, "alice", "02_svm")
    assert (got / "02_svm.ipynb").read_text() == '{"alice": 2}'  # the latest entry
    assert (got / "timestamp.txt").read_text() == "2026-01-11 09:00:00.000000 UTC"
    assert (got / "submission_secret.txt").read_text() == "secret of alice at 2026-01-11 09:00:00.000000"
    assert not (submitted(course, "mallory", "02_svm") / "02_svm.ipynb").exists()  # the link is not read
    assert "trudy" in refused and "link" in refused["trudy"] and not submitted(course, "trudy", "02_svm").exists()
    assert not (course / "submitted" / "bob").exists() and unreadable == {}


def test_a_folder_swapped_for_a_link_while_it_is_read_is_never_followed(tmp_path, monkeypatch):
    """A re-attack won this race 3 times in 3: the student's process watched the grader open a
    subfolder, then renamed it and put a link to another student's submission in its place, and
    the copy went through the link. Every step is now opened from the folder before it, never
    through a link."""
    entry, elsewhere = tmp_path / "entry", tmp_path / "bob"
    (entry / "sub").mkdir(parents=True)
    (entry / "sub" / "02_svm.ipynb").write_text('{"decoy": 1}')
    elsewhere.mkdir()
    (elsewhere / "02_svm.ipynb").write_text('{"bob": 1}')
    read_in = submission.read_in

    def swapped_first(root, parts, limit):  # between the walk and the read, as the attack did
        os.rename(entry / "sub", entry / ".old")
        os.symlink(elsewhere, entry / "sub")
        return read_in(root, parts, limit)
    monkeypatch.setattr(submission, "read_in", swapped_first)
    with pytest.raises(OSError):  # the link is not a folder to open: nothing is read
        submission.extract_notebooks(entry, ["02_svm.ipynb"], tmp_path / "out")
    assert not (tmp_path / "out" / "02_svm.ipynb").exists()
    monkeypatch.setattr(submission, "read_in", read_in)
    missing, _ = submission.extract_notebooks(entry, ["02_svm.ipynb"], tmp_path / "again")
    assert missing == ["02_svm.ipynb"]  # listed as a link now: never entered


def test_a_tree_built_to_exhaust_the_grader_is_refused_with_a_reason(tmp_path):
    """A re-attack crashed a whole collection (RecursionError, nobody graded) with 1,100 nested
    folders in one entry."""
    deep = tmp_path / "subs" / "deep"
    folder = deep
    for _ in range(submission.MAX_TREE_DEPTH + 5):
        folder = folder / "d"
    folder.mkdir(parents=True)
    from notebook_tools import write_submission
    write_submission(tmp_path / "subs", "fine", "02_svm", blank("02_svm"))
    from autograder.collect import collect
    (tmp_path / "course").mkdir()
    refused, unreadable, _ = collect(tmp_path / "subs", tmp_path / "course", "02_svm", ["02_svm.ipynb"])
    assert "nested more than" in unreadable["deep"] and "fine" not in unreadable and refused == {}
    assert (tmp_path / "course" / "submitted" / "fine" / "02_svm" / "02_svm.ipynb").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give entries other owners")
def test_an_exchange_entry_written_by_another_user_is_left_out(tmp_path):
    """A re-attack wrote bob+<assignment>+9999-12-31... as another user: it replaced Bob's
    submission, and stayed his "latest" whatever he submitted after. Where the entries come from
    several accounts, an entry is taken only from the user it names, and the latest is the one
    made last, whatever its name says."""
    import pwd
    import time
    from autograder.collect import collect_exchange, submitted
    users = [u for u in ("nobody", "daemon", "bin") if _has_user(u)]
    if len(users) < 2:
        pytest.skip("needs two system users")
    honest, other = users[0], users[1]
    inbound, course = tmp_path / "inbound", tmp_path / "course"
    course.mkdir()

    def entry(student, when, owner, text):
        folder = inbound / f"{student}+02_svm+{when} UTC+{os.urandom(3).hex()}"
        folder.mkdir(parents=True)
        (folder / "02_svm.ipynb").write_text(text)
        for path in (folder, folder / "02_svm.ipynb"):
            os.chown(path, pwd.getpwnam(owner).pw_uid, -1)
        time.sleep(0.01)  # made one after the other
        return folder

    entry(honest, "9999-12-31 00:00:00.000000", honest, '{"first": 1}')  # a name that claims the future
    entry(honest, "2026-01-10 10:00:00.000000", honest, '{"latest": 1}')
    entry(honest, "9999-12-31 00:00:00.000000", other, '{"planted": 1}')  # another user's, in their name
    entry(other, "2026-01-10 10:00:00.000000", other, '{"theirs": 1}')
    refused, unreadable, notes = collect_exchange(inbound, course, "02_svm", ["02_svm.ipynb"])
    assert (submitted(course, honest, "02_svm") / "02_svm.ipynb").read_text() == '{"latest": 1}'
    assert any(f"written by user {other}, not {honest}" in n for n in notes[honest])
    assert (submitted(course, other, "02_svm") / "02_svm.ipynb").read_text() == '{"theirs": 1}'
    # a third re-attack: the forger as the only one to have submitted yet
    inbound = tmp_path / "inbound-early"
    entry(other, "2026-01-10 10:00:00.000000", honest, '{"forged": 1}')
    for folder in (tmp_path / "inbound").iterdir():
        if f"{other}+" in folder.name and '"forged"' in (folder / "02_svm.ipynb").read_text():
            inbound.mkdir()
            os.rename(folder, inbound / folder.name)
    refused, _, _ = collect_exchange(inbound, tmp_path / "course-early", "02_svm", ["02_svm.ipynb"])
    assert f"written by user {honest}, not {other}" in refused[other]
    (tmp_path / "course-early").mkdir()
    collect_exchange(inbound, tmp_path / "course-early", "02_svm", ["02_svm.ipynb"], shared_account=True)
    assert (submitted(tmp_path / "course-early", other, "02_svm") / "02_svm.ipynb").is_file()  # one account


def _has_user(name):
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_a_wide_tree_is_read_with_one_descriptor_per_level(tmp_path):
    """A re-attack hid a notebook behind 1,500 sibling folders: each was opened when listed, the
    descriptors ran out (EMFILE, swallowed) and the notebook went missing without a reason."""
    import resource
    entry = tmp_path / "wide"
    for i in range(300):
        (entry / f"f{i:04d}").mkdir(parents=True)
    (entry / "f0299" / "02_svm.ipynb").write_text("{}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 200), hard))
    try:
        missing, _ = submission.extract_notebooks(entry, ["02_svm.ipynb"], tmp_path / "out")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert missing == [] and (tmp_path / "out" / "02_svm.ipynb").read_text() == "{}"
