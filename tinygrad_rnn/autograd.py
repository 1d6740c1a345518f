"""The tape: ``Function`` (one recorded op) and the reverse-mode walk over it.

Every differentiable op is a ``Function`` subclass with a ``forward`` over backend
arrays and, right beside it, a ``backward`` that turns the gradient of the output
into gradients of the inputs. ``Function.apply`` runs the forward and, when any
input requires grad, records a node: the output tensor's ``grad_fn``.

A node remembers its *parents* (edges to the nodes that made its inputs, or the
leaf tensors themselves) and what it saved for backward, never its input tensors,
so a graph holds no more memory than backward needs. ``backward`` orders the nodes
with an explicit stack (no recursion: BPTT graphs have 10^5+ nodes), hands each node
the sum of the gradients of its outputs, and frees each node once it has been used.
"""
from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
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

    __slots__ = ("backend", "xp", "parents", "saved", "needs_input_grad", "num_outputs", "sequence",
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
            arrays.append(t.data)
            needs.append(t.requires_grad)
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
        if grad_mode._mode.anomaly:
            fn.creation_stack = grad_mode.creation_site()
            _check_finite(fn, "forward", result if type(result) is tuple else (result,), arrays)
        if not (True in needs and grad_mode._mode.enabled):  # nothing to record
            if type(result) is tuple:
                return tuple([Tensor._wrap(r, backend) for r in result])
            return Tensor._wrap(result, backend)
        # each edge says where an input's gradient goes: the node that made it, or the leaf itself
        fn.parents = tuple([(t.grad_fn, t._out_index) if t.grad_fn is not None else
                            ((t, 0) if t.requires_grad else None) for t in inputs])
        fn.sequence = next(_creation_order)  # later nodes consume earlier ones: backward's order
        fn.tag = None  # a name for the output value in pictures (see grad_mode.tag)
        fn.scope = grad_mode._mode.scope  # labels for the graph pictures (see grad_mode.scope)
        if type(result) is tuple:
            fn.num_outputs = len(result)
            fn.output_shapes = tuple([r.shape for r in result])
            fn.output_dtype = result[0].dtype
            outputs = tuple([Tensor._wrap(r, backend, fn, i) for i, r in enumerate(result)])
        else:
            fn.num_outputs = 1
            fn.output_shapes = (result.shape,)
            fn.output_dtype = result.dtype
            outputs = Tensor._wrap(result, backend, fn, 0)
        if cls.returns_view:  # an in-place change of the base must be seen through the view
            for out in outputs if type(outputs) is tuple else (outputs,):
                if out.data.base is not None:
                    out._version = inputs[0]._version
        if fn.saved:  # remember versions of what was saved, to catch later in-place edits
            saved = {id(array) for array in fn.saved}
            fn.versions = tuple([(t._version, t._version[0]) for t in
                                 (inputs + outputs if type(outputs) is tuple else inputs + (outputs,))
                                 if id(t.data) in saved])
        else:
            fn.versions = ()
        return outputs

    # ---- for people walking the graph by hand -----------------------------
    @property
    def name(self) -> str:
        return op_name(type(self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


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


_creation_order = itertools.count()


def topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each before every node that produced its inputs.

    A node is always created after the nodes that produced its inputs, so the reverse of
    creation order (``node.sequence``) is such an order: collect the reachable nodes with
    an explicit stack (no recursion, so a million-op chain is fine) and sort them.
    """
    seen = {root}
    stack = [root]
    while stack:
        for edge in stack.pop().parents:
            if edge is not None and isinstance(edge[0], Function) and edge[0] not in seen:
                seen.add(edge[0])
                stack.append(edge[0])
    return sorted(seen, key=_newest_first)


def _newest_first(node: Function) -> int:
    return -node.sequence


def run_backward(root: Tensor, grad: Any, retain_graph: bool, observe: Any = None) -> None:
    """Propagate ``grad`` (an array shaped like ``root``) from ``root`` to every leaf.

    With ``observe(target, index, gradient)`` every gradient is reported to it instead of
    being stored in the leaves' ``.grad``: each node's summed output gradient and each leaf's
    incoming gradients (the graph pictures use this to colour nodes by gradient norm).
    """
    stored = {id(grad)}  # ids of arrays the caller or an earlier .grad owns: copy before storing
    if root.grad_fn is None:  # a leaf: its gradient is just grad
        _deliver(root, grad, stored, observe)
        return
    with cycle_collector_paused():
        _walk_backward(root, grad, retain_graph, observe, stored)


def _walk_backward(root: Tensor, grad: Any, retain_graph: bool, observe: Any, stored: set) -> None:
    # process nodes newest first: a max-heap on creation order, filled as gradients arrive,
    # so a node runs only after every node that consumed its outputs
    pending: dict[Function, list] = {}
    ready: list[tuple[int, Function]] = []
    owned: set[int] = set()  # ids of sums this pass made: no one else sees them, add in place
    deferred: set[Function] = set()  # nodes with a DeferredProducts gradient waiting
    _add_to_slot(pending, ready, owned, deferred, root.grad_fn, root._out_index, grad)
    while ready:
        node = heapq.heappop(ready)[1]
        slots = pending.pop(node)
        if node in deferred:  # multiply out the collected products: one big matmul
            deferred.discard(node)
            slots = [g.value(node.xp) if type(g) is DeferredProducts else g for g in slots]
        if owned:
            for g in slots:
                owned.discard(id(g))  # handed on now; its id may be reused by a new array
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
        if observe is not None:
            for index, g in enumerate(slots):
                if g is not None:
                    observe(node, index, g)
        elif node.retained is not None:
            for index, ref in node.retained:
                tensor = ref()
                if tensor is not None and slots[index] is not None:
                    _accumulate_into(tensor, slots[index], stored)
        grads = node.backward(*slots)
        if type(grads) is not tuple:
            grads = (grads,)
        if grad_mode._mode.anomaly:
            _check_finite(node, "backward", grads, [g for g in slots if g is not None])
        for edge, g in zip(node.parents, grads):
            if edge is None or g is None:
                continue
            target, index = edge
            if isinstance(target, Function):
                _add_to_slot(pending, ready, owned, deferred, target, index, g)
            else:
                _deliver(target, g, stored, observe)
        if not retain_graph:
            node.saved = FREED
            node.parents = ()


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


def _deliver(leaf: Tensor, g: Any, stored: set, observe: Any) -> None:
    if type(g) is DeferredProducts:
        g = g.value(leaf.backend.xp)
    if observe is None:
        _accumulate_into(leaf, g, stored)
    else:
        observe(leaf, 0, g)


def _add_to_slot(pending: dict, ready: list, owned: set, deferred: set, node: Function, index: int,
                 g: Any) -> None:
    """Add ``g`` to the gradient waiting for output ``index`` of ``node``.

    The first gradient is kept as it is (it may be an array another edge also received, so
    it is never modified); the second makes a fresh sum; later ones are added to that sum in
    place. A weight used at every time step thus costs one buffer, not one per step, and
    deferred products (see ``DeferredProducts``) are only collected.
    """
    slots = pending.get(node)
    if slots is None:  # the first gradient for this node: schedule it
        slots = pending[node] = [None] * node.num_outputs
        heapq.heappush(ready, (-node.sequence, node))
    current = slots[index]
    if type(g) is DeferredProducts:
        if current is None:
            slots[index] = g
            deferred.add(node)
            return
        if type(current) is DeferredProducts:
            current.add(g)
            return
        g = g.value(node.xp)
    elif type(current) is DeferredProducts:
        current = slots[index] = current.value(node.xp)
    if current is None:
        slots[index] = g
    elif id(current) in owned and current.dtype == g.dtype:
        current += g
    else:
        slots[index] = total = current + g
        owned.add(id(total))


def _accumulate_into(tensor: Tensor, g: Any, stored: set[int]) -> None:
    """Add ``g`` to ``tensor.grad``, casting to its dtype and never aliasing another .grad."""
    if g.shape != tensor.data.shape:
        raise RuntimeError(f"backward produced a gradient of shape {tuple(g.shape)} for a tensor "
                           f"of shape {tuple(tensor.data.shape)}; a custom op's backward must "
                           "return one gradient per input, shaped like that input")
    if g.dtype != tensor.data.dtype:
        g = g.astype(tensor.data.dtype)
    if tensor.grad is None:
        if g.base is not None or id(g) in stored:  # a view or shared array: own a copy
            g = g.copy()
        stored.add(id(g))
        tensor.grad = Tensor._wrap(g, tensor.backend)
    else:
        tensor.grad.data = tensor.grad.data + g
