"""The learners' guide: hints and walkthroughs for every exercise (course_lib.guide), their release
from solutions/<assignment>/guide.toml (autograder.guide_release), and their absence from every
jail the grader builds (the walkthroughs hold the instructor's answers)."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import cli, edition, guide_release, release, worker
from autograder.cases import CASES
from autograder.model import Limits
from autograder.sandbox import Sandbox
from course_lib import guide

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS, DATA = REPO / "solutions", REPO / "course_lib" / "guide_data"
FOLDERS = release.assignment_folders(SOLUTIONS)
EXERCISES = {
    "01_knn": ["two-loops", "one-loop", "no-loops", "predict", "cross-validate"],
    "02_svm": ["naive", "vectorized", "train"],
    "03_softmax": ["naive", "vectorized", "train"],
    "04_fc_nets": ["affine", "relu", "two-layer", "fc-net", "update-rules"],
    "05_batchnorm_dropout": ["bn-forward", "bn-backward", "bn-backward-alt", "layernorm", "spatial-norms", "dropout"],
    "06_convnets": ["conv-sizes", "network-table", "conv-forward", "conv-backward", "max-pool", "convnet-init",
                    "convnet-loss"],
    "07_network_visualization": ["saliency", "fooling", "class-visualization"],
    "08_image_features": ["hog", "colour-histogram"],
}


# ---------------------------------------------------------------- the content
def test_every_answer_cell_of_every_assignment_has_hints_and_a_walkthrough():
    assert [f.name for f in FOLDERS] == sorted(EXERCISES)
    for folder in FOLDERS:
        cells = guide_release.answer_cells(folder)
        assert [gid for gid, _ in cells] == EXERCISES[folder.name]
        data = json.loads((DATA / f"{folder.name}.json").read_text(encoding="utf-8"))
        assert list(data["exercises"]) == EXERCISES[folder.name]
        assert data["reading"] and all(r["url"].startswith("https://") for r in data["reading"])
        for gid, source in cells:
            entry = data["exercises"][gid]
            assert 2 <= len(entry["hints"]) <= 3 and all(h.strip() for h in entry["hints"]), gid
            assert entry["walkthrough"].strip(), gid
            # the instructor's code, markers removed, nothing else changed
            assert "### BEGIN SOLUTION" not in entry["solution"] and "### END SOLUTION" not in entry["solution"]
            kept = [line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                    and "### END SOLUTION" not in line]
            assert entry["solution"].splitlines() == kept, gid


@pytest.mark.parametrize("name", ["01_knn", "02_svm", "03_softmax", "04_fc_nets"])
def test_written_guides_stop_short_of_the_answer_and_name_the_pitfalls(name):
    """01-04 are written here: a hint never contains a line of the instructor's answer, and every
    walkthrough reasons before the code (its pitfalls named)."""
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    for gid, entry in data["exercises"].items():
        answer = [line.strip() for line in entry["solution"].splitlines()
                  if len(line.strip()) > 25 and not line.strip().startswith(("def ", "return", "config"))]
        for hint in entry["hints"]:
            assert not any(line in hint for line in answer), (gid, hint)
        assert "Pitfalls" in entry["walkthrough"], gid
        assert "Placeholder" not in entry["walkthrough"] + "".join(entry["hints"]), gid


def test_the_guide_data_is_in_sync_with_the_solutions():
    """course_lib/guide_data is what `course-grade release` makes (check-release runs this too)."""
    assert guide_release.differences(FOLDERS, DATA) == []


def test_every_notebook_shows_the_reading_and_a_guide_below_every_answer_cell():
    for folder in FOLDERS:
        for path in (folder / f"{folder.name}.ipynb", REPO / "assignments" / folder.name / f"{folder.name}.ipynb"):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            reading = [c for c in cells if c.get("id") == guide_release.READING_ID]
            assert len(reading) == 1 and "".join(reading[0]["source"]).startswith("## Reading")
            for i, cell in enumerate(cells):
                meta = cell["metadata"].get("nbgrader", {})
                if cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade"):
                    below = cells[i + 1]
                    assert "nbgrader" not in below["metadata"]
                    assert "".join(below["source"]).endswith(
                        f'guide.show("{folder.name}", "{meta["grade_id"]}")'), (path, meta["grade_id"])
    assert not list((REPO / "assignments").glob("*/guide.toml")), "the release holds no guide.toml"


# ---------------------------------------------------------------- release validation
def _course(tmp_path, name="02_svm"):
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS / name, solutions / name)
    return solutions, solutions / name


@pytest.mark.parametrize("change,message", [
    (lambda t: t.replace("[train]", "[training]"), r"\[training\] is no answer cell.*answer cell 'train' has no \[train\] entry"),
    (lambda t: t + '\n[predict]\nhints = ["a", "b"]\nwalkthrough = "c"\n', r"\[predict\] is no answer cell"),
    (lambda t: _hints(t, "naive", ["only one"]), r"\[naive\] needs 2 or 3 non-empty hints, has 1"),
    (lambda t: _hints(t, "naive", ["a", "b", "c", "d"]), r"\[naive\] needs 2 or 3 non-empty hints, has 4"),
    (lambda t: _hints(t, "naive", ["a", " "]), r"\[naive\] needs 2 or 3 non-empty hints"),
    (lambda t: _walkthrough(t, "vectorized", "  "), r"\[vectorized\] has an empty or missing walkthrough"),
    (lambda t: t.replace('url = "https://cs231n.github.io/linear-classify/"', 'url = "cs231n.github.io"'),
     r"reading\[0\] must be"),
    (lambda t: t.replace('{ title = "CS231n: Optimization', '{ note = "x", title = "CS231n: Optimization'),
     r"reading\[1\] must be"),
    (lambda t: re.sub(r"(?s)reading = \[.*?\n\]\n", 'reading = "https://cs231n.github.io/"\n', t, count=1),
     r"'reading' must be a list"),
    (lambda t: t + "\n[naive\n", r"does not parse"),
])
def test_release_refuses_a_malformed_guide_with_the_reason(tmp_path, change, message):
    solutions, folder = _course(tmp_path)
    path = folder / guide_release.GUIDE
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(guide_release.GuideError, match=f"(?s)02_svm: .*{message}"):
        guide_release.build(folder)


def _hints(text, gid, hints):
    assert gid in _toml_entries(text)
    start = text.index(f"[{gid}]\nhints = [")
    end = text.index("]\n", start + len(gid) + 12) + 2
    body = "hints = [" + ", ".join(json.dumps(h) for h in hints) + "]\n"
    return text[:start] + f"[{gid}]\n" + body + text[end:]


def _walkthrough(text, gid, walkthrough):
    start = text.index(f"[{gid}]")
    w_start = text.index('walkthrough = """', start)
    w_end = text.index('"""', w_start + 17) + 3
    return text[:w_start] + f"walkthrough = {json.dumps(walkthrough)}" + text[w_end:]


