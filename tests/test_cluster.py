"""Grading on a Dask distributed cluster (autograder.cluster): a real `dask scheduler` and two
`dask worker` processes on 127.0.0.1, started through Dask's command line, grade a class; the
grades must equal a serial run's, whatever happens to the workers and the scheduler."""
import json
import os
import pickle
import shutil
import signal
import stat
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from autograder import cli, cluster, grading
from autograder.model import Job
from dask_cluster import Cluster, keys, lets_in
from notebook_tools import SOLUTIONS, blank, solved, write_submission

pytest.importorskip("distributed")

NAME = "02_svm"
HERE = Path(__file__).resolve().parent
QUIET = dict(progress=False, feedback=False, log=lambda *_: None)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, warm_course):
    """Submissions of five students and their grades from a serial run (one process, no Dask)."""
    root = tmp_path_factory.mktemp("cluster")
    subs = root / "submissions"
    write_submission(subs, "alice", NAME, solved(NAME))
    write_submission(subs, "bob", NAME, blank(NAME))
    write_submission(subs, "carol", NAME, solved(NAME, broken=("vectorized",)))
    write_submission(subs, "dies-once", NAME, solved(NAME, broken=("naive",)))
    write_submission(subs, "kills-workers", NAME, solved(NAME))
    serial = grading.autograde(SOLUTIONS / NAME, subs, warm_course(NAME, root / "serial"), **QUIET)
    env = {"COURSE_GRADE_WORKER_DIR": str(root / "kits"), "COURSE_TEST_ANNOUNCE": str(root / "announced"),
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}  # two deaths make a KilledWorker
    (root / "announced").mkdir()
    return {"root": root, "subs": subs, "serial": serial, "env": env}


class Killer(threading.Thread):
    """Kills (SIGKILL) the worker process that announces it is grading `student`, `times` times,
    a second after it started: a worker dying mid-submission."""

    def __init__(self, folder, student, times):
        super().__init__(daemon=True)
        self.folder, self.student, self.times, self.killed = Path(folder), student, times, []
        self.stop = threading.Event()

    def run(self):
        while len(self.killed) < self.times and not self.stop.is_set():
            for f in self.folder.glob(f"{self.student}.*"):
                pid = int(f.suffix[1:])
                if pid not in self.killed:
                    time.sleep(1)
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    self.killed.append(pid)
            time.sleep(0.05)


@pytest.fixture(scope="module")
def on_cluster(classroom, warm_course):
    """The class graded on a two-worker cluster while the test kills workers: the worker holding
    "dies-once" once, every worker that takes "kills-workers" (two deaths make a KilledWorker, and
    the grader gives such a task a second round)."""
    root = classroom["root"]
    recorded = []
    real_record = grading._record_in_gradebook

    def counting(course, assignment, student, record, executed):
        recorded.append(student)
        return real_record(course, assignment, student, record, executed)

    killers = [Killer(root / "announced", "dies-once", 1), Killer(root / "announced", "kills-workers", 4)]
    grading._record_in_gradebook = counting
    try:
        with Cluster(2, env=classroom["env"], log_dir=root, preload=HERE / "dask_announce.py") as dask:
            for k in killers:
                k.start()
            results = grading.autograde(SOLUTIONS / NAME, classroom["subs"], warm_course(NAME, root / "course"),
                                        scheduler=dask.address, tls=dask.keys, **QUIET)
    finally:
        grading._record_in_gradebook = real_record
        for k in killers:
            k.stop.set()
    return {"results": results, "recorded": recorded, "killed": {k.student: k.killed for k in killers}}


def test_a_class_graded_on_the_cluster_gets_the_serial_grades(classroom, on_cluster):
    serial, results = classroom["serial"], on_cluster["results"]
    assert results["alice"]["auto_score"] == 8 and results["bob"]["auto_score"] == 0
    for student in ("alice", "bob", "carol", "dies-once"):
        assert results[student] == serial[student], student


