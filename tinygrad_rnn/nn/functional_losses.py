"""The losses of ``nn.functional`` (import them from there), composed from primitive ops.

They follow PyTorch's signatures, shapes and results: class scores are ``(N, C)`` (or ``(C,)``
for one sample, or ``(N, C, d1, ...)``), class-index targets ``(N,)`` (or ``()``, or
``(N, d1, ...)``), and ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``. The arguments
after ``weight`` are keyword-only: PyTorch's next positional slots hold its deprecated
``size_average``/``reduce``, so a positional call meant for them fails here instead of being
misread. Weights (``weight``, ``pos_weight``) are constants: no gradient flows to them
(PyTorch refuses to differentiate them, except in cross_entropy with class probabilities).
"""
from __future__ import annotations

from typing import Any

from .. import ops
from ..core.dtypes import is_floating
from ..core.tensor import Tensor
from ..ops import log_softmax
from ..ops.common import check_same_device
from ..ops.special import binary_cross_entropy_terms

__all__ = ["nll_loss", "cross_entropy", "mse_loss", "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]


def _reduce(losses: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(input: Tensor, target: Tensor, op: str) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} differ; "
                         f"pass a target of the input's shape")


def _check_broadcasts(weight: Tensor, shape: tuple, name: str, op: str) -> None:
    """``weight`` must broadcast to ``shape`` without growing it (the loss keeps the input's shape)."""
    fits = weight.ndim <= len(shape) and all(w in (1, n) for w, n in zip(reversed(weight.shape), reversed(shape)))
    if not fits:
        raise ValueError(f"{op}: {name} of shape {weight.shape} does not broadcast to the input's "
                         f"shape {shape}")


def _class_weights(weight: Tensor | None, scores: Tensor, classes: int, op: str) -> Any:
    """The ``(C,)`` class weights as an array of the scores' dtype (None when not given)."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a Tensor of shape ({classes},), got {type(weight).__name__}")
    if weight.shape != (classes,):
        raise ValueError(f"{op}: weight must give one value per class, shape ({classes},), got shape "
                         f"{weight.shape}")
    check_same_device(op, scores, weight)
    return weight.data.astype(scores.dtype)


def _classes_last(scores: Tensor, target: Tensor, op: str) -> tuple[Tensor, Any, tuple]:
    """Scores as (M, C) and targets as (M,), plus the shape the per-element losses take."""
    if scores.ndim == 1:  # one sample: (C,) and a scalar target
        if target.ndim != 0:
            raise ValueError(f"{op}: for input of shape {scores.shape} the target must be a scalar "
                             f"class index, got shape {target.shape}")
        return scores.reshape(1, -1), target.data.reshape(1), ()
    expected = (scores.shape[0],) + scores.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: input of shape {scores.shape} needs a target of shape {expected} "
                         f"(class indices) or {scores.shape} (class probabilities), got {target.shape}")
    if scores.ndim > 2:  # (N, C, d1, ...) -> (N * d1 * ..., C)
        axes = (0,) + tuple(range(2, scores.ndim)) + (1,)
        scores = scores.permute(axes).reshape(-1, scores.shape[1])
    return scores, target.data.reshape(-1), expected


def _class_index_loss(log_probs: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                      reduction: str, label_smoothing: float, op: str) -> Tensor:
    """-w[t] log p[t] per element (0 where t == ignore_index), optionally label-smoothed.

    Smoothing with e gives the target class 1 - e and spreads e evenly over all C classes:
    loss = (1 - e) (-w[t] log p[t]) + e/C sum_c (-w[c] log p[c]). The mean divides by the sum
    of the kept elements' w[t] (their count without weights), for both parts, as PyTorch does.
    """
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices (or, shaped like the input, "
                        f"class probabilities), got dtype {target.dtype} and shape {target.shape}")
    check_same_device(op, log_probs, target)
    scores, labels, loss_shape = _classes_last(log_probs, target, op)
    backend, (count, classes) = scores.backend, scores.shape
    xp = backend.xp
    kept = labels != ignore_index
    backend.check(~((labels < 0) | (labels >= classes))[kept].any(), IndexError,
                  f"{op}: target values must be in [0, {classes}) or equal ignore_index "
                  f"({ignore_index}); got values from {{}} to {{}}", labels.min(), labels.max())
    safe = xp.where(kept, labels, 0)
    class_weights = _class_weights(weight, scores, classes, op)
    # each element's weight: its target class's weight (1 without weights), 0 where ignored
    element_weights = kept.astype(scores.dtype) if class_weights is None else \
        xp.where(kept, class_weights[safe], 0)
    losses = -scores[xp.arange(count), safe] * Tensor._wrap(element_weights, backend)
    if label_smoothing:
        spread = scores if class_weights is None else scores * Tensor._wrap(class_weights, backend)
        spread = -spread.sum(axis=1) * Tensor._wrap(kept.astype(scores.dtype) / classes, backend)
        losses = losses * (1.0 - label_smoothing) + spread * label_smoothing
    losses = losses.reshape(loss_shape)
    if reduction != "mean":
        return _reduce(losses, reduction, op)
    # with every target ignored the mean is 0/0 = NaN, yet no element gets a gradient, as in
    # PyTorch (decided by where(), not by reading the count: no device-to-host copy)
    total_weight = Tensor._wrap(element_weights.sum(), backend)
    any_kept = Tensor._wrap(kept.any(), backend)
    return ops.where(any_kept, losses.sum() / ops.where(any_kept, total_weight, 1.0), float("nan"))


def _class_probability_loss(log_probs: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                            label_smoothing: float, class_axis: int) -> Tensor:
    """-sum_c w[c] y[c] log p[c] per element, for targets y that are class probabilities (shaped
    like the input; smoothing mixes them with the uniform 1/C). The mean is over elements."""
    if not is_floating(target.dtype):
        raise TypeError(f"cross_entropy: a target shaped like the input {log_probs.shape} holds class "
                        f"probabilities and must be floating point, got dtype {target.dtype}")
    check_same_device("cross_entropy", log_probs, target)
    classes = log_probs.shape[class_axis]
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    terms = log_probs * target
    class_weights = _class_weights(weight, log_probs, classes, "cross_entropy")
    if class_weights is not None:  # (C,) -> (C, 1, ..., 1), to line up with the class axis
        trailing = (1,) * (log_probs.ndim - class_axis - 1)
        terms = terms * Tensor._wrap(class_weights.reshape((classes,) + trailing), log_probs.backend)
    return _reduce(-terms.sum(axis=class_axis), reduction, "cross_entropy")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,  # noqa: A002
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood -weight[t] * input[t] of integer ``target`` classes given
    log-probabilities ``input``. ``weight`` (C,) rescales each class; ``reduction="mean"``
    divides by the summed weights of the targets that are not ``ignore_index``."""
    return _class_index_loss(input, target, weight, ignore_index, reduction, 0.0, "nll_loss")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,  # noqa: A002
                  ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of raw scores ``input`` against ``target``: integer classes, or
    (shaped like ``input``) class probabilities. ``weight`` (C,) rescales each class;
    ``label_smoothing`` in [0, 1] moves that much of the target's mass evenly onto all classes."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_axis = 0 if input.ndim == 1 else 1
    log_probs = log_softmax(input, axis=class_axis)
    if target.shape == input.shape:
        return _class_probability_loss(log_probs, target, weight, reduction, label_smoothing, class_axis)
    return _class_index_loss(log_probs, target, weight, ignore_index, reduction, label_smoothing,
                             "cross_entropy")


