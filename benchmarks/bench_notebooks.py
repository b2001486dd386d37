"""Run All for every solution notebook, on the digits and on CIFAR-10: wall time and peak memory.

    python benchmarks/bench_notebooks.py                      # digits, and CIFAR-10 from its cache
    python benchmarks/bench_notebooks.py --datasets digits    # the embedded data only
    python benchmarks/bench_notebooks.py --convnet-epoch      # also 06's ConvNet, one epoch, vs PyTorch

Each notebook runs as a student's Run All would, in a fresh kernel, in a copy of the course's
folders (07 finds the ConvNet that 06 saved), with `DATASET = "..."` switched in its first cell.
Peak memory is the kernel's peak resident set (the interpreter, Numba and the data together).
CIFAR-10 comes from its cache (COURSE_LIB_DATA or ~/.cache/course_lib); without it the row says
so. The tests run the same function on a generated archive of CIFAR-10's exact format and size.
"""
import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NAMES = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir())
SWITCH = re.compile(r'^DATASET = "digits"', re.M)
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and exec, so a kernel started
# by a 2 GB pytest worker "peaked" at 2 GB before running a cell (CI failed on that once).
_PEAK = ("import json as _json, re as _re\n"
         "_hwm = _re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())\n"
         "print('PEAK', _json.dumps(int(_hwm.group(1)) * 1024))")


class NotebookFailed(RuntimeError):
    """A cell raised or wrote to stderr; the message names the cell and what it said."""


def switched(name, dataset):
    """The solution notebook `name` with its dataset switch set to `dataset`, as a student sets it."""
    nb = nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    hits = [c for c in nb.cells if c.cell_type == "code" and SWITCH.search(c.source)]
    if len(hits) != 1:
        raise ValueError(f"{name}: expected one `DATASET = \"digits\"` line, found {len(hits)}")
    hits[0].source = SWITCH.sub(f'DATASET = "{dataset}"', hits[0].source)
    nb.cells.append(nbformat.v4.new_code_cell(_PEAK))
    return nb


def run_notebook(name, dataset, course, timeout=1800):
    """Run notebook `name` top to bottom in course/name/; (seconds, peak bytes, executed notebook).

    Raises NotebookFailed when a cell raises or writes to stderr."""
    folder = Path(course) / name
    folder.mkdir(parents=True, exist_ok=True)
    nb = switched(name, dataset)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    except Exception as err:  # nbclient's CellExecutionError carries the traceback
        raise NotebookFailed(f"{name} on {dataset}: {err}") from err
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("name") == "stderr":
                raise NotebookFailed(f"{name} on {dataset}: a cell wrote to stderr:\n"
                                     f"{cell.source[:200]}\n---\n{out.get('text')}")
    printed = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    peak = json.loads(printed.split("PEAK", 1)[1])
    return seconds, peak, nb


def printed(nb):
    """Everything the notebook's cells printed, in order."""
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def convnet_epoch(num_train=49000, batch_size=50):
    """06's ConvNet (16 3x3 filters, hidden 64, adam) for one epoch on CIFAR-size images, with
    course_lib's numba backend and with the same network in PyTorch CPU: (course_lib s, torch s)."""
    import numpy as np

    from course_lib.classifiers.nets import ThreeLayerConvNet
    from course_lib.solver import Solver

    rng = np.random.default_rng(0)
    X = rng.standard_normal((num_train, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, num_train)
    data = {"X_train": X, "y_train": y, "X_val": X[:1000], "y_val": y[:1000]}
    model = ThreeLayerConvNet((3, 32, 32), num_filters=16, filter_size=3, hidden_dim=64,
                              num_classes=10, weight_scale=1e-2, reg=1e-3, dtype=np.float32, seed=1)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=1, batch_size=batch_size, verbose=False, seed=1,
                    num_train_samples=1000, num_val_samples=1000)
    start = time.perf_counter()
    solver.train()
    ours = time.perf_counter() - start
    try:
        import torch
    except ImportError:
        return ours, None
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 16 * 16, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    start = time.perf_counter()
    order = torch.from_numpy(rng.permutation(num_train))
    for i in range(0, num_train, batch_size):
        idx = order[i:i + batch_size]
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
        loss.backward()
        optimiser.step()
    with torch.no_grad():  # the Solver checks accuracy once per epoch on 1000 + 1000 images
        net(Xt[:1000]).argmax(1), net(Xt[:1000]).argmax(1)
    return ours, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "cifar10"], choices=["digits", "cifar10"])
    parser.add_argument("--notebooks", nargs="+", default=NAMES, choices=NAMES)
    parser.add_argument("--convnet-epoch", action="store_true")
    args = parser.parse_args(argv)
    from course_lib.data.cifar10 import FOLDER_NAME, _is_complete, default_root
    print(f"{'notebook':<28} {'dataset':<8} {'Run All s':>10} {'peak memory GB':>15}")
    for dataset in args.datasets:
        if dataset == "cifar10" and not _is_complete(default_root() / FOLDER_NAME):
            print(f"{'(all)':<28} {dataset:<8} no CIFAR-10 in {default_root()}: run "
                  f"course_lib.data.download_cifar10() first")
            continue
        course = Path(tempfile.mkdtemp(prefix=f"course-{dataset}-"))
        try:
            for name in args.notebooks:
                seconds, peak, _ = run_notebook(name, dataset, course)
                print(f"{name:<28} {dataset:<8} {seconds:>10.1f} {peak / 2**30:>15.2f}", flush=True)
        finally:
            shutil.rmtree(course, ignore_errors=True)
    if args.convnet_epoch:
        ours, theirs = convnet_epoch()
        ratio = f"{ours / theirs:.2f}x" if theirs else "PyTorch not installed"
        print(f"06 ConvNet, one epoch on 49,000 CIFAR-size images: course_lib {ours:.1f} s, "
              f"PyTorch CPU {theirs or float('nan'):.1f} s, ratio {ratio}")


if __name__ == "__main__":
    sys.exit(main())