def test_a_worker_killed_mid_submission_costs_nothing_and_doubles_nothing(on_cluster, classroom):
    assert len(on_cluster["killed"]["dies-once"]) == 1
    assert on_cluster["results"]["dies-once"] == classroom["serial"]["dies-once"]
    assert sorted(on_cluster["recorded"]) == ["alice", "bob", "carol", "dies-once"]  # once each


def test_a_submission_that_kills_every_worker_it_meets_is_that_students_error(on_cluster):
    assert len(on_cluster["killed"]["kills-workers"]) == 4
    record = on_cluster["results"]["kills-workers"]
    assert record["status"] == "error" and record["auto_score"] == 0 and record["auto_max"] == 8
    assert "every Dask worker that took this submission died, twice over" in record["notes"][0]


def test_an_embedded_local_cluster_gets_the_serial_grades_and_lets_no_stranger_in(classroom, warm_course, tmp_path):
    subs = tmp_path / "submissions"
    for student in ("alice", "carol"):
        shutil.copytree(classroom["subs"] / student, subs / student)
    course = warm_course(NAME, tmp_path / "course")
    strangers = {}

    def knock(line):
        """While the LocalCluster runs: a local user with keys of their own, and one with none."""
        if " Dask workers at " in line:
            address = line.split(" Dask workers at ")[1].split(";")[0]
            strangers[address] = [lets_in(address, keys(tmp_path / "a-stranger")), lets_in(address, None)]

    results = grading.autograde(SOLUTIONS / NAME, subs, course, scheduler="local", workers=2,
                                **dict(QUIET, log=knock))
    for student in ("alice", "carol"):
        assert results[student] == classroom["serial"][student], student
    assert not (tmp_path / "kits").exists()  # its workers share this disk: the course is their kit
    [(address, knocks)] = strangers.items()
    assert address.startswith("tls://127.0.0.1:") and knocks == [False, False]


def test_the_scheduler_going_away_stops_the_run_and_a_rerun_resumes(classroom, warm_course, tmp_path):
    subs = tmp_path / "submissions"
    for student in ("alice", "bob", "carol"):
        shutil.copytree(classroom["subs"] / student, subs / student)  # times kept: the same hash
    course = warm_course(NAME, tmp_path / "course")
    real_record = grading._record_in_gradebook
    with Cluster(1, env=classroom["env"], log_dir=tmp_path) as dask:
        def record_then_kill(*args):
            real_record(*args)
            dask.kill_scheduler()  # after the first grade is recorded

        grading._record_in_gradebook = record_then_kill
        try:
            with pytest.raises(cluster.ClusterError, match="went away with 2 submissions ungraded"):
                grading.autograde(SOLUTIONS / NAME, subs, course, scheduler=dask.address, tls=dask.keys, **QUIET)
        finally:
            grading._record_in_gradebook = real_record
    kept = grading.load_results(course, NAME)
    assert len(kept) == 1 and kept[next(iter(kept))] == classroom["serial"][next(iter(kept))]
    lines = []
    with Cluster(1, env=classroom["env"], log_dir=tmp_path / "again") as dask:
        results = grading.autograde(SOLUTIONS / NAME, None, course, scheduler=dask.address, tls=dask.keys,
                                    **dict(QUIET, log=lines.append))
    assert f"{NAME}: 2 submissions to grade, 1 unchanged, 0 refused" in lines
    for student in ("alice", "bob", "carol"):
        assert results[student] == classroom["serial"][student], student


