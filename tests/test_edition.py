"""Grading editions: for every decisive test, the library the student's code runs with cannot
compute the answers the test grades, in any backend or wrapper, and everything else still works."""
import ast
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from autograder import edition
from autograder.cases import CASES

# The grader's check of a test, given the right answers (computed beforehand with the full library):
# with the library as it is, it accepts them; with an edition as course_lib, it must fail in every
# backend, because computing the reference is the only thing in it that can.
PROBE = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import course_lib
    assert course_lib.__file__.startswith(sys.argv[1]), course_lib.__file__
    from autograder.cases import CASES
    case = CASES[sys.argv[2]][sys.argv[3]]
    with np.load(sys.argv[4]) as f:
        inputs = {k: f[k].item() if f[k].ndim == 0 and k.startswith("in_") else f[k] for k in f.files}
    outputs = tuple(inputs.pop(f"out_{i}") for i in range(sum(k.startswith("out_") for k in inputs)))
    inputs = {k[3:]: v for k, v in inputs.items()}
    reached = []
    for backend in ("numpy", "numba"):
        with course_lib.use_backend(backend):
            try:
                assert case.check(inputs, outputs) == []
                reached.append(backend)
            except NotImplementedError as err:
                assert "withheld while this test is graded" in str(err), err
            except Exception as err:  # a wrapper that breaks without what was withheld is fine too
                print(f"{backend}: {type(err).__name__}")
    try:
        course_lib.use_backend("cuda")
        reached.append("cuda")
    except course_lib.backend.BackendUnavailableError:
        pass
    print("reached", reached)
