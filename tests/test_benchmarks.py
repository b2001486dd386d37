import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each runs a benchmark end to end

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cpu.py"


def test_cpu_benchmark_runs_in_quick_mode(tmp_path):
    """The benchmark is not a test of speed (no timings are asserted), but it must keep working."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    for case in ("conv fwd+bwd float32", "conv fwd+bwd float64", "max pool", "kNN distances",
                 "svm loss+grad", "softmax loss+grad", "first calls", "warm start"):
        assert case in out.stdout, case


def test_gpu_benchmark_runs_on_the_simulator(tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run([sys.executable, str(BENCH.with_name("bench_gpu.py")), "--quick"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "device: simulator" in out.stdout and "transfer of x" in out.stdout
    assert "kNN distances" in out.stdout


def test_grading_benchmark_compares_one_and_two_workers():
    out = subprocess.run([sys.executable, str(BENCH.with_name("bench_grading.py")), "--students", "2",
                          "--assignment", "02_svm", "--quick"], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "speedup with 2 workers" in out.stdout and "grades identical: True" in out.stdout


def test_notebook_benchmark_prints_a_row_per_notebook_and_dataset(tmp_path):
    env = dict(os.environ, COURSE_LIB_DATA=str(tmp_path))  # an empty cache: CIFAR-10 is said missing
    out = subprocess.run([sys.executable, str(BENCH.with_name("bench_notebooks.py")), "--notebooks",
                          "03_softmax"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("03_softmax"))
    name, dataset, seconds, peak = row.split()
    assert dataset == "digits" and float(seconds) > 0 and 0.05 < float(peak) < 2
    assert f"no CIFAR-10 in {tmp_path}" in out.stdout


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_notebook_peak_is_the_kernels_own_not_its_parents():
    """Linux carries getrusage's ru_maxrss over fork and exec: a kernel started by a 2 GB pytest
    worker once "peaked" at 2 GB in CI. The notebook benchmark's peak must not see its parent."""
    sys.path.insert(0, str(BENCH.parent))
    from bench_notebooks import _PEAK
    ballast = bytearray(1 << 30)  # this process: over 1 GB resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    out = subprocess.run([sys.executable, "-c", _PEAK], capture_output=True, text=True, timeout=60)
    peak = int(out.stdout.split("PEAK", 1)[1])
    assert 1 << 20 < peak < 256 << 20, f"a bare interpreter 'peaked' at {peak / 2**20:.0f} MB"