def test_a_cluster_left_without_workers_stops_the_run_instead_of_waiting(classroom, warm_course, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(cluster, "WORKERS_SECONDS", 5)
    subs = tmp_path / "submissions"
    for student in ("alice", "bob"):
        shutil.copytree(classroom["subs"] / student, subs / student)
    course = warm_course(NAME, tmp_path / "course")
    real_record = grading._record_in_gradebook
    with Cluster(1, env=classroom["env"], log_dir=tmp_path) as dask:
        def record_then_stop_workers(*args):
            real_record(*args)
            for worker in dask.workers:  # the nanny too: nothing comes back
                os.killpg(worker.pid, signal.SIGKILL)

        monkeypatch.setattr(grading, "_record_in_gradebook", record_then_stop_workers)
        with pytest.raises(cluster.ClusterError, match="no Dask worker has been connected .* for 5 s, with 1 "):
            grading.autograde(SOLUTIONS / NAME, subs, course, scheduler=dask.address, tls=dask.keys, **QUIET)
    assert len(grading.load_results(course, NAME)) == 1


# ---------------------------------------------------------------- without a running cluster
def test_only_peers_with_the_courses_keys_get_into_the_cluster(tmp_path):
    with Cluster(0, log_dir=tmp_path) as dask:
        assert lets_in(dask.address, dask.keys)  # the course's own worker: the probe can tell
        assert not lets_in(dask.address, keys(tmp_path / "another-course"))
        assert not lets_in(dask.address, None)


def test_an_unreachable_scheduler_is_a_clear_error_and_the_grades_stay(tmp_path, monkeypatch, capsys, warm_course):
    from dask_cluster import free_port
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 2)
    course = warm_course(NAME, tmp_path / "course")
    write_submission(tmp_path / "subs", "alice", NAME, solved(NAME))
    address = f"tls://127.0.0.1:{free_port()}"
    code = cli.main(["autograde", NAME, str(tmp_path / "subs"), "--course", str(course), "--scheduler", address,
                     "--tls", str(keys(tmp_path / "keys")), "--no-feedback"])
    assert code == 2
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err
    assert grading.load_results(course, NAME) == {}  # nothing half-written


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786"])
def test_a_cluster_without_tls_is_refused_before_anything_is_graded(tmp_path, capsys, warm_course, address):
    course = warm_course(NAME, tmp_path / "course")
    write_submission(tmp_path / "subs", "alice", NAME, solved(NAME))
    code = cli.main(["autograde", NAME, str(tmp_path / "subs"), "--course", str(course), "--scheduler", address,
                     "--no-feedback"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"refusing to grade on {address}" in err and "course-grade cluster-certs" in err
    assert grading.load_results(course, NAME) == {}


def test_tls_needs_the_grading_machines_keys(tmp_path):
    keys(tmp_path / "keys")
    (tmp_path / "keys" / "grader.key").unlink()
    with pytest.raises(cluster.ClusterError, match=r"no .*grader.key: --tls takes a folder made by"):
        cluster.client_security("tls://127.0.0.1:8786", tmp_path / "keys")
    with pytest.raises(cluster.ClusterError, match="no TLS keys to connect to tls://127.0.0.1:8786 with"):
        cluster.client_security("tls://127.0.0.1:8786")  # nor any in Dask's configuration


def test_cluster_certs_makes_a_ca_of_the_courses_own_and_never_overwrites(tmp_path, capsys):
    from cryptography import x509
    folder = tmp_path / "keys"
    assert cli.main(["cluster-certs", str(folder)]) == 0
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for role in ("scheduler", "worker", "grader"):
        cert = x509.load_pem_x509_certificate((folder / f"{role}.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert stat.S_IMODE((folder / f"{role}.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "ca.key").stat().st_mode) == 0o600
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(SystemExit):
        cli.main(["cluster-certs", str(folder)])
    assert "keys are never overwritten" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def job_of(tmp_path, submission):
    sources = {f"{NAME}.ipynb": (SOLUTIONS / NAME / f"{NAME}.ipynb").read_text()}
    return Job(assignment=NAME, student="alice", submission=str(submission), digest="d",
               seed=grading.seed("ab" * 16, "alice", NAME), sources=sources, releases=sources,
               scratch=str(tmp_path), course=str(tmp_path))


def test_workers_get_a_seed_per_student_and_never_the_course_secret(tmp_path):
    secret = "0123456789abcdef" * 2
    assert "secret" not in Job.__dataclass_fields__
    seeds = {grading.seed(secret, s, a) for s in ("alice", "bob") for a in ("01_knn", NAME)}
    assert len(seeds) == 4 and not any(secret in s for s in seeds)
    job = replace(job_of(tmp_path, tmp_path), seed=grading.seed(secret, "alice", NAME))
    assert secret.encode() not in pickle.dumps(job)


def test_what_travels_is_the_notebooks_taken_here_by_the_usual_rules(tmp_path):
    folder = tmp_path / "alice"
    write_submission(tmp_path, "alice", NAME, solved(NAME))
    (folder / "old").mkdir()
    (folder / "old" / f"{NAME}.ipynb").write_text("{}")
    (folder / "notes.txt").write_text("not a notebook")
    job, notebooks, record = cluster.ship(job_of(tmp_path, folder))
    assert record is None and job.submission == ""
    assert list(notebooks) == [f"{NAME}.ipynb"]
    assert json.loads(notebooks[f"{NAME}.ipynb"]) == json.loads((folder / f"{NAME}.ipynb").read_text())
    assert any("2 copies in the submission" in n for n in job.notes)


def test_an_unreadable_submission_is_recorded_as_the_worker_would_record_it(tmp_path):
    bad = tmp_path / "alice.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    _, notebooks, record = cluster.ship(job_of(tmp_path, bad))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(bad)
    assert notebooks is None and record["status"] == "malformed"
    assert record["message"].startswith("cannot read the submission") and record["tests"]
    assert all(score == 0 for score, _, _ in record["tests"].values())


def test_a_worker_of_another_version_is_refused_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(cluster.WORKER_DIR, str(tmp_path / "kits"))
    with pytest.raises(cluster.WorkerMismatch, match="install the same versions on every worker"):
        cluster.prepare_kit(job_of(tmp_path, tmp_path), "0" * 64)
    assert not (tmp_path / "kits").exists()


def test_a_grader_failure_is_that_students_error_with_every_test_at_zero(tmp_path, monkeypatch):
    from autograder import worker

    def boom(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(worker, "extract_notebooks", boom)
    record, executed = worker.grade_submission(job_of(tmp_path, tmp_path))
    assert executed == {} and record["status"] == "error"
    assert record["message"] == "the grader failed on this submission; the instructor has the details"
    assert record["notes"][0].startswith("RuntimeError: boom")
    assert len(record["tests"]) == 5 and all(score == 0 for score, _, _ in record["tests"].values())


def test_an_embedded_cluster_serves_no_http_and_keeps_its_files_private(tmp_path):
    import urllib.error
    import urllib.request
    with cluster.local_cluster(1, tmp_path) as local:
        assert local.scheduler_address.startswith("tls://127.0.0.1:")
        port = local.scheduler.http_server.port
        for path in ("/info/main/workers.html", "/json/identity.json", "/health"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
            assert refused.value.code == 404, path  # no page shows the workers, their logs or tasks
        assert any(tmp_path.iterdir())  # Dask's files: in the run's own folder, not a shared /tmp one


def test_a_worker_that_cannot_grade_answers_instead_of_raising(tmp_path, monkeypatch):
    """A task that raised would be logged by Dask with its arguments (a submission, a seed)."""
    monkeypatch.setenv(cluster.WORKER_DIR, str(tmp_path / "kits"))
    job = job_of(tmp_path, tmp_path)
    answer = cluster.grade_on_worker(job, {}, job, "0" * 64)
    assert answer[0] == cluster.STOP and answer[1].startswith("WorkerMismatch: ")
    assert cluster.kit_on_worker(job, "0" * 64)[0] == cluster.STOP
    assert job.seed not in repr(job)


def test_a_worker_whose_key_a_jail_would_show_refuses_to_grade(monkeypatch, tmp_path):
    import distributed
    from autograder.sandbox import runtime_paths

    class Worker:
        security = distributed.security.Security(tls_worker_key=str(Path(runtime_paths()[0]) / "keys" / "worker.key"),
                                                 tls_worker_cert=str(tmp_path / "worker.pem"))

    monkeypatch.setattr(distributed, "get_worker", lambda: Worker)
    with pytest.raises(cluster.ClusterError, match="every submission's jail shows: move the keys elsewhere"):
        cluster._keys_out_of_jail()
    Worker.security = distributed.security.Security(tls_worker_key=str(tmp_path / "worker.key"),
                                                    tls_worker_cert=str(tmp_path / "worker.pem"))
    cluster._keys_out_of_jail()  # the worker's home, say: fine


def test_a_bundle_of_cas_is_refused(tmp_path):
    folder = keys(tmp_path / "keys")
    ca = (folder / "ca.pem").read_text()
    (folder / "ca.pem").write_text(ca + keys(tmp_path / "other").joinpath("ca.pem").read_text())
    with pytest.raises(cluster.ClusterError, match="holds 2 certificates: it must be one CA of the course's own"):
        cluster.client_security("tls://127.0.0.1:8786", folder)


def test_tls_keys_without_a_tls_scheduler_are_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["autograde", NAME, "--course", str(tmp_path / "course"), "--scheduler", "local", "--tls", "k"])
    assert "--tls is for --scheduler tls://" in capsys.readouterr().err


def test_what_a_worker_sends_back_is_held_to_the_instructors_notebook():
    """Whoever holds a worker's key can send any record: its tests, points and scores are held to
    the instructor's notebook, and its notebooks' outputs made inert again."""
    from autograder.execute import inert_outputs
    from autograder.worker import all_zero
    expected = all_zero({f"{NAME}.ipynb": json.loads((SOLUTIONS / NAME / f"{NAME}.ipynb").read_text())})
    ids = list(expected)
    forged = {ids[0]: [1e9, 1e9, "auto"], ids[1]: [-5, 3, "auto"], ids[2]: ["x", 1, "auto"],
              ids[3]: [float("nan"), 1, "auto"], "made-up:test": [100, 100, "auto"]}  # ids[4] missing
    held = grading._held_to(forged, expected)
    assert list(held) == ids
    assert held[ids[0]] == [expected[ids[0]].max_score, expected[ids[0]].max_score, expected[ids[0]].kind]
    assert all(held[t][0] == 0 for t in ids[1:])
    assert [h[1:] for h in held.values()] == [[z.max_score, z.kind] for z in expected.values()]
    manual, auto = ids[1], ids[2]
    assert expected[manual].kind == "manual" and expected[auto].kind == "auto"
    assert grading._held_to({auto: [1.5, 3, "auto"], manual: [2, 2, "manual"]}, expected)[auto][0] == 1.5
    assert grading._held_to({auto: [1.5, 3, "auto"], manual: [2, 2, "manual"]}, expected)[manual][0] == 0
    for junk in ({}, [10 ** 400], "9", [True], None):  # never a crash of the run, never points
        assert grading._held_to({auto: junk}, expected)[auto][0] == 0, junk
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": "<script>alert(1)</script>"}),
        nbformat.v4.new_output("display_data", data={"text/plain": "2", "application/javascript": "alert(2)"}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="},
                               metadata={"image/png": {"width": "1 onerror=alert(3)"}}),
        nbformat.v4.new_output("display_data", data={"image/png": 'x" onerror="alert(4)'})])])
    outputs = inert_outputs(nb).cells[0].outputs
    assert [o["data"] for o in outputs] == [{"text/plain": "2"}, {"image/png": "iVBORw0KGgo="}]
    assert [o["metadata"] for o in outputs] == [{}, {}]  # nbconvert writes an image's width unquoted