def _toml_entries(text):
    import tomllib
    return tomllib.loads(text)


def test_a_missing_guide_stops_the_whole_release_before_anything_is_written(tmp_path):
    solutions, folder = _course(tmp_path)
    shutil.copytree(SOLUTIONS / "01_knn", solutions / "01_knn")
    (solutions / "01_knn" / guide_release.GUIDE).unlink()
    assignments, data = tmp_path / "assignments", tmp_path / "guide_data"
    with pytest.raises(guide_release.GuideError, match=r"01_knn: no .*guide.toml"):
        release.release_all(solutions, assignments, guide_data=data)
    assert not assignments.exists() and not data.exists()
    code = cli.main(["--solutions", str(solutions), "--assignments", str(assignments), "check-release"])
    assert code == 1


def test_notebooks_whose_guide_cells_are_missing_are_refused_until_synced(tmp_path, capsys):
    solutions, folder = _course(tmp_path)
    nb_path = folder / "02_svm.ipynb"
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != "guide-vectorized"]
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(guide_release.GuideError, match="guide cells of .* are missing or out of date"):
        guide_release.build(folder)
    guide_release.sync_notebooks(folder)
    assert nb_path.read_text(encoding="utf-8") == (SOLUTIONS / "02_svm" / "02_svm.ipynb").read_text(encoding="utf-8")
    assert guide_release.build(folder)["exercises"]["vectorized"]["hints"]


