"""Stateless building blocks of networks, composed from primitive ops: PyTorch's
``torch.nn.functional`` (same names, signatures, defaults and results).

Activations, ``linear``, ``embedding``, ``dropout``, ``pad``, ``normalize`` and ``layer_norm``
live here; the losses live in ``functional_losses.py`` and are part of this namespace
(``F.cross_entropy``), as in PyTorch.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from .. import ops
from ..core.autograd import ShapeError
from ..core.factories import full, rand
from ..core.tensor import Tensor
from ..ops import erf, log_softmax, one_hot, softmax
from ..ops.common import check_same_device
from ..ops.inplace import modify
from .functional_losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                                l1_loss, mse_loss, nll_loss)

__all__ = ["relu", "tanh", "sigmoid", "leaky_relu", "gelu", "softplus", "softmax", "log_softmax",
           "linear", "embedding", "one_hot", "dropout", "pad", "normalize", "layer_norm",
           "nll_loss", "cross_entropy", "mse_loss", "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


# ---- activations ----------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(x, 0); with ``inplace`` it overwrites ``input`` (and returns it)."""
    return _maybe_inplace(input, inplace, "relu_", ops.relu)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise hyperbolic tangent."""
    return ops.tanh(input)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise 1 / (1 + e^-x)."""
    return ops.sigmoid(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """x where x > 0, else negative_slope * x (the slope at 0 is negative_slope, as PyTorch's)."""
    return _maybe_inplace(input, inplace, "leaky_relu_",
                          lambda x: ops.where(x > 0, x, x * negative_slope))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """x * Phi(x), Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt(2))). With
    ``approximate="tanh"``: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate == "none":
        return 0.5 * input * (1.0 + erf(input * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = (input + 0.044715 * input * input * input) * SQRT_2_OVER_PI
        return 0.5 * input * (1.0 + ops.tanh(inner))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + e^(beta x)) / beta, a smooth relu; where beta x > ``threshold`` it is x itself
    (the two agree there to float precision), as in PyTorch."""
    scaled = input * beta
    return ops.where(scaled > threshold, input, ops.softplus(scaled) / beta)


def _maybe_inplace(input: Tensor, inplace: bool, name: str,  # noqa: A002
                   compute: Callable[[Tensor], Tensor]) -> Tensor:
    """``compute(input)``, or with ``inplace`` its values written into ``input`` (PyTorch's ``relu_``)."""
    return modify(input, name, compute) if inplace else compute(input)


# ---- layers as functions -----------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """x @ weight^T + bias, with ``weight`` shaped (out_features, in_features)."""
    out = input @ weight.T
    return out if bias is None else out + bias


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ids ``input``
    (any shape): the result is ``input.shape + (embedding_dim,)``. Uses of ``padding_idx``
    return its row but pass it no gradient, so the padding vector stays as it is."""
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got dtype {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{weight.shape}")
    check_same_device("embedding", weight, input)
    rows = weight.shape[0]
    if input.numel():
        low, high = input.data.min(), input.data.max()
        input.backend.check((low >= 0) & (high < rows), IndexError,
                            f"embedding: ids must be in [0, {rows}), got values from {{}} to {{}}", low, high)
    looked_up = weight[input]
    if padding_idx is None:
        return looked_up
    padding_idx = padding_index(padding_idx, rows)
    is_padding = Tensor._wrap((input.data == padding_idx)[..., None], input.backend)
    return ops.where(is_padding, looked_up.detach(), looked_up)


def padding_index(padding_idx: int, num_embeddings: int) -> int:
    """``padding_idx`` in [0, num_embeddings) (a negative one counts from the end)."""
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"embedding: padding_idx must be in [-{num_embeddings}, {num_embeddings}) "
                         f"for {num_embeddings} embeddings, got {padding_idx}")
    return padding_idx % num_embeddings


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training only)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = rand(input.shape, dtype=input.dtype, device=input.device).data >= p
    return input * Tensor._wrap((keep / (1.0 - p)).astype(input.dtype), input.backend)


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) over the trailing ``normalized_shape`` dimensions (the
    variance without Bessel's correction), then * weight + bias, both shaped ``normalized_shape``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: normalized_shape={shape} needs an input of shape (*, "
                         f"{', '.join(map(str, shape))}), got {input.shape}")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    centred = input - input.mean(axis=axes, keepdims=True)
    variance = (centred * centred).mean(axis=axes, keepdims=True)
    out = centred / ops.sqrt(variance + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """``input / max(||input||_p, eps)`` along ``dim``: unit p-norm vectors (p > 0, or inf).

    The norm is computed as (max(sum |x|^p, eps^p))^(1/p), equal to max(||x||_p, eps), so an
    all-zero vector gets the finite gradient 1/eps, as in PyTorch, instead of 0/0.
    """
    if not -input.ndim <= dim < input.ndim:
        raise ShapeError(f"normalize: dim {dim} is out of range for a tensor with {input.ndim} "
                         f"dimensions")
    if not p > 0:
        raise ValueError(f"normalize: p must be positive (or inf), got {p}")
    size = ops.abs(input)
    if p == math.inf:
        norm = ops.maximum(size.amax(axis=dim, keepdims=True), eps)
    else:
        powered_sum = (size if p == 1 else size ** p).sum(axis=dim, keepdims=True)
        norm = ops.maximum(powered_sum, eps ** p) ** (1.0 / p)
    return input / norm


# ---- padding -----------------------------------------------------------------------------------
PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad (or, with negative sizes, crop) the last ``len(pad) // 2`` dimensions.

    ``pad`` lists (before, after) pairs starting from the LAST dimension, as in PyTorch:
    ``pad(x, (1, 2))`` adds 1 column before and 2 after; ``(1, 2, 3, 4)`` also adds 3 rows
    above and 4 below. ``mode`` fills the new positions with ``value`` (0 by default,
    "constant"), mirrored values without the edge ("reflect"), the edge value ("replicate")
    or values wrapped around from the other end ("circular").
    """
    pad = tuple(pad)
    pairs = len(pad) // 2
    if len(pad) % 2:
        raise ValueError(f"pad: the padding must be (before, after) pairs, got {len(pad)} numbers: {pad}")
    if mode not in PAD_MODES:
        raise NotImplementedError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    if pairs > input.ndim:
        raise ValueError(f"pad: {pairs} (before, after) pairs for a tensor of shape {input.shape}: "
                         f"at most one pair per dimension")
    if mode != "constant":
        _check_edge_padding(input, pad, mode, value)
    out = input
    for k in range(pairs):
        axis, before, after = input.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]
        if mode == "constant":
            out = _pad_constant(out, axis, before, after, 0 if value is None else value)
        else:
            out = _pad_from_edges(out, axis, before, after, mode)
    return out


