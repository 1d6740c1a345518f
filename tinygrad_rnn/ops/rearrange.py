"""New tensors made of one tensor's values in another order or count: flip, roll, repeat
(PyTorch's repeat tiles, like ``numpy.tile``) and index_select.

Unlike the views of ``shape.py`` each result owns its memory, as in PyTorch: changing it in
place never changes the input. Only ``repeat`` is an op of its own; the others are slices,
joins and indexing, whose backward already moves the gradient back where it came from.
"""
from __future__ import annotations

from typing import Any

from ..core.autograd import Function, ShapeError
from ..core.tensor import Tensor
from .common import check_same_device, shape_arg
from .convert import clone
from .shape import _axis, cat, getitem, reshape


class Repeat(Function):
    __slots__ = ('input_shape', 'repeats')

    def forward(self, x, repeats):
        self.input_shape, self.repeats = x.shape, repeats
        return self.xp.tile(x, repeats)

    def backward(self, grad):
        # each input element appears once in every tile: its gradient is the sum over the tiles.
        # Axis d of the output, of length r * n, splits into (r tiles, n elements); sum out the r's
        folded = [size for r, n in zip(self.repeats, self.input_shape) for size in (r, n)]
        return grad.reshape(folded).sum(axis=tuple(range(0, len(folded), 2)))


def _along(axis: int, index: Any) -> tuple:
    """The index tuple that applies ``index`` to axis ``axis`` and keeps the axes before it."""
    return (slice(None),) * axis + (index,)


def flip(x: Tensor, *dims: Any) -> Tensor:
    """Reverse the order of the elements along each of ``dims`` (``flip(0, 1)`` or ``flip((0, 1))``)."""
    axes = [_axis(d, x.ndim, "flip") for d in shape_arg(dims)]
    if len(set(axes)) < len(axes):
        raise ValueError(f"flip: dims {shape_arg(dims)} name a dimension more than once")
    reverse = tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(x.ndim))
    return clone(getitem(x, reverse))  # a reversed slice is a view: copy it, as PyTorch's flip does


def roll(x: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift the elements ``shifts`` places along ``dims``, those pushed off the end coming back
    at the start. Without ``dims`` the tensor is rolled as one flat vector, then reshaped."""
    shifts = shifts if isinstance(shifts, (tuple, list)) else (shifts,)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without dims, shifts must be one number, got {tuple(shifts)}")
        return reshape(roll(reshape(x, -1), shifts, 0), x.shape)
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts and dims must pair up, got {len(shifts)} shifts {tuple(shifts)} "
                         f"and {len(dims)} dims {tuple(dims)}")
    for shift, dim in zip(shifts, dims):
        axis = _axis(dim, x.ndim, "roll")
        n = x.shape[axis]
        cut = n - shift % n if n else 0
        # the last `shift` elements, then the others (a copy even when shift is 0)
        x = cat([getitem(x, _along(axis, slice(cut, None))), getitem(x, _along(axis, slice(0, cut)))], axis)
    return x


def repeat(x: Tensor, *repeats: Any) -> Tensor:
    """Tile ``x``: ``repeat(2, 3)`` of an (a, b) tensor is (2a, 3b), the whole tensor repeated
    twice down and three times across. Extra leading counts add new leading dimensions."""
    repeats = tuple(shape_arg(repeats))
    if len(repeats) < x.ndim:
        raise ShapeError(f"repeat: got {len(repeats)} repeat counts {repeats} for a tensor of shape {x.shape}; "
                         "give one per dimension (or more, for new leading dimensions)")
    if any(r < 0 for r in repeats):
        raise ValueError(f"repeat: repeat counts must not be negative, got {repeats}")
    lead = len(repeats) - x.ndim
    if lead:
        x = reshape(x, (1,) * lead + x.shape)
    return Repeat.apply(x, repeats=repeats)


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``x`` along ``dim`` at the positions ``index`` (a 0-d or 1-d integer tensor)
    lists, in its order; a position may repeat (its gradients add up)."""
    if not isinstance(index, Tensor) or index.dtype.kind not in "iu":
        raise TypeError(f"index_select: index must be a tensor of integers, got "
                        f"{f'dtype {index.dtype}' if isinstance(index, Tensor) else type(index).__name__}")
    check_same_device("index_select", x, index)
    if index.ndim > 1:
        raise ShapeError(f"index_select: index must be a vector (0-d or 1-d), got shape {index.shape}")
    axis = _axis(dim, x.ndim, "index_select")
    positions = index.data.reshape(-1)
    if positions.size:
        n = x.shape[axis]
        low, high = positions.min(), positions.max()
        x.backend.check((low >= 0) & (high < n), IndexError,
                        f"index_select: index values must lie in [0, {n}) for dim {axis} of shape {x.shape}, "
                        "got values from {} to {}", low, high)
    return getitem(x, _along(axis, Tensor._wrap(positions, index.backend)))