def test_release_writes_the_data_and_check_release_sees_drift(tmp_path):
    solutions, folder = _course(tmp_path)
    data = tmp_path / "guide_data"
    assert guide_release.write_all([folder], data) == ["02_svm"]
    (data / "stale.json").write_text("{}")
    assert guide_release.write_all([folder], data) == ["02_svm"] and not (data / "stale.json").exists()
    assert guide_release.differences([folder], data) == []
    path = folder / guide_release.GUIDE
    path.write_text(path.read_text(encoding="utf-8").replace("skip the correct class", "skip the class y_i"),
                    encoding="utf-8")
    assert guide_release.differences([folder], data) == [f"{data / '02_svm.json'} differs"]
    (data / "02_svm.json").unlink()
    assert guide_release.differences([folder], data) == [f"{data / '02_svm.json'} is missing"]


# ---------------------------------------------------------------- the widgets
def _guide(assignment="02_svm", grade_id="naive"):
    box = guide.show(assignment, grade_id)
    assert box is not None
    return box.guide


def _markdown(area):
    return [o["data"]["text/markdown"] for o in area.outputs]


def test_hints_are_revealed_one_at_a_time():
    g = _guide()
    hints = guide.exercise("02_svm", "naive")["hints"]
    assert len(hints) == 3 and g.hint_button.description == "Show hint 1 of 3" and not g.hint_area.outputs
    for n in range(1, 4):
        g.hint_button.click()
        shown = _markdown(g.hint_area)
        assert len(shown) == n and shown[-1] == f"**Hint {n} of 3.** {hints[n - 1]}"
        assert g.revealed_hints == hints[:n]
    assert g.hint_button.description == "All 3 hints shown" and g.hint_button.disabled
    g.next_hint()
    assert len(g.hint_area.outputs) == 3
    assert not g.walk_area.outputs, "hints never open the walkthrough"


def test_the_walkthrough_opens_only_after_the_learner_confirms():
    g = _guide("04_fc_nets", "affine")
    entry = guide.exercise("04_fc_nets", "affine")
    assert g.walk_button.description == "I have tried: show the walkthrough"
    assert g.confirm_row.layout.display == "none"
    g.walk_button.click()
    assert g.confirm_row.layout.display == "flex" and not g.walk_area.outputs
    g.no.click()
    assert g.confirm_row.layout.display == "none" and not g.walk_area.outputs
    g.walk_button.click()
    g.yes.click()
    (shown,) = _markdown(g.walk_area)
    assert shown.startswith(entry["walkthrough"].strip())
    assert f"```python\n{entry['solution'].strip()}\n```" in shown
    assert "dw = x.reshape(x.shape[0], -1).T @ dout" in shown
    assert g.walk_button.disabled and g.confirm_row.layout.display == "none"
    g.yes.click()
    g.walk_button.click()
    assert len(g.walk_area.outputs) == 1


def test_a_passed_check_opens_the_walkthrough_without_confirmation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the notebook's folder, where the pass is recorded
    before = _guide("03_softmax", "train")
    other = _guide("03_softmax", "naive")
    guide.mark_passed("03_softmax", "train")
    assert before.walk_button.description == "Your check passed: show the walkthrough"
    before.walk_button.click()
    assert before.confirm_row.layout.display == "none" and len(before.walk_area.outputs) == 1
    after = _guide("03_softmax", "train")
    after.walk_button.click()
    assert len(after.walk_area.outputs) == 1
    other.walk_button.click()
    assert not other.walk_area.outputs and other.confirm_row.layout.display == "flex"
    guide._passed.discard(("03_softmax", "train"))  # a restarted kernel: the record in the folder holds
    assert guide.passed("03_softmax", "train") and not guide.passed("03_softmax", "naive")
    restarted = _guide("03_softmax", "train")
    restarted.walk_button.click()
    assert len(restarted.walk_area.outputs) == 1
    monkeypatch.chdir(tmp_path.parent)  # another folder: another notebook's record
    assert not guide.passed("03_softmax", "train")


