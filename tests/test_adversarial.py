"""The grader against hostile submissions (tests/adversarial.py), graded with two workers: every
entry gets exactly its score, nothing outside a submission's working copy is read, written or
reached over the network, the limits hold for a submission as a whole, feedback carries nothing
secret, and a serial run gives identical grades."""
import http.server
import json
import os
import re
import shutil
import threading
import zipfile
from html.parser import HTMLParser

import nbformat
import pytest

from adversarial import NAME, corpus
from autograder import grading
from notebook_tools import ROOT, SOLUTIONS, grade_id, solved, source, write_submission

# Cells get all the time a busy machine may need; the submissions that hang are graded apart with a
# short cell limit, since there the hang is what is tested.
LIMITS = dict(cell_timeout=120, timeout=600, memory_mb=3000, processes=64, progress=False,
              log=lambda *_: None)
HANG_LIMITS = dict(LIMITS, cell_timeout=10, timeout=150)


class Recorder(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):  # noqa: N802 - the http.server API
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def graded(tmp_path_factory, warm_course):
    root = tmp_path_factory.mktemp("adversarial")
    solutions, subs, course = root / "solutions", root / "submissions", root / "course"
    warm_course(NAME, course)
    shutil.copytree(SOLUTIONS / NAME, solutions / NAME)  # vandals aim at it: never the repo's own
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    paths = {"read": [str(course / "gradebook.db"), str(course / "source" / NAME / f"{NAME}.ipynb"),
                      str(course / ".grader-secret"), str(solutions / NAME / f"{NAME}.ipynb"),
                      str(subs / "honest" / f"{NAME}.ipynb"), str(course / "results"),
                      str(ROOT / ".git"), str(ROOT / "solutions"), str(ROOT / "autograder")],
             "write": [str(course / "gradebook.db"), str(subs / "honest" / f"{NAME}.ipynb"),
                       str(course / "results"), str(solutions / NAME), str(course / "source")]}
    entries = corpus(paths, server.server_address[1])
    for entry in entries:
        write_submission(root / "hanging" if entry.hangs else subs, entry.student, NAME, entry.notebook)
    honest = (subs / "honest" / f"{NAME}.ipynb").read_bytes()
    os.symlink(subs / "honest", subs / "linked")  # a link to someone else's folder
    write_submission(subs, "twin", NAME, entries[0].notebook)  # a folder and a zip of one id
    with zipfile.ZipFile(subs / "twin.zip", "w") as z:
        z.writestr(f"{NAME}.ipynb", (subs / "honest" / f"{NAME}.ipynb").read_text())
    host_tmp = set(os.listdir("/tmp"))
    grading.autograde(solutions / NAME, root / "hanging", course, workers=2, **HANG_LIMITS)
    results = grading.autograde(solutions / NAME, subs, course, workers=2, **LIMITS)  # keeps the others
    server.shutdown()
    return {"root": root, "entries": {e.student: e for e in entries}, "results": results,
            "honest": honest, "new_in_tmp": set(os.listdir("/tmp")) - host_tmp}


ENTRIES = [e.student for e in corpus({"read": [], "write": []}, 0)]


@pytest.mark.parametrize("student", ENTRIES)
def test_each_attack_gets_exactly_its_score(graded, student):
    entry, record = graded["entries"][student], graded["results"][student]
    assert record["status"] == entry.status, record["message"]
    assert record["auto_score"] == entry.score, (record["checks"], record["integrity"])
    assert record["auto_max"] == 8
    report = " | ".join(record["integrity"])
    for finding in entry.findings:
        assert finding in report, report
    for test, reason in entry.failed.items():
        problems = " | ".join(record["checks"][f"{NAME}:{test}"])
        assert reason in problems, problems


def test_nothing_outside_the_working_copy_was_changed(graded):
    root = graded["root"]
    assert (root / "submissions" / "honest" / f"{NAME}.ipynb").read_bytes() == graded["honest"]
    assert (root / "solutions" / NAME / f"{NAME}.ipynb").exists()
    saved = grading.load_results(root / "course", NAME)
    assert saved["honest"]["auto_score"] == 8 and set(saved) == set(ENTRIES) | {"linked", "twin"}
    assert not [n for n in graded["new_in_tmp"] if n.startswith("filler")]  # the jail has its own /tmp
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'course' / 'gradebook.db'}") as gb:
        assert gb.find_submission(NAME, "honest").score == 8
        assert gb.find_submission(NAME, "vandal").score == 8


