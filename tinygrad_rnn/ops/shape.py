"""Ops that move values around without changing them: reshape, transpose, indexing,
joining and splitting. Their backward moves the gradient back the same way.

Reshape, permute, expand, basic indexing, split and unbind give *views*: outputs that
share the input's memory. Their functions below mark the outputs as views of the input
(see ``inplace.py``), so in-place changes are seen through them, as in PyTorch."""
from __future__ import annotations

from typing import Any, Sequence

from ..core.autograd import Function, ShapeError
from ..core.tensor import Tensor
from .common import check_same_device, pick_axis, shape_arg, sum_to
from .convert import operands
from .inplace import as_views


class Reshape(Function):
    __slots__ = ('input_shape',)

    def forward(self, x, shape):
        self.input_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad):
        return grad.reshape(self.input_shape)


class Permute(Function):
    __slots__ = ('axes',)

    def forward(self, x, axes):
        self.axes = axes
        return x.transpose(axes)

    def backward(self, grad):
        # undo the permutation: axis axes[i] of the input became axis i of the output
        inverse = [0] * len(self.axes)
        for position, axis in enumerate(self.axes):
            inverse[axis] = position
        return self.xp.transpose(grad, inverse)


class Expand(Function):
    __slots__ = ('input_shape',)

    def forward(self, x, shape):
        self.input_shape = x.shape
        return self.xp.broadcast_to(x, shape)

    def backward(self, grad):
        # every copy made by broadcasting sends its gradient back to the original
        return sum_to(grad, self.input_shape)


class Getitem(Function):
    __slots__ = ('input_shape', 'index')

    def forward(self, x, index):
        self.input_shape, self.index = x.shape, index
        items = index if isinstance(index, tuple) else (index,)
        if _is_basic(index) and Ellipsis not in items:  # x[0] of a vector: a 0-d view, not a copy
            return x[items + (Ellipsis,)]
        return x[index]

    def backward(self, grad):
        # the gradient goes back to the positions that were read; repeated positions add up
        return scatter(grad, self.index, self.input_shape, self.backend)


class IndexAdd(Function):
    """Zeros of ``shape`` with ``values`` added at ``index`` (repeated positions add up): the
    backward of indexing and gathering, as a differentiable op for recorded backward passes."""

    __slots__ = ('index',)

    def forward(self, values, index, shape):
        self.index = index
        return scatter(values, index, shape, self.backend)

    def backward(self, grad):
        # each output position that received a value passes its gradient back to that value
        return grad[self.index]


def scatter(values: Any, index: Any, shape: tuple, backend: Any) -> Any:
    """Zeros of ``shape`` with ``values`` added at ``index``: an array, or for tensors (in a
    recorded backward) the ``IndexAdd`` op."""
    if isinstance(values, Tensor):
        return IndexAdd.apply(values, index=index, shape=shape)
    full = backend.xp.zeros(shape, dtype=values.dtype)
    if _is_basic(index):
        full[index] = values  # slices never repeat a position
    else:
        backend.scatter_add(full, index, values)
    return full


class Gather(Function):
    """PyTorch's gather: along ``axis``, ``out[..., j, ...] = x[..., index[..., j, ...], ...]``."""

    __slots__ = ('input_shape', 'positions')

    def forward(self, x, index, axis):
        self.input_shape = x.shape
        self.positions = _positions_along(self.xp, index, axis)
        return x[self.positions]

    def backward(self, grad):
        # each picked element receives its output's gradient; picked twice, it adds up
        return scatter(grad, self.positions, self.input_shape, self.backend)


def _positions_along(xp: Any, index: Any, axis: int) -> tuple:
    """The full index tuple that picks ``index`` along ``axis`` and keeps every other position."""
    positions = []
    for d, n in enumerate(index.shape):
        if d == axis:
            positions.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            positions.append(xp.arange(n).reshape(shape))
    return tuple(positions)