def mse_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error (input - target)^2."""
    _check_same_shape(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error |input - target| (its gradient at a tie is 0, as PyTorch's)."""
    _check_same_shape(input, target, "l1_loss")
    return _reduce(ops.abs(input - target), reduction, "l1_loss")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """-weight * (t log p + (1 - t) log(1 - p)) for probabilities p = ``input`` in [0, 1], each
    log clamped to >= -100 as in PyTorch (so p = 0 or 1 gives a finite loss). For raw scores
    use ``binary_cross_entropy_with_logits``, which is exact where sigmoid saturates."""
    _check_same_shape(input, target, "binary_cross_entropy")
    check_same_device("binary_cross_entropy", input, target)
    p = input.data
    input.backend.check(((p >= 0) & (p <= 1)).all(), RuntimeError,
                        "binary_cross_entropy: all elements of input should be between 0 and 1 "
                        "(probabilities); for raw scores use binary_cross_entropy_with_logits")
    losses = binary_cross_entropy_terms(input, target)
    if weight is not None:
        _check_broadcasts(weight, input.shape, "weight", "binary_cross_entropy")
        losses = losses * weight.detach()
    return _reduce(losses, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, *, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable formula. With p = sigmoid(x),
    -log p = softplus(-x) and -log(1 - p) = x + softplus(-x), so
    loss = -(pw t log p + (1 - t) log(1 - p)) = (1 - t) x + (1 + (pw - 1) t) softplus(-x),
    which never overflows. ``pos_weight`` (pw, broadcast along the last, class, axis)
    weighs the positive term; ``weight`` rescales each element."""
    op = "binary_cross_entropy_with_logits"
    _check_same_shape(input, target, op)
    positive_scale = 1.0
    if pos_weight is not None:
        _check_broadcasts(pos_weight, input.shape, "pos_weight", op)
        positive_scale = (pos_weight.detach() - 1.0) * target + 1.0
    losses = (1.0 - target) * input + positive_scale * ops.softplus(-input)
    if weight is not None:
        _check_broadcasts(weight, input.shape, "weight", op)
        losses = losses * weight.detach()
    return _reduce(losses, reduction, op)
