"""CPU speed of course_lib's numba backend against peers run in the same process.

    python benchmarks/bench_cpu.py            # full sizes (a few minutes on 2 cores)
    python benchmarks/bench_cpu.py --quick    # tiny sizes: checks that everything runs

Each figure is the median of several runs after a warm-up (the convolutions: of interleaved rounds
against PyTorch, through course_lib.layers); ratios are course_lib / peer (below 1: course_lib is
faster). Peers: PyTorch CPU (if installed), NumPy im2col (course_lib's numpy backend,
sliding windows + einsum/GEMM), scikit-learn. First-call times, which include Numba's compilation,
are measured on an empty cache (a temporary NUMBA_CACHE_DIR) and reported separately.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="numba-cold-"))

import numpy as np  # noqa: E402

from course_lib.backend import kernels  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the benchmark still runs against the other peers
    torch = None

FAST, SPEC = kernels("numba"), kernels("numpy")
FIRST_CALLS = {}


def median_time(fn, repeat, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def first_call(name, fn):
    """Time the very first call of a kernel per dtype: compilation (or a cache load) included."""
    if name not in FIRST_CALLS:
        start = time.perf_counter()
        fn()
        FIRST_CALLS[name] = time.perf_counter() - start


def interleaved_medians(contenders, rounds):
    """Median time of each contender over rounds in which every contender runs in turn: a busy
    spell on the machine slows all of them alike instead of whichever ran during it. Each timed
    call follows an untimed call of the same contender: thread pools keep spinning for a while
    after their work (OpenMP's, OpenBLAS's), and would otherwise take the cores from whoever
    runs next (measured: 20-35% off both PyTorch and course_lib)."""
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# ---------------------------------------------------------------- cases
def conv_case(x_shape, w_shape, pad, dtype, repeat):
    """Forward and backward through course_lib.layers, as a student's network calls them
    (validation included), against the NumPy backend and PyTorch, in interleaved rounds."""
    from course_lib import layers
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = (0.1 * rng.standard_normal(w_shape)).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    dout = rng.standard_normal((x_shape[0], w_shape[0], x_shape[2] + 2 * pad - w_shape[2] + 1,
                                x_shape[3] + 2 * pad - w_shape[3] + 1)).astype(dtype)
    param = {"stride": 1, "pad": pad}

    def ours(backend="numba"):
        _, cache = layers.conv_forward(x, w, b, param, backend=backend)
        layers.conv_backward(dout, cache, backend=backend)

    first_call(f"conv fwd+bwd {np.dtype(dtype).name}", ours)
    contenders = {"course_lib numba": ours}
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        td = torch.from_numpy(dout)

        def peer():
            tx.grad = tw.grad = tb.grad = None
            F.conv2d(tx, tw, tb, padding=pad).backward(td)

        contenders["PyTorch CPU"] = peer
    times = interleaved_medians(contenders, repeat)
    # the NumPy backend is 2-10x slower: a few runs of it are enough, apart
    times["NumPy im2col"] = median_time(lambda: ours("numpy"), max(2, repeat // 3))
    return times


def pool_case(x_shape, dtype, repeat):
    x = np.random.default_rng(1).standard_normal(x_shape).astype(dtype)
    dout = np.random.default_rng(2).standard_normal(
        (x_shape[0], x_shape[1], x_shape[2] // 2, x_shape[3] // 2)).astype(dtype)

    def ours(k=FAST):
        _, argmax = k.max_pool_forward(x, 2, 2, 2)
        k.max_pool_backward(dout, argmax, x.shape, x.dtype, 2, 2, 2)

    first_call(f"max pool fwd+bwd {np.dtype(dtype).name}", ours)
    times = {"course_lib numba": median_time(ours, repeat),
             "NumPy (numpy backend)": median_time(lambda: ours(SPEC), max(2, repeat // 3))}
    if torch is not None:
        tx, td = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

        def peer():
            tx.grad = None
            F.max_pool2d(tx, 2, 2).backward(td)

        times["PyTorch CPU"] = median_time(peer, repeat)
    return times


def knn_case(n_test, n_train, dim, repeat):
    from sklearn.metrics.pairwise import euclidean_distances
    rng = np.random.default_rng(3)
    a, b = rng.random((n_test, dim)) * 255, rng.random((n_train, dim)) * 255
    first_call("pairwise distances float64", lambda: FAST.pairwise_distances(a[:2], b[:2]))
    times = {"course_lib numba": median_time(lambda: FAST.pairwise_distances(a, b), repeat),
             "NumPy no loops": median_time(lambda: SPEC.pairwise_distances(a, b), repeat),
             "scikit-learn": median_time(lambda: euclidean_distances(a, b), repeat)}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        times["PyTorch cdist"] = median_time(lambda: torch.cdist(ta, tb), repeat)
    return times


def loss_case(name, n, dim, classes, repeat):
    from course_lib.classifiers import linear
    rng = np.random.default_rng(4)
    X = rng.standard_normal((n, dim))
    W = 1e-4 * rng.standard_normal((dim, classes))
    y = rng.integers(classes, size=n)
    fn = getattr(linear, f"{name}_loss_vectorized")
    first_call(f"{name} loss float64", lambda: fn(W, X[:5], y[:5], 1e-3, backend="numba"))
    times = {"course_lib numba": median_time(lambda: fn(W, X, y, 1e-3, backend="numba"), repeat),
             "NumPy vectorised": median_time(lambda: fn(W, X, y, 1e-3, backend="numpy"), repeat)}
    if torch is not None:
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)
        tW = torch.from_numpy(W.copy()).requires_grad_()
        torch_loss = F.multi_margin_loss if name == "svm" else F.cross_entropy

        def peer():
            tW.grad = None
            (torch_loss(tX @ tW, ty) + 1e-3 * (tW * tW).sum()).backward()

        times["PyTorch CPU"] = median_time(peer, repeat)
    return times


def report(title, times):
    ours = times["course_lib numba"]
    peers = {k: v for k, v in times.items() if k != "course_lib numba"}
    cells = "  ".join(f"{k} {v * 1e3:8.2f} ms ({ours / v:4.2f}x)" for k, v in peers.items())
    print(f"{title:<44} course_lib {ours * 1e3:8.2f} ms | {cells}", flush=True)
    return {"case": title, **{k: v for k, v in times.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke test")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="run only the cases whose title contains TEXT (e.g. 'conv', 'float32 x=(64')")
    args = parser.parse_args(argv)
    r = 1 if args.quick else args.repeat
    q = (lambda full, small: small) if args.quick else (lambda full, small: full)  # noqa: E731
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; ", end="")
    import numba
    print(f"Numba {numba.__version__}, {numba.get_num_threads()} threads; NumPy {np.__version__}; "
          f"{os.cpu_count()} CPUs. Ratios: course_lib time / peer time.")
    results = []

    def wanted(title):
        return args.only in title

    for dtype in (np.float32, np.float64):
        for x_shape, w_shape, pad in (((50, 3, 32, 32), (32, 3, 7, 7), 3),
                                      ((64, 32, 16, 16), (64, 32, 3, 3), 1),
                                      ((50, 3, 32, 32), (16, 3, 3, 3), 1)):  # 06's ConvNet, a batch
            # quick: few channels too, so that no layer takes the Winograd path (16 s of compiling)
            x_shape, w_shape = q((x_shape, w_shape), ((4, min(x_shape[1], 4), 8, 8),
                                                       (min(w_shape[0], 8), min(w_shape[1], 4)) + w_shape[2:]))
            title = f"conv fwd+bwd {np.dtype(dtype).name} x={x_shape} w={w_shape}"
            if wanted(title):
                results.append(report(title, conv_case(x_shape, w_shape, pad, dtype, r)))
        shape = q((50, 32, 32, 32), (4, 3, 8, 8))
        title = f"max pool 2x2 fwd+bwd {np.dtype(dtype).name} x={shape}"
        if wanted(title):
            results.append(report(title, pool_case(shape, dtype, r)))
    sizes = q((500, 5000, 3072), (20, 50, 30))
    title = f"kNN distances float64 {sizes[0]}x{sizes[1]}x{sizes[2]}"
    if wanted(title):
        results.append(report(title, knn_case(*sizes, r)))
    n, d = q((49000, 3073), (200, 31))
    for name in ("svm", "softmax"):
        title = f"{name} loss+grad float64 {n}x{d}, 10 classes"
        if wanted(title):
            results.append(report(title, loss_case(name, n, d, 10, r)))
    print("first calls (compilation from an empty cache included):")
    for name, seconds in FIRST_CALLS.items():
        print(f"  {name:<32} {seconds:6.2f} s")
    subprocess.run([sys.executable, "-c", WARM_START], check=True, capture_output=True)  # fills the cache
    measured = subprocess.run([sys.executable, "-c", WARM_START], check=True, capture_output=True, text=True)
    print(f"warm start (a new process, the on-disk cache filled): {measured.stdout.strip()}")
    return results


# What a notebook's kernel pays before its first results: import course_lib, then one call of
# each layer a ConvNet notebook uses (float32), in a fresh process with NUMBA_CACHE_DIR inherited.
WARM_START = """
import time
start = time.perf_counter()
import numpy as np
from course_lib import layers
imported = time.perf_counter()
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
out, cache = layers.conv_forward(x, w, np.zeros(4, np.float32), {"stride": 1, "pad": 1})
layers.conv_backward(out, cache)
pooled, cache = layers.max_pool_forward(out, {"pool_height": 2, "pool_width": 2, "stride": 2})
layers.max_pool_backward(pooled, cache)
scores, cache = layers.affine_forward(pooled, rng.standard_normal((64, 10)).astype(np.float32),
                                      np.zeros(10, np.float32))
layers.affine_backward(scores, cache)
hidden, cache = layers.relu_forward(scores)
layers.relu_backward(hidden, cache)
normed, cache = layers.batchnorm_forward(scores, np.ones(10, np.float32), np.zeros(10, np.float32),
                                         {"mode": "train"})
layers.batchnorm_backward(normed, cache)
layers.softmax_loss(scores, np.array([1, 2]))
done = time.perf_counter()
print(f"import course_lib {imported - start:.2f} s + first calls of conv, pool, affine, relu, "
      f"batch norm and softmax {done - imported:.2f} s = {done - start:.2f} s")
"""


if __name__ == "__main__":
    main()
    sys.exit(0)