def test_a_pass_recorded_in_an_unwritable_or_garbled_folder_is_no_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / guide.PASSED_FILE).write_text("{ not json")
    assert not guide.passed("02_svm", "naive")
    guide.mark_passed("02_svm", "naive")  # the garbled record is replaced
    guide._passed.clear()
    assert guide.passed("02_svm", "naive")
    guide.mark_passed("02_svm", "train", folder=tmp_path / "no" / "such" / "folder")
    assert guide.passed("02_svm", "train")  # in this kernel at least
    guide._passed.clear()


def test_the_guide_never_raises_and_says_why_it_is_missing(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert guide.show("99_nothing", "x") is None
    assert guide.hints("02_svm", "no-such-exercise") is None
    assert guide.walkthrough("02_svm", "no-such-exercise") is None
    out = capsys.readouterr().out
    assert "No assignment '99_nothing' in the guide: the course's are 01_knn" in out
    # the data is there, the id is not an exercise: the note names the exercises (answer cells' ids)
    assert "No exercise 'no-such-exercise' in 02_svm: its exercises are naive, train, vectorized" in out
    assert guide.show("4_fc_nets", "relu") is None  # a misspelt assignment: the course's are named
    assert "No assignment '4_fc_nets' in the guide: the course's are 01_knn, 02_svm" in capsys.readouterr().out
    monkeypatch.setattr(guide, "DATA", "no_such_folder")
    assert guide.show("02_svm", "naive") is None and guide.reading("02_svm") == []
    assert "not available" in capsys.readouterr().out
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)  # undo went back to the repository: no pass may be recorded there

    def broken(*args, **kwargs):
        raise RuntimeError("no widgets here")
    monkeypatch.setattr(guide, "ExerciseGuide", broken)
    assert guide.show("02_svm", "naive") is None
    guide.mark_passed(None, None)
    assert not (tmp_path / guide.PASSED_FILE).exists()  # nothing recorded for nonsense


def test_hints_alone_and_walkthrough_alone():
    hints_only = guide.hints("01_knn", "no-loops").guide
    assert hints_only.hint_button in hints_only.box.children and hints_only.walk_button not in hints_only.box.children
    walk_only = guide.walkthrough("01_knn", "no-loops").guide
    assert walk_only.walk_button in walk_only.box.children and walk_only.hint_button not in walk_only.box.children


# ---------------------------------------------------------------- no walkthrough in any jail
PROBE = textwrap.dedent('''
    import os, sys
    import course_lib
    from course_lib import guide
    found = []
    for top in [os.path.dirname(course_lib.__file__), "/opt", *sys.path]:
        for folder, dirs, files in os.walk(top) if os.path.isdir(top) else ():
            found += [os.path.join(folder, d) for d in dirs if d == guide.DATA]
            for name in files:
                if name.endswith((".json", ".py", ".toml")) and folder.startswith(("/opt", "/home")):
                    try:
                        if sys.argv[1] in open(os.path.join(folder, name), encoding="utf-8").read():
                            found.append(os.path.join(folder, name))
                    except (OSError, UnicodeDecodeError):
                        pass
    print("library", course_lib.__file__)
    print("data", guide.load("02_svm"))
    print("found", found)
    guide.show("02_svm", "naive")
''')
MARK = "A sample that violates $m$ margins"  # a sentence of 02_svm's walkthrough


def test_the_installed_library_holds_the_data_and_jails_refuse_it(tmp_path):
    assert (DATA / "02_svm.json").exists() and MARK in (DATA / "02_svm.json").read_text(encoding="utf-8")
    assert not edition.jail_safe(edition.LIBRARY)
    sandbox = Sandbox(tmp_path, Limits(), None)
    with pytest.raises(ValueError, match="holds the learners' guide data"):
        sandbox.command(edition.LIBRARY)


