"""The ops behind in-place methods that do more than arithmetic: ``copy_``, ``fill_``, and
writing into a view of another tensor.

An in-place method computes its result out of place, writes the values into the tensor's
memory, and moves the tensor's history to the result (see ``Tensor._modify``). Overwriting
the values (copy, fill) gives the old values a zero gradient, as in PyTorch. When the
tensor is a view, its *base* gets a new history, ``CopySlices``: the base as it was,
except where the view looks, which now holds the result.
"""
from __future__ import annotations

from typing import Any, Callable

from ..core import grad_mode
from ..core.autograd import Function, ShapeError
from ..core.dtypes import can_cast
from ..core.tensor import Tensor
from .common import sum_to
from .convert import cast


class Copy(Function):
    """``dst.copy_(src)``: the values of ``src`` (broadcast, cast) replace those of ``dst``."""

    __slots__ = ('source_shape', 'source_dtype')

    def forward(self, dst, src):
        self.source_shape, self.source_dtype = src.shape, src.dtype
        return self.xp.broadcast_to(src, dst.shape).astype(dst.dtype)

    def backward(self, grad):
        # the old values no longer matter (gradient 0); each copied value gets its gradient
        return self.xp.zeros_like(grad), sum_to(grad, self.source_shape).astype(self.source_dtype)


class Fill(Function):
    """``x.fill_(value)``: every element becomes the constant ``value``."""

    __slots__ = ()

    def forward(self, x, value):
        return self.xp.full_like(x, value)

    def backward(self, grad):
        # a constant does not depend on the old values
        return self.xp.zeros_like(grad)


class CopySlices(Function):
    """The base of a view after the view was changed in place: ``base`` everywhere except
    the positions the view covers, which hold ``result``."""

    __slots__ = ('positions', 'outside')

    def forward(self, base, result, positions):
        # the values were already written through the view; remember where they went
        self.positions = positions
        self.outside = self.xp.ones(base.size, dtype=bool)
        self.outside[positions.reshape(-1)] = False
        self.outside = self.outside.reshape(base.shape)
        return base

    def backward(self, grad):
        # the base keeps the gradient outside the view; the view's new values get the inside
        return grad * self.outside, grad.reshape(-1)[self.positions]


def copy(dst: Tensor, src: Tensor) -> Tensor:
    return Copy.apply(dst, src)


def fill(x: Tensor, value: Any) -> Tensor:
    return Fill.apply(x, value=value)


def copy_slices(base: Tensor, result: Tensor, positions: Any) -> Tensor:
    return CopySlices.apply(base, result, positions=positions)


# ---- views ------------------------------------------------------------------------------
NO_GRAD_VIEW = "a view made under no_grad()"  # never takes a history from its base


class ViewInfo:
    """How a view was made from its base (the tensor that owns the memory).

    ``steps`` are the view ops to replay from the base, each ``(op class, parameters,
    output index or None)``; ``version`` is the base's version when the view last took its
    history from the base; ``restriction`` says why an in-place change of the view must not
    reach the base's history (one of several views made by split/unbind, or a view made
    under ``no_grad``), or is None.
    """

    __slots__ = ("steps", "version", "restriction")

    def __init__(self, steps: tuple, version: int, restriction: str | None) -> None:
        self.steps, self.version, self.restriction = steps, version, restriction


def as_views(x: Tensor, op: type, **params: Any) -> Any:
    """``op.apply(x, **params)``, with each output that shares ``x``'s memory marked as a view."""
    outputs = op.apply(x, **params)
    several = type(outputs) is tuple
    for index, out in enumerate(outputs if several else (outputs,)):
        if shares_memory(out.data, x.data):
            become_view(out, x, (op, params, index if several else None))
    return outputs


def shares_memory(view: Any, source: Any) -> bool:
    """Whether array ``view`` looks into ``source``'s memory (NumPy and CuPy chain ``.base``)."""
    return getattr(view, "base", None) is not None and _owner(view) is _owner(source)


def _owner(array: Any) -> Any:
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def become_view(view: Tensor, source: Tensor, step: tuple) -> None:
    """Record that ``view`` (just made from ``source`` by ``step``) looks into the base's memory:
    it shares the base's version counter, and remembers how to be made again from the base."""
    base = source if source._base is None else source._base
    parent = source._view
    restriction = parent.restriction if parent is not None else None
    if restriction is None and step[2] is not None:
        restriction = f"one of several views returned by {step[0].__name__.lower()}"
    if restriction is None and not grad_mode.is_grad_enabled():
        restriction = NO_GRAD_VIEW
    view._base, view._version = base, base._version
    view._view = ViewInfo((parent.steps if parent is not None else ()) + (step,), base._version[0],
                          restriction)


