"""The tape: ``Function`` (one recorded op) and the reverse-mode walk over it.

Every differentiable op is a ``Function`` subclass with a ``forward`` over backend
arrays and, right beside it, a ``backward`` that turns the gradient of the output
into gradients of the inputs. ``Function.apply`` runs the forward and, when any
input requires grad, records a node: the output tensor's ``grad_fn``.

A node remembers its *parents* (edges to the nodes that made its inputs, or the
leaf tensors themselves) and what it saved for backward, never its input tensors,
so a graph holds no more memory than backward needs. ``backward`` orders the nodes
depth-first with an explicit stack (no recursion: BPTT graphs have 10^5+ nodes), hands
each node the sum of the gradients of its outputs, and frees what each node saved once
it has been used. The graph's structure stays while its output lives (it can be drawn).
"""
from __future__ import annotations

import contextlib
import gc
import re
from typing import Any, Iterator

from . import grad_mode
from .tensor import Tensor


class ShapeError(ValueError):
    """An op was given shapes it cannot combine; the message names the op and the shapes."""


class _Freed:
    """Stands in for ``saved`` after backward has released a node's buffers."""

    def __repr__(self) -> str:
        return "<freed by backward; pass retain_graph=True to keep it>"


FREED = _Freed()


def op_name(fn_class: type) -> str:
    """``LogSoftmax`` -> ``log_softmax``: the name an op goes by in messages and graphs."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", fn_class.__name__).lower()


class Function:
    """One differentiable op and, once applied, the graph node it records.

    Subclass it and write ``forward(self, *arrays, **params)`` returning an array
    (or a tuple of arrays) and ``backward(self, *grads)`` returning one gradient per
    input (``None`` for inputs that need none). ``self.xp`` is the array module of
    the inputs' device; ``self.save_for_backward`` keeps what backward needs;
    ``self.needs_input_grad[i]`` tells whether input ``i`` wants a gradient.

    >>> class Square(Function):
    ...     def forward(self, x):
    ...         self.save_for_backward(x)
    ...         return x * x
    ...     def backward(self, grad):
    ...         (x,) = self.saved
    ...         return 2 * x * grad          # d x^2/dx = 2x
    >>> y = Square.apply(x)
    """

    __slots__ = ("backend", "xp", "parents", "saved", "needs_input_grad", "num_outputs",
                 "versions", "scope", "tag", "output_shapes", "output_dtype", "__weakref__", "__dict__")

    returns_view = False  # True for ops whose outputs are views of their first input
    retained = None  # ((output index, weakref to tensor), ...) for tensors that called retain_grad()

    # ---- what subclasses write --------------------------------------------
    def forward(self, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")  # abstract

    def backward(self, *grads: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define backward()")  # abstract

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` until backward has used them (read back as ``self.saved``)."""
        self.saved = arrays

    # ---- recording -----------------------------------------------------------
    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Any:
        """Run the op on tensors; record it when grad mode is on and an input requires grad."""
        backend = inputs[0].backend
        arrays, needs = [], []
        for t in inputs:
            if t.backend is not backend:
                raise _device_mismatch(cls, inputs)
            if t._base is not None:
                t._sync_view()  # a view whose base was changed in place takes the base's new history
            arrays.append(t.data)
            needs.append(t._requires_grad)
        fn = cls()
        fn.backend = backend
        fn.xp = backend.xp
        fn.saved = None
        fn.needs_input_grad = needs = tuple(needs)
        try:
            result = fn.forward(*arrays, **params)
        except ShapeError:
            raise
        except (ValueError, IndexError) as error:
            shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
            raise ShapeError(f"{op_name(cls)}: cannot apply to shapes {shapes}: {error}") from None
        backend = fn.backend  # usually unchanged; a device transfer's forward sets its target
        results = result if type(result) is tuple else (result,)
        if not all(isinstance(r, backend.xp.ndarray) for r in results):
            results = _as_arrays(fn, results)
        if grad_mode._mode.anomaly:
            fn.creation_stack = grad_mode.creation_site()
            _check_finite(fn, "forward", results, arrays)
        record = True in needs and grad_mode._mode.enabled
        if record:
            # each edge says where an input's gradient goes: the node that made it, or the leaf itself
            fn.parents = tuple([(t._grad_fn, t._out_index) if t._grad_fn is not None else
                                ((t, 0) if t._requires_grad else None) for t in inputs])
            fn.tag = None  # a name for the output value in pictures (see grad_mode.tag)
            fn.scope = grad_mode._mode.scope  # labels for the graph pictures (see grad_mode.scope)
            fn.num_outputs = len(results)
            fn.output_shapes = tuple([r.shape for r in results])
            fn.output_dtype = results[0].dtype
        outputs = tuple([Tensor._wrap(r, backend, fn if record else None, i) for i, r in enumerate(results)])
        if cls.returns_view:  # outputs that share the input's memory are views of it
            for index, out in enumerate(outputs):
                if shares_memory(out.data, inputs[0].data):
                    out._become_view_of(inputs[0], (cls, params, index if type(result) is tuple else None))
        if record:
            # remember the versions of the tensors whose arrays were saved, to catch in-place edits
            saved = {id(array) for array in fn.saved or () if array is not None}
            fn.versions = tuple([(t._version, t._version[0]) for t in inputs + outputs if id(t.data) in saved])
        return outputs if type(result) is tuple else outputs[0]

    # ---- for people walking the graph by hand -----------------------------
    @property
    def name(self) -> str:
        return op_name(type(self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _as_arrays(fn: Function, results: tuple) -> tuple:
    """NumPy returns 0-d results as scalars (immutable, no version to track): make them 0-d
    arrays, also where forward saved the very same object for backward."""
    arrays = tuple([fn.xp.asarray(r) for r in results])
    if fn.saved:
        swap = {id(r): a for r, a in zip(results, arrays)}
        fn.saved = tuple([swap.get(id(s), s) for s in fn.saved])
    return arrays


class DeferredProducts:
    """The gradient of a weight as a pending sum of products ``a_k^T @ g_k``.

    A recurrent weight is used once per time step, so its gradient is a sum over steps of
    small products h_{t-1}^T dL/dz_t. Collecting the factors and multiplying them out once,
    as one (H, T*N) @ (T*N, G) product when the weight's gradient is finally needed, is the
    same sum computed as one large, efficient matmul (what a hand-written BPTT does).
    """

    __slots__ = ("lefts", "rights")

    def __init__(self, left: Any, right: Any) -> None:
        self.lefts, self.rights = [left], [right]

    def add(self, other: "DeferredProducts") -> None:
        self.lefts += other.lefts
        self.rights += other.rights

    def value(self, xp: Any) -> Any:
        if len(self.lefts) == 1:
            return self.lefts[0].T @ self.rights[0]
        return xp.concatenate(self.lefts).T @ xp.concatenate(self.rights)


def _check_finite(node: Function, phase: str, results: tuple, inputs: list) -> None:
    """Anomaly mode: raise if ``results`` hold NaN/Inf although every input was finite."""
    xp = node.xp
    results = [r.value(xp) if type(r) is DeferredProducts else r for r in results]
    finite = lambda a: a is None or a.dtype.kind not in "fc" or bool(xp.isfinite(a).all())  # noqa: E731
    if all(finite(r) for r in results) or not all(finite(a) for a in inputs):
        return
    where = "".join(getattr(node, "creation_stack", None) or ["  (created outside anomaly mode)\n"])
    raise RuntimeError(f"{node.name}: {phase} produced NaN or Inf from finite inputs. The op was "
                       f"created here:\n{where}")


def _device_mismatch(cls: type | str, inputs: tuple) -> RuntimeError:
    devices = " and ".join(dict.fromkeys(t.device for t in inputs))
    name = cls if isinstance(cls, str) else op_name(cls)
    return RuntimeError(f"{name}: expected all tensors on the same device, got {devices}; "
                        f"move them first, e.g. tensor.to({inputs[0].device!r})")


def check_same_device(op: str, *tensors: Tensor) -> None:
    """For ops that take non-differentiable tensors (targets, ids, indices) beside their inputs."""
    if any(t.backend is not tensors[0].backend for t in tensors):
        raise _device_mismatch(op, tensors)


def shares_memory(view: Any, source: Any) -> bool:
    """Whether array ``view`` looks into ``source``'s memory (NumPy and CuPy chain ``.base``)."""
    return getattr(view, "base", None) is not None and _owner(view) is _owner(source)


def _owner(array: Any) -> Any:
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def backward_order(root: Function) -> list[Function]:
    """The nodes reachable from ``root`` in the order ``backward`` visits them: each node
    before the nodes that made its inputs, so it hands on a complete gradient.

    A depth-first walk with an explicit stack (no recursion: BPTT graphs reach 10^5 nodes)
    appends a node once all its parents are done; reversed, that is the order we need.
    """
    order, seen = [], {root}
    stack = [(root, iter(root.parents))]
    while stack:
        node, edges = stack[-1]
        for edge in edges:
            if edge is not None and isinstance(edge[0], Function) and edge[0] not in seen:
                seen.add(edge[0])
                stack.append((edge[0], iter(edge[0].parents)))
                break
        else:  # every parent is in the order already
            stack.pop()
            order.append(node)
    order.reverse()
    return order


class BackwardObserver:
    """Something that watches backward passes (the graph pictures do): subclass it and
    register an instance with ``add_backward_observer``.

    ``begin(root)`` is called when a backward pass starts from tensor ``root``; then
    ``visit(node, output_grads, input_grads)`` for each node in the order backward runs
    them, with the summed gradients of its outputs and the gradients it hands to its
    parents (``None`` where none flows); ``end()`` when the pass is over (also after an error).
    """

    def begin(self, root: Tensor) -> None:
        """A backward pass starts at ``root``."""

    def visit(self, node: Function, output_grads: tuple, input_grads: tuple) -> None:
        """``node`` ran its backward."""

    def end(self) -> None:
        """The backward pass is over."""


_observers: list[BackwardObserver] = []


def add_backward_observer(observer: BackwardObserver) -> None:
    """Have ``observer`` see every later backward pass (see ``BackwardObserver``)."""
    _observers.append(observer)


def remove_backward_observer(observer: BackwardObserver) -> None:
    _observers.remove(observer)


def run_backward(root: Tensor, grad: Any, retain_graph: bool, accumulate: bool = True) -> None:
    """Propagate ``grad`` (an array shaped like ``root``) from ``root`` to every leaf.

    Leaves that require grad get it added to their ``.grad`` (not with ``accumulate=False``:
    then only the observers see the gradients). Unless ``retain_graph``, each node's saved
    values are freed once used; the graph's structure stays, so it can still be drawn.
    """
    observers = tuple(_observers)
    for observer in observers:
        observer.begin(root)
    stored = {id(grad)}  # ids of arrays the caller or an earlier .grad owns: copy before storing
    try:
        if root.grad_fn is None:  # a leaf: its gradient is just grad
            if accumulate:
                _accumulate_into(root, grad, stored)
            return
        with cycle_collector_paused():
            _walk_backward(root, grad, retain_graph, accumulate, observers, stored)
    finally:
        for observer in observers:
            observer.end()


def _walk_backward(root: Tensor, grad: Any, retain_graph: bool, accumulate: bool, observers: tuple,
                   stored: set) -> None:
    pending: dict[Function, list] = {}  # node -> the gradients of its outputs summed so far
    _add_to_slot(pending, root.grad_fn, root._out_index, grad)
    for node in backward_order(root.grad_fn):
        slots = pending.pop(node, None)
        if slots is None:  # no gradient reached it (every consumer's gradient was None)
            continue
        slots = [g.value(node.xp) if type(g) is DeferredProducts else g for g in slots]
        if node.saved is FREED:
            raise RuntimeError(
                f"{node.name}: trying to backward through the graph a second time, but its saved "
                "values were freed by the first backward; pass retain_graph=True to the first "
                "backward() if you need to backward twice")
        for cell, version in node.versions:
            if cell[0] != version:
                raise RuntimeError(
                    f"{node.name}: a tensor saved for backward was modified in place after it was "
                    f"saved (version {version}, now {cell[0]}); use an out-of-place op "
                    "(a = a + b instead of a.add_(b)) or clone() it before modifying")
        if accumulate and node.retained is not None:
            for index, ref in node.retained:
                tensor = ref()
                if tensor is not None and slots[index] is not None:
                    _accumulate_into(tensor, slots[index], stored)
        grads = node.backward(*slots)
        grads = list(grads) if type(grads) is tuple else [grads]
        ndarray = node.xp.ndarray
        for k, edge in enumerate(node.parents):
            g = grads[k]
            if g is None or isinstance(g, ndarray):
                continue
            if type(g) is not DeferredProducts:  # NumPy gives 0-d results as scalars: hand on arrays
                grads[k] = node.xp.asarray(g)
            elif edge is not None and not isinstance(edge[0], Function):  # a leaf takes an array now
                grads[k] = g.value(node.xp)
        if grad_mode._mode.anomaly:
            _check_finite(node, "backward", grads, [g for g in slots if g is not None])
        for observer in observers:
            observer.visit(node, tuple(slots), tuple(grads))
        for edge, g in zip(node.parents, grads):
            if edge is None or g is None:
                continue
            target, index = edge
            if isinstance(target, Function):
                _add_to_slot(pending, target, index, g)
            elif accumulate:
                _accumulate_into(target, g, stored)
        if node.saved and not retain_graph:
            node.saved = FREED


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a big graph is built or walked.

    Graphs hold no reference cycles (reference counting frees them), so the collector
    has nothing to find in them; left on, it would scan the growing graph over and over,
    which costs up to half the time of an unrolled loop. Restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _add_to_slot(pending: dict, node: Function, index: int, g: Any) -> None:
    """Add ``g`` to the gradient waiting for output ``index`` of ``node`` (a new array: a
    gradient may be shared with another edge, so it is never changed in place). Deferred
    products (see ``DeferredProducts``) are only collected."""
    slots = pending.get(node)
    if slots is None:
        slots = pending[node] = [None] * node.num_outputs
    current = slots[index]
    if current is None:
        slots[index] = g
    elif type(current) is DeferredProducts and type(g) is DeferredProducts:
        current.add(g)
    else:
        xp = node.xp
        current, g = (v.value(xp) if type(v) is DeferredProducts else v for v in (current, g))
        slots[index] = xp.asarray(current + g)  # NumPy gives a scalar for 0-d sums: keep an array


def _accumulate_into(tensor: Tensor, g: Any, stored: set[int]) -> None:
    """Add ``g`` to ``tensor.grad``, casting to its dtype and never aliasing another .grad."""
    if g.shape != tensor.data.shape:
        raise RuntimeError(f"backward produced a gradient of shape {tuple(g.shape)} for a tensor "
                           f"of shape {tuple(tensor.data.shape)}; a custom op's backward must "
                           "return one gradient per input, shaped like that input")
    if g.dtype != tensor.data.dtype:
        g = g.astype(tensor.data.dtype)
    if tensor.grad is None:
        if getattr(g, "base", None) is not None or id(g) in stored:  # a view or shared array: own a copy
            g = g.copy()
        stored.add(id(g))
        tensor.grad = Tensor._wrap(g, tensor.backend)
    else:  # NumPy gives a scalar for 0-d sums: keep an array, which optimizers change in place
        tensor.grad.data = tensor.backend.xp.asarray(tensor.grad.data + g)
