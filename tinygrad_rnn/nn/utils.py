"""Gradient clipping: essential for RNNs, whose gradients can explode through time."""
from __future__ import annotations

import math
from typing import Iterable

from ..core.tensor import Tensor


def _with_grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so their joint ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d tensor), as PyTorch does.
    """
    params = _with_grads(parameters)
    if not params:
        return Tensor(0.0)
    backend = params[0].backend
    xp = backend.xp
    if norm_type == math.inf:  # xp.max, unlike Python's max, carries a NaN through
        total = float(xp.max(xp.stack([xp.abs(p.grad.data).max() for p in params])))
    else:
        total = sum(float((xp.abs(p.grad.data) ** norm_type).sum()) for p in params) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients "
                           f"is {total}, not finite; set error_if_nonfinite=False to clip anyway")
    scale = max_norm / (total + 1e-6)
    if not scale >= 1.0:  # also for a NaN norm, which then spreads to the gradients as in PyTorch
        for p in params:
            p.grad.data *= p.grad.data.dtype.type(scale)  # in place: a 0-d gradient stays an array
    return Tensor(total, dtype=params[0].dtype, device=params[0].device)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value]."""
    for p in _with_grads(parameters):
        p.grad.backend.xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)