def test_no_submission_reached_the_network(graded):
    assert Recorder.hits == []


def printed(graded, student):
    nb = nbformat.read(graded["root"] / "course" / "autograded" / student / NAME / f"{NAME}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_process_and_output_limits_held(graded):
    children = int(printed(graded, "fork-bomb").split("forks stopped after ")[1].split()[0])
    assert children < LIMITS["processes"]
    autograded = graded["root"] / "course" / "autograded"
    assert (autograded / "huge-output" / NAME / f"{NAME}.ipynb").stat().st_size < 2_000_000


def test_disk_and_memory_are_limited_for_the_submission_as_a_whole(graded):
    written = int(printed(graded, "disk-filler").split("megabytes written: ")[1].split()[0])
    assert 0 < written <= 1024  # the jail's writable root is a tmpfs of --disk-mb (1024)
    from autograder.cgroups import Cgroup
    probe = Cgroup.create(f"course-grade-probe-{os.getpid()}", 1 << 30, 10)
    if probe is None:
        pytest.skip("no cgroups here: only the per-process limits apply (see the README)")
    probe.close()
    held = int(printed(graded, "memory-together").split("blocks held together: ")[1].split()[0])
    assert held <= 2  # three 1.2 GB blocks would exceed the 3000 MB of the submission


def test_a_submission_gets_its_share_of_the_cores_however_many_processes_spin(graded):
    from autograder.cgroups import Cgroup
    probe = Cgroup.create(f"course-grade-probe-{os.getpid()}", 1 << 30, 10, cpus=1)
    quota = probe and probe.cpu_quota_folder()
    if probe:
        probe.close()
    if not quota:
        pytest.skip("no cpu controller of ours here: submissions get no CPU quota (see the README)")
    used = float(printed(graded, "cpu-hog").split("cores used by 4 spinners: ")[1].split()[0])
    share = max(1, len(os.sched_getaffinity(0)) // 2)  # two workers share the cores
    assert used <= share + 0.15, used  # a period of slack: 2 s of spinning is 20 periods


def test_a_submission_sees_only_its_own_processes(graded):
    pids = [int(p) for p in re.findall(r"\d+", printed(graded, "proc-walk").split("pids seen:")[1].split("\n")[0])]
    assert 1 in pids and max(pids) < 200, pids  # its own PID namespace: the grader's are not there
    others = printed(graded, "forge-notebook").split("other processes seen:")[1].split("\n")[0]
    assert max([int(p) for p in re.findall(r"\d+", others)] or [0]) < 200, others


def test_feedback_and_outputs_carry_nothing_secret(graded):
    root = graded["root"]
    text = printed(graded, "leak")
    for secret in ("BEGIN HIDDEN", "decisive answers", str(root), "course-grading-", str(ROOT)):
        assert secret not in text, secret
    assert "/opt/course/lib/course_lib" in text  # the library the jail was given
    for student, record in graded["results"].items():
        if record["status"] == "graded":
            assert "failed" not in record["feedback"], (student, record["feedback"])
    assert "LEAKED" not in json.dumps(graded["results"])  # a decisive run's own words never come back
    html = (root / "course" / "feedback" / "leak" / NAME / f"{NAME}.html").read_text()
    assert "BEGIN HIDDEN" not in html and "decisive answers" not in html and "_answer" not in html


def test_no_script_of_a_submission_reaches_a_browser(graded):
    root = graded["root"]
    nb = nbformat.read(root / "course" / "autograded" / "script-outputs" / NAME / f"{NAME}.ipynb", as_version=4)
    kinds = {k for c in nb.cells for o in c.get("outputs", []) for k in o.get("data", {})}
    assert kinds <= {"text/plain", "image/png", "image/jpeg", "image/gif"}, kinds
    page = ActiveParts()
    page.feed((root / "course" / "feedback" / "script-outputs" / NAME / f"{NAME}.html").read_text())
    assert page.active == [], page.active  # the student's markup is there as text only


class ActiveParts(HTMLParser):
    """Script contents and event-handler attributes that mention alert(: what would run."""

    def __init__(self):
        super().__init__()
        self.active, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        self.active += [(tag, k, v) for k, v in attrs if k.startswith("on") and "alert(" in (v or "")]

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert(" in data:
            self.active.append(("script", data[:80]))


def test_odd_submissions_are_refused_with_a_reason(graded):
    results = graded["results"]
    assert results["linked"]["status"] == "rejected" and "symbolic link" in results["linked"]["message"]
    assert results["twin"]["status"] == "rejected" and "both" in results["twin"]["message"]
    assert results["linked"]["auto_max"] == 8 and results["linked"]["auto_score"] == 0
    assert results["élève"]["status"] == "graded" and results["élève"]["auto_score"] == 8


def test_ordinary_code_raises_no_suspicion(graded):
    assert graded["results"]["ordinary-names"]["integrity"] == []
    assert graded["results"]["honest"]["integrity"] == []


def test_the_report_reaches_csv_and_feedback(graded, tmp_path):
    import csv
    rows = {r["student"]: r for r in csv.DictReader(grading.export_csv(graded["results"], tmp_path / "g.csv").open())}
    assert "import course_lib.classifiers.linear" in rows["calls-reference"]["integrity"]
    assert "raised NotImplementedError on the grader's inputs" in rows["calls-reference"]["failed checks"]
    html = (graded["root"] / "course" / "feedback" / "calls-reference" / NAME / f"{NAME}.html").read_text()
    assert "Grader&#39;s report" in html or "Grader's report" in html
    assert "for review" in html


def test_serial_grading_gives_the_same_grades(graded, tmp_path, warm_course):
    """Two workers or one: the same records (the same secret, so the same inputs)."""
    root = graded["root"]
    some = ["honest", "monkeypatch", "calls-reference"]  # a full score, an integrity note, a withheld call
    subs = tmp_path / "submissions"
    for student in some:
        shutil.copytree(root / "submissions" / student, subs / student)
    course = warm_course(NAME, tmp_path / "course")  # a copy of the same course: the same secret
    serial = grading.autograde(root / "solutions" / NAME, subs, course, workers=1, feedback=False, **LIMITS)
    for student in some:
        parallel = {k: v for k, v in graded["results"][student].items() if k != "feedback"}
        assert serial[student] == parallel, student


def test_every_test_cell_of_every_assignment_has_a_decisive_check():
    from autograder.cases import CASES
    from autograder.integrity import graded_cells, is_test
    from notebook_tools import NAMES, load
    for name in NAMES:
        tests = {gid for gid, cells in graded_cells(load(SOLUTIONS / name / f"{name}.ipynb")).items()
                 if is_test(cells[0])}
        assert tests == set(CASES[name]), name


# A kernel closes its heartbeat socket and puts a link to a host socket in its place: the runner,
# outside the jail and as the grader's user, used to follow it on ZeroMQ's reconnects (a
# student-style attack counted some 200 connections to a root-only socket of the host).
SOCKET_SWAP = """
import json as _json, os as _os, threading as _threading, time as _time
from ipykernel.kernelapp import IPKernelApp as _App
_conn = _json.load(open("/home/student/.kernel/kernel.json"))
_hb = f"{_conn['ip']}-{_conn['hb_port']}"
_threading.Thread(target=_App.instance().heartbeat.context.term, daemon=True).start()
_time.sleep(1)
if _os.path.lexists(_hb):
    _os.unlink(_hb)
_os.symlink(%r, _hb)
_time.sleep(5)
"""


def test_the_runner_never_follows_a_link_the_kernel_puts_in_its_socket_folder(tmp_path, warm_course):
    import socket
    host_socket = tmp_path / "host.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(host_socket))
    listener.listen(64)
    listener.settimeout(0.2)
    connections, done = [], threading.Event()

    def accept():
        while not done.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                pass
    threading.Thread(target=accept, daemon=True).start()
    nb = solved(NAME)
    cell = next(c for c in nb["cells"] if grade_id(c) == "naive")
    cell["source"] = SOCKET_SWAP % str(host_socket) + source(cell)
    write_submission(tmp_path / "subs", "swapper", NAME, nb)
    course = warm_course(NAME, tmp_path / "course")
    results = grading.autograde(SOLUTIONS / NAME, tmp_path / "subs", course, feedback=False, **LIMITS)
    done.set()
    listener.close()
    assert "swapper" in results
    assert connections == [], f"{len(connections)} connections reached the host socket"