''')

def save_case(path, case):
    inputs = case.make(np.random.default_rng(0))
    outputs = case.check.expected(inputs)
    np.savez(path, **{f"in_{k}": v for k, v in inputs.items()}, **{f"out_{i}": v for i, v in enumerate(outputs)})


TESTS = [(name, gid) for name, cases in CASES.items() for gid in cases]


@pytest.mark.parametrize("name,gid", TESTS)
def test_the_reference_of_what_a_test_grades_is_out_of_reach(name, gid, tmp_path):
    case = CASES[name][gid]
    lib, _ = edition.build(tmp_path / "edition", case.withhold)
    save_case(tmp_path / "inputs.npz", case)  # made with the full library
    out = subprocess.run([sys.executable, "-c", PROBE, str(lib.parent), name, gid, str(tmp_path / "inputs.npz")],
                         capture_output=True,
                         text=True, timeout=300, env={"NUMBA_ENABLE_CUDASIM": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "reached []" in out.stdout, out.stdout


def test_the_withheld_source_is_not_in_the_edition(tmp_path):
    lib, rebuilt = edition.build(tmp_path, CASES["02_svm"]["test-naive"].withhold)
    text = (lib / "classifiers" / "linear.py").read_text()
    assert rebuilt and "margin" not in text and "withheld while this test is graded" in text
    assert "LinearClassifier" in text  # the rest is there
    assert "cuda.jit" not in (lib / "kernels" / "cuda_kernels.py").read_text()
    assert edition.build(tmp_path, CASES["02_svm"]["test-naive"].withhold) == (lib, False)  # reused


def test_a_name_the_library_lacks_is_an_error(tmp_path):
    with pytest.raises(edition.EditionError, match="no course_lib.layers.nothing_like_this"):
        edition.build(tmp_path, ["layers.py:nothing_like_this"])


@pytest.mark.parametrize("name,gid", [("02_svm", "test-train"), ("07_network_visualization", "test-fooling")])
def test_the_probe_reaches_the_reference_in_the_full_library(name, gid, tmp_path):
    """The control: the same probe, with the library as it is, computes the reference."""
    save_case(tmp_path / "inputs.npz", CASES[name][gid])
    out = subprocess.run([sys.executable, "-c", PROBE, str(edition.LIBRARY.parent), name, gid,
                          str(tmp_path / "inputs.npz")], capture_output=True, text=True, timeout=300,
                         env={"NUMBA_ENABLE_CUDASIM": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "reached ['numpy', 'numba', 'cuda']" in out.stdout, out.stdout


# Other parts of the library that would compute what a test grades: each edition must lack them too.
TWINS = [
    ("06_convnets", "test-conv-forward", "layers.conv_backward(np.ones((1, 1, 3, 3)), ('numpy', np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), 1, 0))"),
    ("06_convnets", "test-conv-backward", "layers.conv_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), np.ones(1), {'stride': 1, 'pad': 0}, backend='numpy')"),
    ("05_batchnorm_dropout", "test-bn-backward", "layers.batchnorm_forward(np.ones((3, 2)), np.ones(2), np.ones(2), {'mode': 'train'}, backend='numpy')"),
    ("05_batchnorm_dropout", "test-bn-backward-alt", "layers.batchnorm_forward(np.ones((3, 2)), np.ones(2), np.ones(2), {'mode': 'train'}, backend='numba')"),
    ("05_batchnorm_dropout", "test-bn-forward", "layers.layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), backend='numba')"),
    ("05_batchnorm_dropout", "test-bn-forward", "__import__('course_lib.kernels.numba_kernels', fromlist=['x']).groupnorm_forward(np.ones((2, 3, 1)), np.ones(3), np.zeros(3), 1, 1e-5)"),
    ("05_batchnorm_dropout", "test-bn-backward", "__import__('course_lib.kernels.numpy_kernels', fromlist=['x']).channel_batchnorm_backward(np.ones((2, 3, 1)), np.ones((2, 3, 1)), np.ones(3), np.ones(3))"),
    ("07_network_visualization", "test-fooling", "netvis.class_visualization_step(None, np.ones((1, 1, 4, 4)), 0, 0.0, 1.0)"),
    ("07_network_visualization", "test-class-visualization", "netvis.fooling_image(None, np.ones((1, 1, 4, 4)), 0)"),
    ("02_svm", "test-train", "__import__('course_lib.widgets.linear', fromlist=['x']).train_linear(None, *[None] * 7)"),
    ("02_svm", "test-train", "__import__('course_lib.solver', fromlist=['x']).Solver._step(None)"),
    # the private parts of a withheld kernel (found by a student-style attack: an im2col column
    # matrix times the weights is a convolution, its adjoint the backward's dx)
    ("06_convnets", "test-conv-forward", "_every_argument(__import__('course_lib.kernels.numba_kernels', fromlist=['x'])._im2col_image)"),
    ("06_convnets", "test-conv-backward", "_every_argument(__import__('course_lib.kernels.numba_kernels', fromlist=['x'])._col2im_image)"),
    ("06_convnets", "test-conv-forward", "_every_argument(__import__('course_lib.kernels.numba_kernels', fromlist=['x'])._conv_images_stride1)"),
    ("06_convnets", "test-conv-forward", "_every_argument(__import__('course_lib.kernels.numba_kernels', fromlist=['x'])._winograd_forward_part)"),
    ("06_convnets", "test-conv-forward", "__import__('course_lib.kernels.numpy_kernels', fromlist=['x'])._windows(np.ones((1, 1, 3, 3)), 3, 3, 1, 0)"),
    # trivial layers as special cases of others (the re-attack): affine as a 1x1 convolution,
    # ReLU as a max pool over [0; x]
    ("04_fc_nets", "test-affine", "layers.conv_forward(np.ones((2, 3, 1, 1)), np.ones((4, 3, 1, 1)), np.ones(4), {'stride': 1, 'pad': 0}, backend='numba')"),
    ("04_fc_nets", "test-relu", "layers.max_pool_forward(np.ones((1, 1, 2, 3)), {'pool_height': 2, 'pool_width': 1, 'stride': 1}, backend='numpy')"),
    # a fully connected net of 2 or 3 layers as the conv net on (N, D, 2, 2) images with a 1x1 convolution
    ("04_fc_nets", "test-two-layer", "__import__('course_lib.classifiers.nets', fromlist=['x']).ThreeLayerConvNet((1, 2, 2), 2, 1, 3, 2).loss(np.ones((1, 1, 2, 2)), np.zeros(1, int))"),
    ("04_fc_nets", "test-fc-loss", "__import__('course_lib.classifiers.nets', fromlist=['x']).ThreeLayerConvNet((1, 2, 2), 2, 1, 3, 2).score_gradient(np.ones((1, 1, 2, 2)), [0])"),
]


def test_a_withheld_kernels_private_helpers_go_with_it_and_shared_ones_stay():
    """with_helpers: what only withheld code reaches goes too; the checks and the backend
    dispatch that every layer uses stay (or every layer of the edition would break)."""
    conv = {e.split(":")[1] for e in edition.with_helpers(CASES["06_convnets"]["test-conv-forward"].withhold)}
    assert {"_im2col_image", "_col2im_image", "_conv_images_stride1", "_conv_grad_images_stride1",
            "_winograd_in", "_winograd_out", "_windows"} <= conv
    every = {e for case in (c for cases in CASES.values() for c in cases.values())
             for e in edition.with_helpers(case.withhold)}
    assert not {"layers.py:_run", "layers.py:_check_dout", "layers.py:_param"} & every
    relu = CASES["04_fc_nets"]["test-relu"].withhold
    assert edition.with_helpers(relu)[:len(relu)] == list(relu)


@pytest.mark.parametrize("name,gid,call", TWINS)
def test_the_twins_of_what_a_test_grades_are_withheld_too(name, gid, call, tmp_path):
    lib, _ = edition.build(tmp_path / "edition", CASES[name][gid].withhold)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np\n"
            "from course_lib import layers, netvis\n"
            "def _every_argument(f):  # a stub keeps its signature; a kernel has no __code__ and fails\n"
            "    return f(*[None] * f.__code__.co_argcount)\n"
            f"try:\n    {call}\nexcept NotImplementedError as err:\n    print('withheld' if 'withheld' in str(err) else err)\n")
    out = subprocess.run([sys.executable, "-c", code, str(lib.parent)], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "withheld", (out.stdout, out.stderr[-500:])


COMPILED = {"njit", "jit", "vectorize", "guvectorize", "stencil"}  # Numba's decorators that compile (and cache)


def _compiled_functions(tree):
    """Names of the functions a Numba decorator compiles, in a module's AST."""
    def decorator_name(node):
        node = node.func if isinstance(node, ast.Call) else node
        return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return {f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
            and any(decorator_name(d) in COMPILED for d in f.decorator_list)}


def test_no_compiled_kernel_calls_a_kernel_of_another_file():
    """An edition's Numba cache starts from the notebook's entries of the files it keeps byte for
    byte (autograder.worker._seed_cache). A kernel of a kept file that called a kernel of a file
    the edition changes would carry the withheld kernel, compiled into its own entry: so every
    compiled kernel calls only kernels of its own file."""
    files = {path: ast.parse(path.read_text()) for path in sorted(edition.LIBRARY.rglob("*.py"))}
    kernels = {path: {f.name for f in _compiled_functions(tree)} for path, tree in files.items()}
    assert sum(map(len, kernels.values())) > 10, "no Numba kernel found: the search is broken"
    crossing = []
    for path, tree in files.items():
        others = set().union(*(names for p, names in kernels.items() if p != path)) - kernels[path]
        for function in _compiled_functions(tree):
            called = {node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                      for node in ast.walk(function) if isinstance(node, ast.Call)
                      and isinstance(node.func, (ast.Name, ast.Attribute))}
            crossing += [f"{path.name}: {function.name} calls {name}" for name in sorted(called & others)]
    assert crossing == []
