"""Gradient clipping: essential for RNNs, whose gradients can explode through time."""
from __future__ import annotations

import math
from typing import Any, Iterable

from ...core.tensor import Tensor


def _with_grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so their joint ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d tensor), as PyTorch does: the norm of the
    per-tensor norms. Like PyTorch it multiplies by min(1, max_norm / norm) without reading
    the norm into Python (a NaN norm spreads to the gradients), so compiled steps replay it.
    """
    params = _with_grads(parameters)
    if not params:
        return Tensor(0.0)
    backend = params[0].backend
    xp = backend.xp
    total = _norm(xp, xp.stack([_norm(xp, p.grad.data, norm_type) for p in params]), norm_type)
    if error_if_nonfinite:
        backend.check(xp.isfinite(total), RuntimeError,
                      f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {{}}, not "
                      "finite; set error_if_nonfinite=False to clip anyway", total)
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for p in params:
        p.grad.data *= scale.astype(p.grad.data.dtype)  # in place, as PyTorch's mul_
    return Tensor._wrap(backend.array_of(total), backend)


def _norm(xp: Any, array: Any, norm_type: float) -> Any:
    if norm_type == math.inf:  # xp.max, unlike Python's max, carries a NaN through
        return xp.abs(array).max()
    return (xp.abs(array) ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value]."""
    for p in _with_grads(parameters):
        p.grad.backend.xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)
