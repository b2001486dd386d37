"""GPU speed of course_lib's cuda backend against PyTorch CUDA (cuDNN), in one process.

    python benchmarks/bench_gpu.py            # on a machine with an NVIDIA GPU
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/bench_gpu.py --quick   # smoke test, no GPU needed

Inputs are moved to the GPU before timing; each figure is the median of several runs after a
warm-up, with the device synchronised before the clock is read. Ratios are course_lib / peer.
Host<->device transfer times of the conv input are reported separately.
"""
import argparse
import statistics
import sys
import time

import numpy as np
from numba import cuda

from course_lib.backend import kernels

try:
    import torch
    import torch.nn.functional as F
    TORCH_CUDA = torch.cuda.is_available()
except ImportError:
    TORCH_CUDA = False

CK = kernels("cuda")


def timed(fn, repeat, sync):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv(x_shape, w_shape, pad, dtype, repeat):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = (0.1 * rng.standard_normal(w_shape)).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out_shape = (x_shape[0], w_shape[0], x_shape[2] + 2 * pad - w_shape[2] + 1,
                 x_shape[3] + 2 * pad - w_shape[3] + 1)
    dout = rng.standard_normal(out_shape).astype(dtype)
    xd, wd, bd, dd = (CK.to_backend(a) for a in (x, w, b, dout))

    def ours():
        CK.conv_forward(xd, wd, bd, 1, pad)
        CK.conv_backward(dd, xd, wd, 1, pad)

    times = {"course_lib cuda": timed(ours, repeat, cuda.synchronize)}
    if TORCH_CUDA:
        tx, tw, tb = (torch.from_numpy(a).cuda().requires_grad_() for a in (x, w, b))
        td = torch.from_numpy(dout).cuda()

        def peer():
            tx.grad = tw.grad = tb.grad = None
            F.conv2d(tx, tw, tb, padding=pad).backward(td)

        times["PyTorch CUDA"] = timed(peer, repeat, torch.cuda.synchronize)
    transfer = {"to device": timed(lambda: CK.to_backend(x), repeat, cuda.synchronize),
                "to host": timed(lambda: xd.copy_to_host(), repeat, cuda.synchronize)}
    return times, transfer, x.nbytes


def pool(x_shape, dtype, repeat):
    x = np.random.default_rng(1).standard_normal(x_shape).astype(dtype)
    xd = CK.to_backend(x)
    dd = CK.to_backend(np.ones((x_shape[0], x_shape[1], x_shape[2] // 2, x_shape[3] // 2), dtype))

    def ours():
        _, argmax = CK.max_pool_forward(xd, 2, 2, 2)
        CK.max_pool_backward(dd, argmax, x.shape, x.dtype, 2, 2, 2)

    times = {"course_lib cuda": timed(ours, repeat, cuda.synchronize)}
    if TORCH_CUDA:
        tx = torch.from_numpy(x).cuda().requires_grad_()
        td = torch.ones(dd.shape, dtype=tx.dtype, device="cuda")

        def peer():
            tx.grad = None
            F.max_pool2d(tx, 2, 2).backward(td)

        times["PyTorch CUDA"] = timed(peer, repeat, torch.cuda.synchronize)
    return times


def knn(m, n, d, repeat):
    rng = np.random.default_rng(2)
    a, b = rng.random((m, d)) * 255, rng.random((n, d)) * 255
    ad, bd = CK.to_backend(a), CK.to_backend(b)
    times = {"course_lib cuda": timed(lambda: CK.pairwise_distances(ad, bd), repeat, cuda.synchronize)}
    if TORCH_CUDA:
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        times["PyTorch CUDA cdist"] = timed(lambda: torch.cdist(ta, tb), repeat, torch.cuda.synchronize)
    return times


def line(title, times):
    ours = times["course_lib cuda"]
    peers = "  ".join(f"{k} {v * 1e3:8.3f} ms ({ours / v:5.2f}x)" for k, v in times.items()
                      if k != "course_lib cuda")
    print(f"{title:<50} course_lib {ours * 1e3:8.3f} ms | {peers}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    r = 1 if args.quick else args.repeat
    device = "simulator" if CK.SIMULATED else cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else device
    print(f"device: {device}; PyTorch CUDA peer: {'yes' if TORCH_CUDA else 'not available'}")
    for dtype in (np.float32, np.float64):
        for x_shape, w_shape, pad in (((50, 3, 32, 32), (32, 3, 7, 7), 3),
                                      ((64, 32, 16, 16), (64, 32, 3, 3), 1)):
            if args.quick:
                x_shape, w_shape = (1, 2, 4, 4), (2, 2, 3, 3)
                pad = 1
            times, transfer, nbytes = conv(x_shape, w_shape, pad, dtype, r)
            line(f"conv fwd+bwd {np.dtype(dtype).name} x={x_shape} w={w_shape}", times)
            print("    transfer of x ({:.1f} MB): to device {:.3f} ms, to host {:.3f} ms".format(
                nbytes / 1e6, transfer["to device"] * 1e3, transfer["to host"] * 1e3))
        shape = (2, 2, 4, 4) if args.quick else (50, 32, 32, 32)
        line(f"max pool 2x2 fwd+bwd {np.dtype(dtype).name} x={shape}", pool(shape, dtype, r))
    sizes = (4, 5, 3) if args.quick else (500, 5000, 3072)
    line(f"kNN distances float64 {sizes[0]}x{sizes[1]}x{sizes[2]}", knn(*sizes, r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