def test_editions_and_the_notebook_library_have_no_guide_data(tmp_path):
    case = CASES["02_svm"]["test-naive"]
    built, _ = edition.build(tmp_path / "edition", case.withhold)
    notebook, rebuilt = edition.notebook_library(tmp_path / "notebook")
    assert rebuilt and (notebook / "kernels" / "cuda_kernels.py").read_text() == \
        (edition.LIBRARY / "kernels" / "cuda_kernels.py").read_text()
    for lib in (built, notebook):
        assert edition.jail_safe(lib) and not list(lib.rglob("guide_data"))
        assert not any(MARK in p.read_text(errors="replace") for p in lib.rglob("*") if p.is_file())
        out = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                              "from course_lib import guide; print(guide.load('02_svm'))", str(lib.parent)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == "None", out.stderr
    # a copy made before the guide existed (or tampered with) is rebuilt, not reused
    (notebook / guide.DATA).mkdir()
    assert edition.notebook_library(tmp_path / "notebook")[1] and edition.jail_safe(notebook)
    # the grader's notebook jail gets such a copy, never the installed library
    job = SimpleNamespace(course=str(tmp_path / "course"), assignment="02_svm")
    lib, cache = worker.library_folders(job)
    assert lib != edition.LIBRARY and edition.jail_safe(lib) and cache.name == worker.NOTEBOOK
    worker.prepare_editions(tmp_path / "course", "02_svm")
    for gid in CASES["02_svm"]:
        assert edition.jail_safe(worker.library_folders(job, gid)[0])


@pytest.mark.skipif(sys.platform != "linux", reason="the jail needs Linux namespaces")
@pytest.mark.parametrize("which", ["notebook", "test-naive", "control: the installed library"])
def test_code_in_a_jail_finds_no_walkthrough(tmp_path, which, monkeypatch):
    """The real jail, as the worker builds it for the notebook and for a decisive test: the
    student's code finds no guide data and no walkthrough text anywhere it can read, and the guide
    cells print their note. The control shows that the probe would find them in the installed
    library, were the sandbox's refusal of it switched off."""
    job = SimpleNamespace(course=str(tmp_path / "course"), assignment="02_svm", warm_up=False)
    worker.prepare_editions(tmp_path / "course", "02_svm")
    sandbox = Sandbox(tmp_path, Limits(timeout=120), 61998 if os.geteuid() == 0 else None)
    if which.startswith("control"):
        monkeypatch.setattr("autograder.sandbox.jail_safe", lambda library: True)
        cmd = sandbox.command(edition.LIBRARY)
    else:
        cmd = worker._jail_library(job, sandbox, None if which == "notebook" else which)
    out = subprocess.run(cmd + ["--", sys.executable, "-c", PROBE, MARK], capture_output=True, text=True,
                         timeout=300)
    if out.returncode == worker.JAIL_FAILED and "namespace" in out.stderr.lower():
        pytest.skip(f"no jail on this machine: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "library /opt/course/lib/course_lib/__init__.py" in lines
    if which.startswith("control"):
        assert "data None" not in lines and "guide_data/02_svm.json" in next(x for x in lines if x.startswith("found"))
        return
    assert "data None" in lines and "found []" in lines
    assert any("not available here" in line for line in lines)


def test_a_new_hint_rebuilds_no_edition_and_regrades_nothing(tmp_path, monkeypatch):
    """Editions, the notebook's library, the instructor check and a cluster worker's version are
    keyed on edition.fingerprint, which leaves out the guide data (no jail has it)."""
    library = tmp_path / "course_lib"
    shutil.copytree(edition.LIBRARY, library, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(edition, "LIBRARY", library)
    before = edition.fingerprint(())
    (library / guide.DATA / "02_svm.json").write_text("{}")
    assert edition.fingerprint(()) == before
    (library / "layers.py").write_text((library / "layers.py").read_text() + "\n# changed\n")
    assert edition.fingerprint(()) != before
