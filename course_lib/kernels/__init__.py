"""Compute kernels, one module per backend, each exposing the same functions.

The contract: every backend module (numpy_kernels, numba_kernels, cuda_kernels) defines each name
in API with the parameter names of numpy_kernels, which is the specification the others must match
(tests/test_kernel_contract.py checks names and signatures, tests/test_backend_agreement.py the
results). Kernels take plain arrays and numbers (no param dicts, no caches), assume their inputs
were validated by course_lib.layers, and return arrays of the dtype they were given. A backend may
also define OPTIONAL hooks: unavailable_reason() says why it cannot run here (course_lib.backend
asks before selecting it), is_device(a) whether an array lives on the backend's device.
"""

API = (
    "affine_forward", "affine_backward",
    "relu_forward", "relu_backward",
    "dropout_forward", "dropout_backward",
    "conv_forward", "conv_backward",
    "max_pool_forward", "max_pool_backward",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_inference",
    "channel_batchnorm_forward", "channel_batchnorm_backward", "channel_batchnorm_inference",
    "groupnorm_forward", "groupnorm_backward",
    "svm_loss", "softmax_loss",
    "pairwise_distances",
    "to_backend", "to_numpy",  # arrays into the backend's memory and back to NumPy
)

OPTIONAL = ("unavailable_reason", "is_device")
