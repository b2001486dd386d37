"""Compile every CUDA kernel of course_lib to PTX for a Hopper GPU (sm_90), float32 and float64.

The simulator runs kernels as Python, so it cannot catch what only the CUDA compiler rejects
(typing, unsupported calls). This needs NVVM from a CUDA toolkit, not a GPU. Run with
NUMBA_ENABLE_CUDASIM=0; prints one line per kernel and "compiled N kernels" at the end, or
"NVVM unavailable: ..." when there is no toolkit.
"""
import sys

from numba import cuda, types
from numba.cuda.cudadrv.error import NvvmSupportError
from numba.cuda.dispatcher import CUDADispatcher

from course_lib.kernels import cuda_kernels as ck


def signatures(dt):
    A = lambda nd, t=dt: types.Array(t, nd, "C")  # noqa: E731
    I = types.int64  # noqa: E741
    idx = types.Array(types.intp, 4, "C")
    labels = types.Array(types.intp, 1, "C")
    typed = ck._TYPED[{types.float32: ck.np.dtype("float32"), types.float64: ck.np.dtype("float64")}[dt]]
    return {
        "_relu": (ck._relu, (A(1), A(1))),
        "_relu_grad": (ck._relu_grad, (A(1), A(1), A(1))),
        "_dropout": (ck._dropout, (A(1), A(1), dt, A(1), A(1))),
        "_multiply": (ck._multiply, (A(1), A(1), A(1))),
        "gemm": (typed["gemm"], (A(2), A(2), A(2), types.boolean, types.boolean)),
        "column_sums": (typed["column_sums"], (A(2), A(1))),
        "conv_dw": (typed["conv_dw"], (A(4), A(4), I, I, A(4))),
        "channel_sums": (typed["channel_sums"], (A(4), A(1))),
        "batchnorm_stats": (typed["batchnorm_stats"], (A(2), dt, A(1), A(1), A(1))),
        "batchnorm_param_grads": (typed["batchnorm_param_grads"], (A(2), A(2), A(1), A(1))),
        "group_stats": (typed["group_stats"], (A(3), I, dt, A(2), A(2))),
        "group_grad_sums": (typed["group_grad_sums"], (A(3), A(3), A(1), I, A(2), A(2))),
        "channel_stats": (typed["channel_stats"], (A(3), dt, A(1), A(1), A(1))),
        "channel_param_grads": (typed["channel_param_grads"], (A(3), A(3), A(1), A(1))),
        "_add_row": (ck._add_row, (A(2), A(1))),
        "_conv_forward": (ck._conv_forward, (A(4), A(4), A(1), I, I, A(4))),
        "_conv_dx": (ck._conv_dx, (A(4), A(4), I, I, A(4))),
        "_max_pool": (ck._max_pool, (A(4), I, I, I, A(4), idx)),
        "_max_pool_grad": (ck._max_pool_grad, (A(4), idx, I, I, I, A(4))),
        "_batchnorm_apply": (ck._batchnorm_apply, (A(2), A(1), A(1), A(1), A(1), A(2), A(2))),
        "_batchnorm_dx": (ck._batchnorm_dx, (A(2), A(2), A(1), A(1), A(1), A(1), A(2))),
        "_batchnorm_inference": (ck._batchnorm_inference, (A(2), A(1), A(1), A(1), A(1), dt, A(2))),
        "_groupnorm_apply": (ck._groupnorm_apply, (A(3), A(1), A(1), I, A(2), A(2), A(3), A(3))),
        "_groupnorm_dx": (ck._groupnorm_dx, (A(3), A(3), A(1), A(2), I, A(2), A(2), A(3))),
        "_channel_batchnorm_apply": (ck._channel_batchnorm_apply, (A(3), A(1), A(1), A(1), A(1), A(3), A(3))),
        "_channel_batchnorm_dx": (ck._channel_batchnorm_dx, (A(3), A(3), A(1), A(1), A(1), A(1), A(3))),
        "_channel_batchnorm_inference": (ck._channel_batchnorm_inference,
                                         (A(3), A(1), A(1), A(1), A(1), dt, A(3))),
        "_svm_rows": (ck._svm_rows, (A(2), labels, A(1), A(2))),
        "_softmax_rows": (ck._softmax_rows, (A(2), labels, A(1), A(2))),
        "_squared_norms": (ck._squared_norms, (A(2), A(1))),
        "_distances_from_gram": (ck._distances_from_gram, (A(2), A(1), A(1))),
    }


class _Hopper:
    """Numba asks the current device for its compute capability when it compiles a device
    function (here _block_sum) called from a kernel; without a GPU, answer for an sm_90 one."""
    compute_capability = (9, 0)


def main():
    import numba.cuda.dispatcher
    numba.cuda.dispatcher.get_current_device = _Hopper
    module_kernels = {n for n, v in vars(ck).items()
                      if isinstance(v, CUDADispatcher) and not v.targetoptions.get("device")}
    covered = set(signatures(types.float32))
    missing = module_kernels - covered
    if missing:
        print(f"kernels without a signature here: {sorted(missing)}")
        return 1
    count = 0
    for dt in (types.float32, types.float64):
        for name, (kernel, sig) in signatures(dt).items():
            try:
                ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
            except NvvmSupportError as err:
                print(f"NVVM unavailable: {err}")
                return 0
            except Exception as err:  # noqa: BLE001 - reported with the kernel's name
                print(f"{name} {dt}: {type(err).__name__}: {err}")
                return 1
            count += 1
            print(f"{name} {dt}: {len(ptx)} bytes of PTX")
    print(f"compiled {count} kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
