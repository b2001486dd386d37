"""The cuda backend beyond kernel agreement (which tests/test_backend_agreement.py checks for every
fast backend): device arrays, whole networks against the NumPy backend, the error without a GPU,
and its kernels compiled to PTX for a real GPU. Numba's CUDA simulator runs it where there is no GPU."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import course_lib
from course_lib import layers
from course_lib.backend import BackendUnavailableError, kernels
from course_lib.classifiers import FullyConnectedNet, ThreeLayerConvNet

try:
    ck = kernels("cuda")
except BackendUnavailableError as err:  # NUMBA_ENABLE_CUDASIM=0 on a machine without a GPU
    pytest.skip(str(err), allow_module_level=True)


def test_device_arrays_in_device_arrays_out(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    on_device = ck.to_backend(x)
    out = ck.relu_forward(on_device)
    assert ck.is_device(out) and not ck.is_device(ck.relu_forward(x))
    np.testing.assert_array_equal(ck.to_numpy(out), np.maximum(x, 0))
    out, cache = layers.conv_forward(on_device, ck.to_backend(rng.standard_normal((2, 3, 3, 3))),
                                     ck.to_backend(np.zeros(2)), {"stride": 1, "pad": 1}, backend="cuda")
    assert ck.is_device(out) and out.shape == (2, 2, 4, 4)
    dx, dw, db = layers.conv_backward(ck.to_backend(np.ones(out.shape)), cache)
    assert all(ck.is_device(g) for g in (dx, dw, db))


@pytest.mark.parametrize("layer", ["layernorm", "spatial_batchnorm", "spatial_groupnorm"])
def test_normalisation_layers_keep_device_arrays_and_agree_with_numpy(rng, layer):
    shape = (4, 6) if layer == "layernorm" else (3, 6, 2, 3)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    forward, backward = getattr(layers, f"{layer}_forward"), getattr(layers, f"{layer}_backward")
    extra = {"layernorm": (), "spatial_batchnorm": ({"mode": "train"},), "spatial_groupnorm": (2,)}[layer]
    out, cache = forward(*(ck.to_backend(a) for a in (x, gamma, beta)), *extra, backend="cuda")
    grads = backward(ck.to_backend(dout), cache)
    assert ck.is_device(out) and all(ck.is_device(g) for g in grads)
    want_out, want_cache = forward(x, gamma, beta, *extra, backend="numpy")
    np.testing.assert_allclose(ck.to_numpy(out), want_out, atol=1e-12)
    for got, want in zip(grads, backward(dout, want_cache)):
        np.testing.assert_allclose(ck.to_numpy(got), want, atol=1e-12)


@pytest.mark.slow
def test_convnet_trains_on_the_gpu_like_on_the_cpu(rng):
    """Same initial weights, same minibatches: the loss curves of the cuda and numpy backends agree."""
    X = rng.standard_normal((6, 1, 6, 6))
    y = rng.integers(3, size=6)
    histories = {}
    for name in ("numpy", "cuda"):
        model = ThreeLayerConvNet(input_dim=(1, 6, 6), num_filters=2, filter_size=3, hidden_dim=5,
                                  num_classes=3, weight_scale=0.3, dtype=np.float64, seed=0)
        with course_lib.use_backend(name):
            losses = []
            for _ in range(4):
                loss, grads = model.loss(X, y)
                losses.append(loss)
                for key in model.params:
                    model.params[key] -= 0.5 * grads[key]
        histories[name] = losses
    np.testing.assert_allclose(histories["cuda"], histories["numpy"], rtol=1e-10)
    assert histories["cuda"][-1] < histories["cuda"][0]


def test_a_training_step_keeps_activations_on_the_device(rng, monkeypatch):
    """Counting the transfers of one loss() call: the batch, the parameters and the labels go to
    the GPU, the per-row losses and the gradients come back, and nothing else crosses."""
    from numba import cuda
    to_device, copies = cuda.to_device, []
    monkeypatch.setattr(cuda, "to_device", lambda a, *args, **kw: copies.append(a.shape) or to_device(a, *args, **kw))
    model = ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, filter_size=3, hidden_dim=3,
                              num_classes=2, weight_scale=0.3, dtype=np.float32, seed=0)
    with course_lib.use_backend("cuda"):
        model.loss(rng.standard_normal((3, 1, 4, 4)), np.array([0, 1, 1]))
    assert sorted(copies) == sorted([(3, 1, 4, 4), (3,)] + [p.shape for p in model.params.values()])


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_fully_connected_net_with_normalisation_and_dropout_matches_numpy(rng, normalization):
    X, y = rng.standard_normal((5, 4)), rng.integers(3, size=5)
    results = {}
    for name in ("numpy", "cuda"):
        model = FullyConnectedNet([6], input_dim=4, num_classes=3, normalization=normalization,
                                  dropout_keep_ratio=0.7, dtype=np.float64, seed=1, dropout_seed=2)
        with course_lib.use_backend(name):
            loss, grads = model.loss(X, y)
            scores = model.loss(X)  # test mode: running statistics
        results[name] = (loss, grads, scores)
    (l1, g1, s1), (l2, g2, s2) = results["numpy"], results["cuda"]
    assert l2 == pytest.approx(l1, rel=1e-12)
    np.testing.assert_allclose(s2, s1, rtol=1e-10)
    for key in g1:
        np.testing.assert_allclose(g2[key], g1[key], rtol=1e-9, atol=1e-14)


def test_without_gpu_or_simulator_the_error_says_what_to_do():
    code = textwrap.dedent("""
        from numba import cuda
        if cuda.is_available():
            print("GPU")
        else:
            import course_lib
            try:
                course_lib.use_backend("cuda")
            except course_lib.BackendUnavailableError as err:
                print(err)
    """)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.stdout.strip() == "GPU":
        pytest.skip("a real GPU is present")
    assert "pip install .[cuda]" in out.stdout and "'numba' backend" in out.stdout, out.stdout + out.stderr


def test_every_kernel_compiles_for_a_real_gpu():
    """The simulator runs kernels as Python; the CUDA compiler is stricter (it rejected the builtin
    max/min in two kernels that the simulator ran happily). Needs NVVM, not a GPU."""
    script = os.path.join(os.path.dirname(__file__), "cuda_ptx.py")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    out = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=600)
    if "NVVM unavailable" in out.stdout:
        pytest.skip(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "compiled 62 kernels" in out.stdout
