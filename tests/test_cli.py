import subprocess
import sys


def test_main_job_prints_the_results_table():
    """The README's first command: train everything on the embedded digits, print a table."""
    out = subprocess.run([sys.executable, "-m", "course_lib", "--backend", "numba"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "backend numba" in lines[0]
    table = {line.split()[0]: line for line in lines[2:]}
    assert {"kNN", "softmax", "linear", "two-layer", "ConvNet"} <= set(table)
    for line in table.values():
        assert float(line.split()[-2]) > 0.9, line  # test accuracy column
    assert out.stderr == ""


def test_bad_backend_is_refused():
    out = subprocess.run([sys.executable, "-m", "course_lib", "--backend", "gpu"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_course_grade_refuses_an_unknown_assignment(tmp_path):
    out = subprocess.run([sys.executable, "-m", "autograder.cli", "autograde", "99_nothing",
                          str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "no assignment '99_nothing' in solutions/" in out.stderr
