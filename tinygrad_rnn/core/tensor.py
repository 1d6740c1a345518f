"""``Tensor``: an array on a device, plus what autograd needs to differentiate it.

A tensor holds its backend array in ``data``. Leaves are tensors you create; every
op on tensors that require grad returns a non-leaf whose ``grad_fn`` is the op's
node on the tape (see ``autograd.py``). ``backward()`` fills ``.grad`` on the leaves.
The methods here are thin sugar: the maths lives in ``ops/``. The file is longer than
the others because the class carries PyTorch's whole method surface (about 100 one-line
methods, grouped by kind), which users expect on the one class they use.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable

from ..backends import Backend, device_and_dtype, format_array, get_backend


class Tensor:
    """A multi-dimensional array with an optional gradient.

    ``Tensor(data, requires_grad=False, dtype=None, device=None, name=None)``: ``data``
    may be a scalar, a (nested) list, a NumPy/CuPy array or another tensor. Python
    floats become float32; arrays keep their dtype. ``device=None`` means the
    default device (``"cpu"`` unless changed by ``set_default_device``).
    """

    __slots__ = ("data", "grad", "_requires_grad", "_grad_fn", "backend", "name", "_out_index",
                 "_version", "_base", "_view", "_hooks", "__weakref__")
    __array_ufunc__ = None  # numpy_array * tensor: NumPy defers to Tensor.__rmul__ (a Tensor, in the graph)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: str | None = None, name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        backend = get_backend(device)
        self.data = backend.tensor_data(data, dtype)
        self.backend = backend
        self.grad: Tensor | None = None
        self._grad_fn = None
        self.name = name
        self._out_index = 0
        self._version = [0]  # shared with views and detached aliases; bumped by in-place ops
        self._base = None  # for a view: the tensor whose memory it looks into (see ViewInfo)
        self._view = None
        self._hooks = None  # a leaf's register_hook functions (see hooks.py)
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(data: Any, backend: Backend, grad_fn: Any = None, index: int = 0) -> "Tensor":
        """The fast constructor ops use: ``data`` is already the backend's array."""
        if not isinstance(data, backend.xp.ndarray):  # NumPy turns 0-d results into scalars
            data = backend.xp.asarray(data)
        t = Tensor.__new__(Tensor)
        t.data = data
        t.backend = backend
        t.grad = None
        t._grad_fn = grad_fn
        t._requires_grad = grad_fn is not None
        t.name = None
        t._out_index = index
        t._version = [0]
        t._base = t._view = t._hooks = None
        return t

    # ---- properties -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape as a tuple, or with ``dim`` (negative counts from the end) its length there."""
        if dim is None:
            return tuple(self.data.shape)
        if not -self.data.ndim <= dim < self.data.ndim:
            raise IndexError(f"size: dim {dim} is out of range for a tensor with {self.data.ndim} dimensions "
                             f"(expected {-self.data.ndim} to {self.data.ndim - 1})")
        return self.data.shape[dim]

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self.data.ndim

    def numel(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    def __iter__(self):
        """Iterate over the first axis (``h, c = state`` style unpacking), as one unbind node."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(ops.unbind(self, 0))

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def is_leaf(self) -> bool:
        """Created by the user (or with no grad history) rather than by a recorded op."""
        return self.grad_fn is None

    def _edge(self) -> tuple | None:
        """Where a gradient for this tensor must go: ``(the node that made it, output index)``,
        ``(self, 0)`` for a leaf that requires grad, or None (no gradient wanted)."""
        if self._base is not None:
            self._sync_view()  # a view whose base was changed in place takes the base's new history
        if self._grad_fn is not None:
            return self._grad_fn, self._out_index
        return (self, 0) if self._requires_grad else None

    @property
    def grad_fn(self) -> Any:
        """The recorded op that made this tensor (``None`` for leaves)."""
        if self._base is not None:
            self._sync_view()
        return self._grad_fn

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to (or through) this tensor."""
        if self._base is not None:
            self._sync_view()
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    @property
    def T(self) -> "Tensor":
        return ops.transpose(self)

    # ---- autograd ---------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Mark a leaf as wanting ``.grad``; only floating-point tensors can."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: can only change requires_grad of leaf tensors; "
                               "use detach() to get a leaf from a computed tensor")
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype "
                            f"{self.data.dtype}; convert first, e.g. tensor.float()")
        self._requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is the gradient of some final scalar with respect to ``self``; it may
        be omitted only when ``self`` has one element. Unless ``retain_graph`` (default:
        ``create_graph``) the graph's saved values are freed, so a second backward through
        it raises. With ``create_graph`` the gradients are recorded too, and ``.grad`` can be
        differentiated again. ``inputs`` limits the accumulation to those tensors.
        """
        grads = initial_grads("backward", [self], [gradient], create_graph)
        retain_graph = create_graph if retain_graph is None else retain_graph
        if inputs is None:
            run_backward([self], grads, retain_graph, create_graph)
            return
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        found = run_backward([self], grads, retain_graph, create_graph, inputs)
        for t in inputs:
            if id(t) in found:
                accumulate_grad(t, found[id(t)], create_graph)

    def retain_grad(self) -> "Tensor":
        """Also keep ``.grad`` on this non-leaf tensor after backward (leaves always get it)."""
        if self.grad_fn is None or self.retains_grad:
            return self
        fn = self.grad_fn
        fn.retained = (fn.retained or ()) + ((self._out_index, weakref.ref(self)),)
        return self

    def register_hook(self, hook: Callable[["Tensor"], "Tensor | None"]) -> Any:
        """Call ``hook(grad)`` whenever backward computes this tensor's gradient; if it returns
        a tensor, that is used instead (for ``.grad`` and for what flows on). Returns a handle
        whose ``remove()`` unregisters it."""
        return hooks.register(self, hook)

    @property
    def retains_grad(self) -> bool:
        fn = self.grad_fn
        return fn is not None and fn.retained is not None and any(r() is self for _, r in fn.retained)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    def detach(self) -> "Tensor":
        """The same data (shared, not copied) cut from the graph: a leaf without grad."""
        t = Tensor._wrap(self.data, self.backend)
        t._version = self._version
        return t

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph in place: it becomes a leaf without grad."""
        if self._base is not None:
            raise RuntimeError("detach_: cannot detach a view in place; use detach(), which returns "
                               "a new tensor")
        self._grad_fn = None
        self._requires_grad = False
        return self

    # ---- conversion -------------------------------------------------------------
    def numpy(self) -> Any:
        """The values as a NumPy array.

        On the CPU this shares memory with the tensor; from a GPU it is a copy. For a
        tensor that requires grad the array is read-only, so it cannot silently corrupt
        values saved for backward (call ``detach().numpy()`` for a writable view).
        """
        array = self.backend.to_numpy(self.data)
        if self.requires_grad and array is self.data:
            array = array.view()
            array.flags.writeable = False
        return array

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        """``numpy.asarray(tensor)`` gives the values (NumPy calls this, not ``__iter__``)."""
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python "
                             f"number, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.backend.to_numpy(self.data).tolist()

    def to(self, device: Any = None, dtype: Any = None) -> "Tensor":
        """A copy on ``device`` and/or with ``dtype`` (self when nothing changes); differentiable.

        ``t.to("cuda")``, ``t.to(tinygrad_rnn.float64)``, ``t.to("cpu", float32)``.
        """
        device, dtype = device_and_dtype(device, dtype)
        result = self
        if dtype is not None:
            result = ops.cast(result, dtype)
        if device is not None:
            result = ops.to_device(result, device)
        return result

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Tensor":
        return self.to(f"cuda:{index}")

    def float(self) -> "Tensor":
        return ops.cast(self, "float32")

    def double(self) -> "Tensor":
        return ops.cast(self, "float64")

    def long(self) -> "Tensor":
        return ops.cast(self, "int64")

    def int(self) -> "Tensor":
        """A cast to int32 (PyTorch's method; Python's ``int(t)`` still gives a number)."""
        return ops.cast(self, "int32")

    def bool(self) -> "Tensor":
        """A cast to bool (PyTorch's method; Python's ``bool(t)`` still gives a truth value)."""
        return ops.cast(self, "bool")

    def astype(self, dtype: Any) -> "Tensor":
        return ops.cast(self, dtype)

    def clone(self) -> "Tensor":
        """A copy with its own memory that stays in the graph (gradient flows through)."""
        return ops.clone(self)

    def contiguous(self) -> "Tensor":
        """Self if its values lie in memory row after row, else such a copy (in the graph)."""
        return ops.contiguous(self)

    # ---- arithmetic sugar (the ops are in ops/) -----------------------------------
    def __add__(self, other: Any) -> "Tensor": return ops.add(self, other)
    def __radd__(self, other: Any) -> "Tensor": return ops.add(other, self)
    def __sub__(self, other: Any) -> "Tensor": return ops.sub(self, other)
    def __rsub__(self, other: Any) -> "Tensor": return ops.sub(other, self)
    def __mul__(self, other: Any) -> "Tensor": return ops.mul(self, other)
    def __rmul__(self, other: Any) -> "Tensor": return ops.mul(other, self)
    def __truediv__(self, other: Any) -> "Tensor": return ops.div(self, other)
    def __rtruediv__(self, other: Any) -> "Tensor": return ops.div(other, self)
    def __pow__(self, other: Any) -> "Tensor": return ops.pow(self, other)
    def __rpow__(self, other: Any) -> "Tensor": return ops.pow(other, self)
    def __matmul__(self, other: Any) -> "Tensor": return ops.matmul(self, other)
    def __rmatmul__(self, other: Any) -> "Tensor": return ops.matmul(other, self)
    def __neg__(self) -> "Tensor": return ops.neg(self)
    def __pos__(self) -> "Tensor": return self
    def __abs__(self) -> "Tensor": return ops.abs(self)
    def __getitem__(self, index: Any) -> "Tensor": return ops.getitem(self, index)

    # comparisons give bool tensors outside the graph
    def __lt__(self, other: Any) -> "Tensor": return ops.compare(self, other, "less")
    def __le__(self, other: Any) -> "Tensor": return ops.compare(self, other, "less_equal")
    def __gt__(self, other: Any) -> "Tensor": return ops.compare(self, other, "greater")
    def __ge__(self, other: Any) -> "Tensor": return ops.compare(self, other, "greater_equal")
    def __eq__(self, other: Any) -> "Tensor": return ops.compare(self, other, "equal")  # type: ignore[override]
    def __ne__(self, other: Any) -> "Tensor": return ops.compare(self, other, "not_equal")  # type: ignore[override]
    __hash__ = object.__hash__  # tensors are hashed by identity, as in PyTorch

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} elements is "
                               "ambiguous; use .any() or .all()")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    # ---- elementwise maths ---------------------------------------------------------
    def add(self, other: Any) -> "Tensor": return ops.add(self, other)
    def sub(self, other: Any) -> "Tensor": return ops.sub(self, other)
    def mul(self, other: Any) -> "Tensor": return ops.mul(self, other)
    def div(self, other: Any) -> "Tensor": return ops.div(self, other)
    def pow(self, exponent: Any) -> "Tensor": return ops.pow(self, exponent)
    def neg(self) -> "Tensor": return ops.neg(self)
    def matmul(self, other: Any) -> "Tensor": return ops.matmul(self, other)
    def mm(self, other: "Tensor") -> "Tensor": return ops.mm(self, other)
    def bmm(self, other: "Tensor") -> "Tensor": return ops.bmm(self, other)
    def dot(self, other: "Tensor") -> "Tensor": return ops.dot(self, other)
    def exp(self) -> "Tensor": return ops.exp(self)
    def log(self) -> "Tensor": return ops.log(self)
    def log1p(self) -> "Tensor": return ops.log1p(self)
    def sqrt(self) -> "Tensor": return ops.sqrt(self)
    def sin(self) -> "Tensor": return ops.sin(self)
    def cos(self) -> "Tensor": return ops.cos(self)
    def tanh(self) -> "Tensor": return ops.tanh(self)
    def sigmoid(self) -> "Tensor": return ops.sigmoid(self)
    def relu(self) -> "Tensor": return ops.relu(self)
    def softplus(self) -> "Tensor": return ops.softplus(self)
    def abs(self) -> "Tensor": return ops.abs(self)
    def sign(self) -> "Tensor": return ops.sign(self)

    def clip(self, min: Any = None, max: Any = None) -> "Tensor":
        return ops.clip(self, min, max)

    clamp = clip

    def maximum(self, other: Any) -> "Tensor": return ops.maximum(self, other)
    def minimum(self, other: Any) -> "Tensor": return ops.minimum(self, other)

    def masked_fill(self, mask: "Tensor", value: Any) -> "Tensor":
        """``value`` where ``mask`` is True, self elsewhere (out of place)."""
        return ops.masked_fill(self, mask, value)

    # ---- reductions -------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> "Tensor":
        return ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
             keepdim: bool | None = None) -> "Tensor":
        return ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def max(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> Any:
        """The largest value; with ``dim``, the named tuple ``(values, indices)`` along it; given
        another tensor instead, the elementwise ``maximum``."""
        return ops.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> Any:
        """The smallest value; with ``dim``, the named tuple ``(values, indices)`` along it; given
        another tensor instead, the elementwise ``minimum``."""
        return ops.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def amax(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
             keepdim: bool | None = None) -> "Tensor":
        return ops.amax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def amin(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
             keepdim: bool | None = None) -> "Tensor":
        return ops.amin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> "Tensor":
        return ops.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> "Tensor":
        return ops.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> "Tensor":
        """Variance over ``dim``: ``var(dim, *, correction=1, keepdim=False)`` or ``var(dim, unbiased)``."""
        return ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> "Tensor":
        """Standard deviation over ``dim`` (the arguments of ``var``)."""
        return ops.std(self, dim, unbiased, keepdim, correction=correction)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        """The p-norm over ``dim`` (all elements when None): "fro"/2, 1, inf, -inf, 0 or any number."""
        return ops.norm(self, p, dim, keepdim, dtype)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> "Tensor":
        return ops.logsumexp(self, dim, keepdim)

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> "Tensor":
        return ops.softmax(self, axis, dim=dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> "Tensor":
        return ops.log_softmax(self, axis, dim=dim)

    # ---- shape ------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor": return ops.reshape(self, *shape)

    view = reshape

    def flatten(self) -> "Tensor": return ops.reshape(self, -1)

    def transpose(self, *axes: Any) -> "Tensor": return ops.transpose(self, *axes)
    def permute(self, *axes: Any) -> "Tensor": return ops.permute(self, *axes)
    def expand(self, *shape: Any) -> "Tensor": return ops.expand(self, *shape)
    def broadcast_to(self, *shape: Any) -> "Tensor": return ops.expand(self, *shape)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        return ops.squeeze(self, axis, dim=dim)

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> "Tensor":
        return ops.unsqueeze(self, axis, dim=dim)

    def split(self, split_size_or_sections: Any, axis: int = 0, *, dim: int | None = None) -> tuple:
        return ops.split(self, split_size_or_sections, axis, dim=dim)

    def chunk(self, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple:
        return ops.chunk(self, chunks, axis, dim=dim)

    def unbind(self, axis: int = 0, *, dim: int | None = None) -> tuple:
        return ops.unbind(self, axis, dim=dim)

    def t(self) -> "Tensor": return ops.t(self)
    def flip(self, *dims: Any) -> "Tensor": return ops.flip(self, *dims)
    def roll(self, shifts: Any, dims: Any = None) -> "Tensor": return ops.roll(self, shifts, dims)
    def repeat(self, *repeats: Any) -> "Tensor": return ops.repeat(self, *repeats)

    def gather(self, dim: int, index: "Tensor") -> "Tensor":
        return ops.gather(self, dim, index)

    def index_select(self, dim: int, index: "Tensor") -> "Tensor":
        return ops.index_select(self, dim, index)

    # ---- in place: computed out of place, written back, version bumped (see ops/inplace.py) ----
    def _sync_view(self) -> None:
        inplace.sync_view(self)

    def add_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        return inplace.modify(self, "add_", lambda t: ops.add(t, other if alpha == 1 else other * alpha))

    def sub_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        return inplace.modify(self, "sub_", lambda t: ops.sub(t, other if alpha == 1 else other * alpha))

    def mul_(self, other: Any) -> "Tensor": return inplace.modify(self, "mul_", lambda t: ops.mul(t, other))
    def div_(self, other: Any) -> "Tensor": return inplace.modify(self, "div_", lambda t: ops.div(t, other))

    def clamp_(self, min: Any = None, max: Any = None) -> "Tensor":
        return inplace.modify(self, "clamp_", lambda t: ops.clip(t, min, max))

    def fill_(self, value: Any) -> "Tensor":
        """Set every element to ``value`` (a number, or a 0-d tensor whose gradient then flows)."""
        if isinstance(value, Tensor):
            if value.ndim:
                raise ValueError(f"fill_: the value must be a number or a 0-d tensor, got shape {value.shape}")
            return self.copy_(value)
        return inplace.modify(self, "fill_", lambda t: inplace.fill(t, value), reads_values=False)

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def copy_(self, source: Any) -> "Tensor":
        """Overwrite the values with ``source`` (broadcast, cast); gradient flows to ``source``."""
        if not isinstance(source, Tensor):
            source = Tensor(source, dtype=self.dtype, device=self.device)
        source = ops.to_device(source, self.device)
        return inplace.modify(self, "copy_", lambda t: inplace.copy(t, source), reads_values=False)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``: copy into the view ``x[index]`` (slices and ints; not index arrays)."""
        view = ops.getitem(self, index)
        if view._base is None:
            raise TypeError("__setitem__: assignment through integer-array or mask indices is not "
                            "supported; use slices, or build the tensor with where()")
        view.copy_(value)

    def __iadd__(self, other: Any) -> "Tensor": return self.add_(other)
    def __isub__(self, other: Any) -> "Tensor": return self.sub_(other)
    def __imul__(self, other: Any) -> "Tensor": return self.mul_(other)
    def __itruediv__(self, other: Any) -> "Tensor": return self.div_(other)

    # ---- printing -----------------------------------------------------------------------
    def __repr__(self) -> str:
        body = format_array(self.backend.to_numpy(self.data), prefix="tensor(")
        extras = []
        if self.data.dtype.name not in ("float32", "int64", "bool"):
            extras.append(f"dtype={self.data.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


# imported last: the ops and the tape build Tensors, so Tensor must exist first
from .. import ops  # noqa: E402
from .autograd import accumulate_grad, run_backward  # noqa: E402
from . import hooks  # noqa: E402
from .grad import initial_grads  # noqa: E402
from ..ops import inplace  # noqa: E402
