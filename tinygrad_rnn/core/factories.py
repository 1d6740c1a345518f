"""Functions that make new leaf tensors: constants, ranges and random numbers.

Every factory takes ``dtype`` (float32 by default), ``device`` (the default device
when None) and ``requires_grad``. Shapes may be given as ``zeros(2, 3)`` or
``zeros((2, 3))``. Random factories draw from the device's generator, which
``manual_seed`` restarts, so the same seed gives the same numbers.
"""
from __future__ import annotations

from typing import Any

from ..backends import get_backend
from ..ops.common import shape_arg
from .tensor import Tensor

DEFAULT_FLOAT = "float32"


def _leaf(data: Any, backend: Any, requires_grad: bool) -> Tensor:
    tensor = Tensor._wrap(data, backend)
    return tensor.requires_grad_(True) if requires_grad else tensor


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None,
           name: str | None = None) -> Tensor:
    """``Tensor(data, ...)``, PyTorch's spelling."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device, name=name)


def from_numpy(array: Any, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor over a NumPy array (sharing its memory on the CPU), keeping its dtype."""
    backend = get_backend(device)
    return _leaf(backend.asarray(array), backend, requires_grad)


def full(*shape: Any, fill_value: Any = None, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``: ``full((2, 3), 7.0)``."""
    if fill_value is None:  # full((2, 3), 7.0): the value is the last positional argument
        *shape, fill_value = shape
    backend = get_backend(device)
    if dtype is None:
        dtype = "int64" if isinstance(fill_value, int) and not isinstance(fill_value, bool) else \
            ("bool" if isinstance(fill_value, bool) else DEFAULT_FLOAT)
    data = backend.xp.full(shape_arg(tuple(shape)), fill_value, dtype=dtype)
    return _leaf(data, backend, requires_grad)


def zeros(*shape: Any, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    backend = get_backend(device)
    return _leaf(backend.xp.zeros(shape_arg(shape), dtype=dtype or DEFAULT_FLOAT), backend, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    backend = get_backend(device)
    return _leaf(backend.xp.ones(shape_arg(shape), dtype=dtype or DEFAULT_FLOAT), backend, requires_grad)


def _like(t: Tensor, dtype: Any, device: str | None) -> tuple:
    return get_backend(device or t.device), dtype or t.dtype


def zeros_like(t: Tensor, dtype: Any = None, device: str | None = None,
               requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device (unless given)."""
    backend, dtype = _like(t, dtype, device)
    return _leaf(backend.xp.zeros(t.shape, dtype=dtype), backend, requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape, dtype and device (unless given)."""
    backend, dtype = _like(t, dtype, device)
    return _leaf(backend.xp.ones(t.shape, dtype=dtype), backend, requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop): int64 for integer arguments, else float32."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        integral = all(isinstance(v, int) for v in (start, stop, step))
        dtype = "int64" if integral else DEFAULT_FLOAT
    backend = get_backend(device)
    return _leaf(backend.xp.arange(start, stop, step, dtype=dtype), backend, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: str | None = None,
        requires_grad: bool = False) -> Tensor:
    """The ``n x m`` identity matrix (square when ``m`` is None)."""
    backend = get_backend(device)
    return _leaf(backend.xp.eye(n, m, dtype=dtype or DEFAULT_FLOAT), backend, requires_grad)


def randn(*shape: Any, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """Samples from the standard normal distribution."""
    backend = get_backend(device)
    return _leaf(backend.randn(shape_arg(shape), dtype or DEFAULT_FLOAT), backend, requires_grad)


def rand(*shape: Any, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """Samples from the uniform distribution on [0, 1)."""
    backend = get_backend(device)
    return _leaf(backend.rand(shape_arg(shape), dtype or DEFAULT_FLOAT), backend, requires_grad)


def uniform(*shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = None,
            device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Samples from the uniform distribution on [low, high): ``uniform(3, 4, low=-1, high=1)``."""
    if high < low:
        raise ValueError(f"uniform: high ({high}) must not be below low ({low})")
    backend = get_backend(device)
    data = backend.rand(shape_arg(shape), dtype or DEFAULT_FLOAT)
    data *= high - low
    data += low
    return _leaf(data, backend, requires_grad)


def randint(low: int, high: int, shape: Any, device: str | None = None) -> Tensor:
    """Random int64 values in [low, high)."""
    backend = get_backend(device)
    return Tensor._wrap(backend.randint(low, high, shape_arg((shape,))), backend)

