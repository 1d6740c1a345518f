"""Stateless building blocks of networks and losses, composed from primitive ops.

Every loss follows PyTorch's signature and shape conventions: class scores are
``(N, C)`` (or ``(C,)`` for one sample, or ``(N, C, d1, ...)``), integer targets are
``(N,)`` (or ``(N, d1, ...)``), and ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``.
"""
from __future__ import annotations

from typing import Any

from .. import ops
from ..core.factories import rand
from ..ops import log_softmax, softmax
from ..core.tensor import Tensor
from ..ops.common import check_same_device

__all__ = ["linear", "dropout", "softmax", "log_softmax", "nll_loss", "cross_entropy",
           "mse_loss", "binary_cross_entropy_with_logits"]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias, with ``weight`` shaped (out_features, in_features)."""
    out = x @ weight.T
    return out if bias is None else out + bias


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training only)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = rand(x.shape, dtype=x.dtype, device=x.device).data >= p
    return x * Tensor._wrap((keep / (1.0 - p)).astype(x.dtype), x.backend)


def _reduce(losses: Tensor, reduction: str, op: str, count: Any = None) -> Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean() if count is None else losses.sum() / count
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _classes_last(scores: Tensor, target: Tensor, op: str) -> tuple[Tensor, Any, tuple]:
    """Scores as (M, C) and targets as (M,), plus the shape the per-element losses take."""
    if scores.ndim == 1:  # one sample: (C,) and a scalar target
        if target.ndim != 0:
            raise ValueError(f"{op}: for input of shape {scores.shape} the target must be a scalar "
                             f"class index, got shape {target.shape}")
        return scores.reshape(1, -1), target.data.reshape(1), ()
    expected = (scores.shape[0],) + scores.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: input of shape {scores.shape} needs a target of shape {expected}, "
                         f"got {target.shape}")
    if scores.ndim > 2:  # (N, C, d1, ...) -> (N * d1 * ..., C)
        axes = (0,) + tuple(range(2, scores.ndim)) + (1,)
        scores = scores.permute(axes).reshape(-1, scores.shape[1])
    return scores, target.data.reshape(-1), expected


def nll_loss(log_probs: Tensor, target: Tensor, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer ``target`` classes given ``log_probs``.

    With ``reduction="mean"`` the average is over targets that are not ``ignore_index``.
    """
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {target.dtype}")
    check_same_device("nll_loss", log_probs, target)
    scores, labels, loss_shape = _classes_last(log_probs, target, "nll_loss")
    xp, classes = scores.backend.xp, scores.shape[1]
    kept = labels != ignore_index
    scores.backend.check(~((labels < 0) | (labels >= classes))[kept].any(), IndexError,
                         f"nll_loss: target values must be in [0, {classes}) or equal ignore_index "
                         f"({ignore_index}); got values from {{}} to {{}}", labels.min(), labels.max())
    safe = xp.where(kept, labels, 0)
    picked = scores[xp.arange(labels.shape[0]), safe]  # log p(target) for every element
    weights = Tensor._wrap(kept.astype(scores.dtype), scores.backend)
    losses = (-picked * weights).reshape(loss_shape)
    if reduction != "mean":
        return _reduce(losses, reduction, "nll_loss")
    # the mean over the targets kept; with every target ignored it is 0/0 = NaN, yet no
    # element gets a gradient, as in PyTorch (decided by where(), not by reading the count)
    count = weights.sum()
    any_kept = Tensor._wrap(kept.any(), scores.backend)
    return ops.where(any_kept, losses.sum() / ops.maximum(count, 1.0), float("nan"))


def cross_entropy(input: Tensor, target: Tensor, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of raw scores ``input`` against integer ``target`` classes."""
    class_axis = 0 if input.ndim == 1 else 1
    return nll_loss(log_softmax(input, axis=class_axis), target, ignore_index, reduction)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error (input - target)^2."""
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable formula:
    loss = -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)) = (1 - t) x + softplus(-x),
    which never overflows and whose gradient is sigmoid(x) - t everywhere (also at x = 0)."""
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and target "
                         f"shape {target.shape} differ")
    losses = (1.0 - target) * input + ops.softplus(-input)
    return _reduce(losses, reduction, "binary_cross_entropy_with_logits")