class Cat(Function):
    __slots__ = ('axis', 'sizes')

    def forward(self, *arrays, axis):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return self.xp.concatenate(arrays, axis=axis)

    def backward(self, grad):
        # each input gets back its own slab of the gradient
        bounds, total = [], 0
        for size in self.sizes[:-1]:
            total += size
            bounds.append(total)
        return tuple(self.xp.split(grad, bounds, axis=self.axis))


class Stack(Function):
    __slots__ = ('axis',)

    def forward(self, *arrays, axis):
        self.axis = axis
        return self.xp.stack(arrays, axis=axis)

    def backward(self, grad):
        # input k gets slice k of the gradient along the stacking axis
        return _slices(grad, self.axis)


class Split(Function):
    """Several outputs at once; backward assembles all their gradients in one pass."""

    __slots__ = ('axis', 'shapes')

    def forward(self, x, sizes, axis):
        lead, start, pieces = (slice(None),) * axis, 0, []
        for size in sizes:
            pieces.append(x[lead + (slice(start, start + size),)])
            start += size
        self.axis, self.shapes = axis, [piece.shape for piece in pieces]
        return tuple(pieces)

    def backward(self, *grads):
        # pieces nobody used got no gradient: they contribute zeros
        used = next(g for g in grads if g is not None)
        filled = [self.xp.zeros_like(used, shape=shape) if g is None else g for g, shape in zip(grads, self.shapes)]
        return self.xp.concatenate(filled, axis=self.axis)


class Unbind(Function):
    """Slices along an axis as separate tensors (e.g. the time steps of a sequence).

    One node for all T slices: its backward stacks the T gradients once, O(T), where
    T separate ``x[t]`` nodes would each build a full-size zero array, O(T^2) in all.
    """

    __slots__ = ('axis', 'piece_shape')

    def forward(self, x, axis):
        self.axis, self.piece_shape = axis, x.shape[:axis] + x.shape[axis + 1:]
        return _slices(x, axis)

    def backward(self, *grads):
        # steps nobody used got no gradient: they contribute zeros
        used = next(g for g in grads if g is not None)
        filled = [self.xp.zeros_like(used, shape=self.piece_shape) if g is None else g for g in grads]
        return self.xp.stack(filled, axis=self.axis)


def _slices(x: Any, axis: int) -> tuple:
    """The slices of ``x`` along ``axis``, as views (0-d ones too)."""
    lead = (slice(None),) * axis
    return tuple([x[lead + (k, Ellipsis)] for k in range(x.shape[axis])])


def _is_basic(index: Any) -> bool:
    """Whether ``index`` uses only ints, slices, None and Ellipsis (so no position repeats)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


def _normalize_index(index: Any, x: Tensor) -> Any:
    """Tensors and lists inside an index become arrays on ``x``'s device."""
    if isinstance(index, Tensor):
        check_same_device("getitem", x, index)
        return index.data
    if isinstance(index, list):
        return x.backend.asarray(index)
    if isinstance(index, tuple):
        return tuple(_normalize_index(i, x) for i in index)
    return index


def _axis(axis: int, ndim: int, op: str) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % ndim


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (one dimension may be -1); a view when NumPy can make one."""
    return as_views(x, Reshape, shape=shape_arg(shape))


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes: output axis i is input axis ``axes[i]``."""
    axes = tuple(_axis(a, x.ndim, "permute") for a in shape_arg(axes))
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"permute: {axes} is not a permutation of the {x.ndim} axes of a tensor "
                         f"of shape {x.shape}")
    return as_views(x, Permute, axes=axes)


def transpose(x: Tensor, axis0: int | None = None, axis1: int | None = None) -> Tensor:
    """Swap two axes (PyTorch's ``transpose(dim0, dim1)``); with none, reverse all (``.T``)."""
    if axis0 is None and axis1 is None:
        return as_views(x, Permute, axes=tuple(reversed(range(x.ndim))))
    if axis0 is None or axis1 is None:
        raise TypeError("transpose: give both axes to swap, or none to reverse all axes")
    axes = list(range(x.ndim))
    i, j = _axis(axis0, x.ndim, "transpose"), _axis(axis1, x.ndim, "transpose")
    axes[i], axes[j] = axes[j], axes[i]
    return as_views(x, Permute, axes=tuple(axes))


