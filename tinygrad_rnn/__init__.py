"""tinygrad_rnn: a small, exact reverse-mode autograd with RNN/LSTM/GRU built from primitives.

    >>> import tinygrad_rnn as tg
    >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
"""
from __future__ import annotations

from .core.tensor import Tensor  # first: tensor.py pulls in the ops, which need Tensor defined
from .core.autograd import Function, ShapeError
from .core.grad import grad
from .backends import (available_devices, bool_, default_device, float16, float32, float64,
                       get_backend, int32, int64, manual_seed, set_default_device)
from .core.factories import (arange, eye, from_numpy, full, ones, ones_like, rand, randint, randn,
                        tensor, uniform, zeros, zeros_like)
from .core.grad_mode import (detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad,
                        set_detect_anomaly, set_grad_enabled)
from .core.gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops import (abs, amax, amin, argmax, argmin, bmm, cat, chunk, clip, cos, dot, einsum, exp, flip, gather,
                  index_select, log, log1p, log_softmax, logsumexp, masked_fill, matmul, max, maximum, mean, min,
                  minimum, mm, neg, norm, one_hot, pow, relu, roll, sigmoid, sign, sin, softmax, split, sqrt,
                  stack, std, sum, t, tanh, unbind, var, where)
from .checkpoint import CheckpointError, load, save
from .compiler import CaptureError, compile  # noqa: A004  (PyTorch's name: tinygrad_rnn.compile(fn))
from . import data, nn, optim, viz  # noqa: E402  (submodules, as tinygrad_rnn.nn etc.)

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "Function", "ShapeError", "grad", "gradcheck", "gradgradcheck", "GradcheckError",
    "save", "load", "CheckpointError", "compile", "CaptureError", "nn", "optim", "data", "viz",
    "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
    "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "eye", "randn", "rand",
    "uniform", "randint", "from_numpy", "manual_seed",
    "get_backend", "available_devices", "set_default_device", "default_device",
    "float16", "float32", "float64", "int32", "int64", "bool_",
    "abs", "amax", "amin", "argmax", "argmin", "bmm", "cat", "chunk", "clip", "cos", "dot", "einsum", "exp",
    "flip", "gather", "index_select", "log", "log1p", "log_softmax", "logsumexp", "masked_fill", "matmul",
    "max", "maximum", "mean", "min", "minimum", "mm", "neg", "norm", "one_hot", "pow", "relu", "roll",
    "sigmoid", "sign", "sin", "softmax", "split", "sqrt", "stack", "std", "sum", "t", "tanh", "unbind",
    "var", "where",
]