def _pad_constant(x: Tensor, axis: int, before: int, after: int, value: float) -> Tensor:
    """Crop the negative sizes, then join blocks of ``value`` before and after along ``axis``."""
    length = x.shape[axis]
    if length + before + after < 0:
        raise ValueError(f"pad: padding ({before}, {after}) would leave a negative size along dimension "
                         f"{axis} of length {length}")
    if before < 0 or after < 0:
        kept = slice(max(-before, 0), length - max(-after, 0))
        x = x[(slice(None),) * axis + (kept,)]
    pieces = []
    for size in (before, after):
        shape = x.shape[:axis] + (max(size, 0),) + x.shape[axis + 1:]
        pieces.append(full(shape, value, dtype=x.dtype, device=x.device))
    return ops.cat([pieces[0], x, pieces[1]], axis)


def _pad_from_edges(x: Tensor, axis: int, before: int, after: int, mode: str) -> Tensor:
    """Read every position of the padded axis from the input: position j in -before ..
    length + after - 1 maps back inside [0, length) by reflecting or clamping; "circular"
    first crops the negative sizes, then wraps around what is left (PyTorch's order).
    The gradient of a position read twice (an edge, a mirror image) adds up."""
    length, xp = x.shape[axis], x.backend.xp
    if mode == "circular":
        start, stop = max(-before, 0), length - max(-after, 0)
        positions = start + xp.arange(-max(before, 0), stop - start + max(after, 0)) % (stop - start)
    else:
        positions = xp.arange(-before, length + after)
    if mode == "reflect":  # ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
        positions = xp.abs(positions)
        positions = xp.where(positions >= length, 2 * (length - 1) - positions, positions)
    elif mode == "replicate":
        positions = xp.clip(positions, 0, length - 1)
    return x[(slice(None),) * axis + (positions,)]


def _check_edge_padding(input: Tensor, pad: tuple, mode: str, value: float | None) -> None:  # noqa: A002
    """PyTorch's limits for the modes that read the input's edges."""
    pairs = len(pad) // 2
    if value not in (None, 0):
        raise ValueError(f"pad: mode {mode!r} takes no value (it fills from the input), got value={value}")
    if not 1 <= pairs <= 3 or input.ndim not in (pairs + 1, pairs + 2):
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dimensions of a tensor "
                                  f"with one or two more (batch, channel); got {pairs} pair(s) for "
                                  f"shape {input.shape}")
    for k in range(pairs):
        length, sizes = input.shape[input.ndim - 1 - k], pad[2 * k: 2 * k + 2]
        too_big = {"reflect": max(sizes) >= length, "circular": max(sizes) > length,
                   "replicate": length == 0}[mode]
        if too_big:
            raise ValueError(f"pad: mode {mode!r} cannot pad {sizes} a dimension of length {length} "
                             f"(reflect needs padding < length, circular padding <= length, replicate "
                             f"length > 0)")