def t(x: Tensor) -> Tensor:
    """The transpose of a matrix; 0-d and 1-d tensors come back unchanged (PyTorch's ``t()``)."""
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dimensions, got shape {x.shape}; use "
                         "transpose(dim0, dim1) or permute for more")
    return transpose(x)


def expand(x: Tensor, *shape: Any) -> Tensor:
    """Broadcast ``x`` to ``shape`` without copying (-1 keeps a dimension)."""
    shape = shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: cannot expand shape {x.shape} to fewer dimensions {shape}")
    shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    return as_views(x, Expand, shape=shape)


def squeeze(x: Tensor, axis: Any = None, *, dim: Any = None) -> Tensor:
    """Drop size-1 axes (only ``axis`` when given; other sizes are left alone, as in PyTorch)."""
    axis = pick_axis(axis, dim)
    if axis is None:
        drop = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
        drop = {_axis(a, x.ndim, "squeeze") for a in axes if x.shape[a] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


def unsqueeze(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Insert a size-1 axis at position ``axis``."""
    axis = pick_axis(axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the axis (or dim) where the new axis goes")
    position = _axis(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:position] + (1,) + x.shape[position:])


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``: slices, ints, None, Ellipsis, integer arrays/tensors and bool masks."""
    return as_views(x, Getitem, index=_normalize_index(index, x))


def gather(x: Tensor, axis: int, index: Tensor) -> Tensor:
    """Pick along ``axis`` the positions ``index`` holds (int64, same number of dimensions as
    ``x``, no larger than ``x`` along the other axes): PyTorch's ``gather(input, dim, index)``."""
    check_same_device("gather", x, index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must hold integers, got dtype {index.dtype}")
    axis = _axis(axis, x.ndim, "gather")
    if index.ndim != x.ndim or any(i > n for d, (i, n) in enumerate(zip(index.shape, x.shape)) if d != axis):
        raise ShapeError(f"gather: index of shape {index.shape} does not fit input of shape {x.shape} "
                         f"along axis {axis}: it needs {x.ndim} dimensions, each other one no larger")
    return Gather.apply(x, index=index.data, axis=axis)


def cat(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (dtypes promoted as PyTorch does)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    axis = _axis(pick_axis(axis, dim, default=0), tensors[0].ndim, "cat")
    return Cat.apply(*operands(*tensors), axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    axis = _axis(pick_axis(axis, dim, default=0), tensors[0].ndim + 1, "stack")
    return Stack.apply(*operands(*tensors), axis=axis)


def split(x: Tensor, split_size_or_sections: int | Sequence[int], axis: int = 0, *,
          dim: int | None = None) -> tuple[Tensor, ...]:
    """PyTorch's split: pieces of ``split_size`` each (the last may be smaller), or of the
    listed sizes, which must add up to the axis length."""
    axis = _axis(pick_axis(axis, dim, default=0), x.ndim, "split")
    length = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != length:
            raise ShapeError(f"split: sizes {sizes} add up to {sum(sizes)}, but axis {axis} of "
                             f"shape {x.shape} has length {length}")
    return as_views(x, Split, sizes=sizes, axis=axis)


def chunk(x: Tensor, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
    """Split into ``chunks`` pieces of equal size (PyTorch's rule: ceil(length / chunks) each)."""
    if chunks <= 0:
        raise ValueError(f"chunk: the number of chunks must be positive, got {chunks}")
    axis = _axis(pick_axis(axis, dim, default=0), x.ndim, "chunk")
    return split(x, max(1, -(-x.shape[axis] // chunks)), axis)


def unbind(x: Tensor, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
    """All slices along ``axis`` as a tuple (``axis`` removed), sharing one graph node."""
    axis = _axis(pick_axis(axis, dim, default=0), x.ndim, "unbind")
    return as_views(x, Unbind, axis=axis)