def replay_view(base: Any, steps: tuple, backend: Any = None) -> Any:
    """Make the view again from ``base``: a tensor (recorded ops) or, given the ``backend``,
    an array (the ops' forwards alone)."""
    for op, params, index in steps:
        if backend is None:
            base = op.apply(base, **params)
        else:
            fn = op()
            fn.backend, fn.xp, fn.needs_input_grad = backend, backend.xp, (False,)
            base = fn.forward(base, **params)
        if index is not None:
            base = base[index]
    return base


def sync_view(view: Tensor) -> None:
    """If the base changed since ``view`` took its history, take it again: a view of a tensor
    changed in place must see the change in backward too (PyTorch regenerates it the same way).
    One of several views (from split/unbind) cannot be regenerated: using it then is an error."""
    info, base = view._view, view._base
    if info.version == view._version[0] or info.restriction == NO_GRAD_VIEW or not base._requires_grad:
        return
    if info.restriction is not None:
        if grad_mode.is_grad_enabled():
            raise RuntimeError(f"this tensor is {info.restriction}, and its base was changed in place "
                               "after the views were made, so it cannot be used while recording (PyTorch "
                               "refuses it too); make the views again after the change, or clone() them first")
        return
    info.version = view._version[0]
    with grad_mode.enable_grad():
        fresh = replay_view(base, info.steps)
    view._grad_fn, view._out_index, view._requires_grad = fresh._grad_fn, fresh._out_index, True


# ---- changing a tensor in place ------------------------------------------------------------
def modify(tensor: Tensor, op: str, compute: Callable[[Tensor], Tensor], reads_values: bool = True) -> Tensor:
    """Run an in-place op: ``compute(tensor)`` out of place, write its values into
    ``tensor``'s memory, bump the version, and let ``tensor`` (or, for a view, its base)
    continue the result's history. Under ``no_grad`` only the values change.

    While recording, ``compute`` reads a copy of the old values (unless ``reads_values`` is
    False) carrying the tensor's history, so what the op saves for backward stays intact when
    the memory is overwritten (PyTorch saves the original ``self`` the same way).
    """
    recording = grad_mode.is_grad_enabled()
    base = tensor._base
    if base is not None:
        sync_view(tensor)
    if recording and base is None and tensor._grad_fn is None and tensor._requires_grad:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be modified in place while "
                           "recording; wrap the update in tinygrad_rnn.no_grad()")
    if recording and base is not None and base._grad_fn is None and base._requires_grad:
        raise RuntimeError(f"{op}: this tensor is a view of a leaf tensor that requires grad, so it "
                           "cannot be modified in place while recording; wrap the update in "
                           "tinygrad_rnn.no_grad(), or work on a clone()")
    if recording and reads_values:
        old = Tensor._wrap(tensor.data.copy(), tensor.backend, tensor._grad_fn, tensor._out_index)
        old._requires_grad = tensor._requires_grad
        result = compute(old)
    else:
        result = compute(tensor)
    if recording and base is not None and tensor._view.restriction and result._requires_grad:
        raise RuntimeError(f"{op}: this tensor is {tensor._view.restriction}; such a view cannot be "
                           "modified in place while recording (PyTorch refuses it too): clone() it "
                           "first, or change the base tensor instead")
    if result.shape != tensor.shape:
        raise ShapeError(f"{op}: the result has shape {result.shape}, but an in-place op writes into "
                         f"the tensor's own shape {tensor.shape} (broadcasting may not enlarge it)")
    if result.dtype != tensor.dtype:
        if not can_cast(result.dtype, tensor.dtype):
            raise TypeError(f"{op}: the result has dtype {result.dtype}, which cannot be written into a "
                            f"tensor of dtype {tensor.dtype} (never floating point into integers, nor "
                            "numbers into bool); use the out-of-place op, e.g. x = x + 1.5")
        result = cast(result, tensor.dtype)
    if any(stride == 0 and n > 1 for stride, n in zip(tensor.data.strides, tensor.data.shape)):
        raise RuntimeError(f"{op}: several elements of this tensor share one memory location (it was "
                           "made by expand or broadcasting); clone() it before writing into it")
    tensor.data[...] = result.data
    tensor._version[0] += 1
    if recording and result._requires_grad:
        if base is None:
            tensor._grad_fn, tensor._out_index, tensor._requires_grad = result._grad_fn, result._out_index, True
        else:
            _rebase(tensor, result)
    return tensor


def _rebase(view: Tensor, result: Tensor) -> None:
    """After ``view`` was changed in place, its base continues with a CopySlices node; the view
    takes its own history from that the next time it is used."""
    base = view._base
    backend = base.backend
    flat_index = backend.xp.arange(base.data.size).reshape(base.data.shape)
    positions = replay_view(flat_index, view._view.steps, backend)
    old = Tensor._wrap(base.data, backend, base._grad_fn, base._out_index)
    old._requires_grad = base._requires_grad
    new = copy_slices(old, result, positions)
    base._grad_fn, base._out_index, base._requires_grad = new._grad_fn, 0, True
    view._view.version = -1
