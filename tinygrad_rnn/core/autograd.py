"""The tape: ``Function`` records each op, and ``run_backward`` applies the chain rule to it.

Every op is a ``Function`` subclass with a ``forward`` over backend arrays and, right
beside it, a ``backward`` that turns the gradients of its outputs into gradients of its
inputs. ``Function.apply`` runs the forward and, when grad mode is on and an input
requires grad, keeps the function object as a *node* of the graph: the output tensors'
``grad_fn``. A node remembers its *parents* (where each input's gradient must go: the
node that made the input, or the leaf tensor itself) and what forward saved for
backward, never its input tensors, so a graph holds no more memory than backward needs.

``run_backward`` is reverse-mode differentiation in four steps: order the nodes so each
comes before the nodes that made its inputs (``backward_order``); give each node the sum
of the gradients of its outputs; apply its ``backward`` (the chain rule, one op at a
time); send the results along its parents' edges. What a node saved is released once it
has been used. With ``create_graph=True`` the same ``backward`` formulas run on tensors
instead of arrays, so differentiating is itself recorded and can be differentiated again.

Anything that only watches (the graph pictures) does so through ``Observer``; nothing in
this file exists for speed.
"""
from __future__ import annotations

import contextlib
import gc
import re
from typing import Any, Iterator, Sequence

from ..backends import device_mismatch
from . import grad_mode
from .hooks import run_hooks
from .tensor import Tensor


class ShapeError(ValueError):
    """An op was given shapes it cannot combine; the message names the op and the shapes."""


class _Freed:
    """Stands in for ``saved`` after backward has released a node's arrays."""

    def __repr__(self) -> str:
        return "<freed by backward; pass retain_graph=True to keep it>"


FREED = _Freed()


def op_name(fn_class: type) -> str:
    """``LogSoftmax`` -> ``log_softmax``: the name an op goes by in messages and pictures."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", fn_class.__name__).lower()


class Function:
    """One differentiable op and, once applied, the graph node it records.

    Subclass it and write ``forward(self, *arrays, **params)`` returning an array (or a
    tuple of arrays) and ``backward(self, *grads)`` returning one gradient per input
    (``None`` for inputs that need none). ``self.xp`` is the array module of the inputs'
    device; ``self.save_for_backward`` keeps what backward needs (inputs or outputs of the
    op, so a recorded backward can see their history); ``self.needs_input_grad[i]`` says
    whether input ``i`` wants a gradient.

    >>> class Square(Function):
    ...     def forward(self, x):
    ...         self.save_for_backward(x)
    ...         return x * x
    ...     def backward(self, grad):
    ...         (x,) = self.saved
    ...         return 2 * x * grad          # d x^2/dx = 2x
    >>> y = Square.apply(x)
    """

    __slots__ = ("backend", "xp", "parents", "saved", "saved_from", "versions", "needs_input_grad",
                 "num_outputs", "__weakref__", "__dict__")
    retained = None  # ((output index, weak reference), ...) of the outputs that called retain_grad()
    hooks = None  # {output index: {key: hook}} of the outputs that called register_hook()

    def forward(self, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")  # abstract

    def backward(self, *grads: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define backward()")  # abstract

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` until backward has used them (read back as ``self.saved``)."""
        self.saved = arrays

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Any:
        """Run the op on tensors; record it when grad mode is on and an input requires grad."""
        node = cls()
        node.backend = backend = inputs[0].backend
        node.xp, node.saved = backend.xp, ()
        for t in inputs:
            if t.backend is not backend:
                raise device_mismatch(op_name(cls), inputs)
        edges = tuple([t._edge() for t in inputs])
        node.needs_input_grad = needs = tuple([edge is not None for edge in edges])
        results, several = _run_forward(node, inputs, params)
        record = True in needs and grad_mode._mode.enabled
        outputs = tuple([Tensor._wrap(r, node.backend, node if record else None, i) for i, r in enumerate(results)])
        if record:
            node.parents, node.num_outputs = edges, len(outputs)
            node.saved_from, node.versions = _sources(node.saved, inputs, outputs)
            for observer in _observers:
                observer.recorded(node, outputs)
        return outputs if several else outputs[0]

    def saved_tensors(self) -> tuple:
        """What forward saved, as tensors that carry its history: a saved input is that input
        (its node or leaf), a saved output is this node's output; anything else a constant."""
        tensors = []
        for array, source in zip(self.saved, self.saved_from):
            if source is None or array is None:
                tensors.append(array if array is None else Tensor._wrap(array, self.backend))
            elif source < 0:
                tensors.append(Tensor._wrap(array, self.backend, self, -1 - source))
            else:
                edge = self.parents[source]
                if edge is not None and not isinstance(edge[0], Function):
                    tensors.append(edge[0])  # a leaf: its gradient must reach it
                else:
                    tensors.append(Tensor._wrap(array, self.backend, *(edge or (None, 0))))
        return tuple(tensors)

    @property
    def name(self) -> str:
        return op_name(type(self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


# ---- the backward walk ---------------------------------------------------------------------
def backward_order(*roots: Function) -> list[Function]:
    """The nodes reachable from ``roots`` in the order backward visits them: each before the
    nodes that made its inputs, so it hands on a complete gradient.

    A depth-first walk with an explicit stack (no recursion: BPTT graphs reach 10^5 nodes)
    appends a node once all its parents are done; reversed, that is the order we need.
    """
    order, seen = [], set(roots)
    for root in roots:
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


def run_backward(roots: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool, create_graph: bool,
                 inputs: Sequence[Tensor] | None = None) -> dict[int, Any]:
    """Send ``grads`` (one per root, arrays, or tensors with ``create_graph``) back through the graph.

    Leaves that require grad get their gradient added to ``.grad``; given ``inputs``, only
    their gradients are collected and returned (``{id(tensor): gradient}``) and no ``.grad``
    changes, as in ``grad()``. Unless ``retain_graph``, what each node saved is freed once used.
    """
    observers = tuple(_observers)
    for observer in observers:
        observer.begin(roots)
    try:
        with cycle_collector_paused():
            return _walk(roots, grads, retain_graph, create_graph, inputs, observers)
    finally:
        for observer in observers:
            observer.end()


def _walk(roots: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool, create_graph: bool,
          inputs: Sequence[Tensor] | None, observers: tuple) -> dict[int, Any]:
    wanted = None if inputs is None else {id(t): t for t in inputs}
    pending: dict[Function, list] = {}  # node -> the summed gradient of each of its outputs
    found: dict[int, Any] = {}  # id(wanted input) -> its gradient
    held: dict[int, list] = {}  # id(leaf with hooks) -> [leaf, the sum of its gradients so far]
    for root, grad in zip(roots, grads):
        _send(root._edge(), grad, pending, wanted, found, held, create_graph)
    for node in backward_order(*[r.grad_fn for r in roots if r.grad_fn is not None]):
        output_grads = pending.pop(node, None)
        if output_grads is None:  # no gradient reached it
            continue
        _check_usable(node)
        if node.hooks:  # register_hook on its outputs
            _run_output_hooks(node, output_grads)
        if wanted is None:
            _keep_retained(node, output_grads, create_graph)
        else:  # grad() of a tensor computed in the graph: its gradient is the sum arriving here
            for tensor in wanted.values():
                if tensor.grad_fn is node:
                    found[id(tensor)] = _sum(found.get(id(tensor)), output_grads[tensor._out_index], node.backend)
        input_grads = _differentiate(node, output_grads, create_graph)  # the chain rule
        for observer in observers:
            observer.visit(node, output_grads, input_grads)
        for edge, grad in zip(node.parents, input_grads):
            if edge is not None and grad is not None:
                _send(edge, grad, pending, wanted, found, held, create_graph)
        if node.saved and not retain_graph:
            node.saved = FREED
    for leaf, grad in held.values():  # leaves with hooks: every gradient has arrived
        grad = run_hooks(leaf._hooks, grad, leaf.shape, leaf.backend)
        if wanted is None:
            accumulate_grad(leaf, grad, create_graph)
        else:
            found[id(leaf)] = grad
    return found


def _run_output_hooks(node: Function, output_grads: list) -> None:
    """Replace each output's summed gradient by what its hooks make of it."""
    for index, hooks in node.hooks.items():
        if output_grads[index] is not None:
            output_grads[index] = run_hooks(hooks, output_grads[index], tuple(output_grads[index].shape),
                                            node.backend)


def _send(edge: tuple | None, grad: Any, pending: dict, wanted: dict | None, found: dict, held: dict,
          create_graph: bool) -> None:
    """Hand ``grad`` to where ``edge`` points: a node's pending sum, or a leaf (whose hooks,
    if it has any, see the sum of all that arrives: it is held until the end)."""
    if edge is None:
        return
    target, index = edge
    if isinstance(target, Function):
        slots = pending.get(target)
        if slots is None:
            slots = pending[target] = [None] * target.num_outputs
        slots[index] = _sum(slots[index], grad, target.backend)
    elif wanted is not None and id(target) not in wanted:
        return
    elif target._hooks:
        entry = held.setdefault(id(target), [target, None])
        entry[1] = _sum(entry[1], grad, target.backend)
    elif wanted is None:
        accumulate_grad(target, grad, create_graph)
    else:
        found[id(target)] = _sum(found.get(id(target)), grad, target.backend)


def _sum(total: Any, grad: Any, backend: Any) -> Any:
    """total + grad as a new value (a gradient may be shared: never change one in place)."""
    return grad if total is None else _arrays_only(total + grad, backend)


def _arrays_only(value: Any, backend: Any) -> Any:
    """NumPy gives 0-d results as immutable scalars: turn them back into arrays."""
    return value if value is None or isinstance(value, Tensor) else backend.array_of(value)


def _differentiate(node: Function, output_grads: list, create_graph: bool) -> tuple:
    """The node's own backward: its one formula, on arrays, or with ``create_graph`` on
    tensors (``self.saved`` and ``self.xp`` then hold tensors and the library's ops), so
    the gradient computation is itself recorded."""
    if create_graph:
        from ..ops import tensor_math  # the ops import this module: imported on first use

        arrays, xp = node.saved, node.xp
        node.saved, node.xp = node.saved_tensors(), tensor_math
        try:
            with grad_mode.enable_grad():
                grads = node.backward(*[as_tensor(g, node) for g in output_grads])
        finally:
            node.saved, node.xp = arrays, xp
    else:
        grads = node.backward(*output_grads)
    ndarray = node.xp.ndarray
    grads = tuple([g if g is None or isinstance(g, (ndarray, Tensor)) else node.backend.array_of(g)
                   for g in (grads if type(grads) is tuple else (grads,))])  # NumPy's 0-d scalars: arrays
    if grad_mode.is_anomaly_enabled():
        arrays = lambda values: [v.data if isinstance(v, Tensor) else v for v in values]  # noqa: E731
        grad_mode.check_finite(node, "backward", arrays(grads), arrays(output_grads))
    return grads


def accumulate_grad(leaf: Tensor, grad: Any, create_graph: bool) -> None:
    """Add ``grad`` to ``leaf.grad``: its own array (so changing one ``.grad`` in place never
    reaches another), or with ``create_graph`` a tensor with history, to differentiate again."""
    if tuple(grad.shape) != leaf.shape:
        raise RuntimeError(f"backward produced a gradient of shape {tuple(grad.shape)} for a tensor of "
                           f"shape {leaf.shape}; a custom op's backward must return one gradient per "
                           "input, shaped like that input")
    if grad.dtype != leaf.dtype:
        grad = grad.astype(leaf.dtype)
    if create_graph:
        leaf.grad = grad if leaf.grad is None else leaf.grad + grad
    elif leaf.grad is None:
        leaf.grad = Tensor._wrap(leaf.backend.xp.array(grad, copy=True), leaf.backend)
    elif leaf.grad.grad_fn is not None:  # left by a backward with create_graph: start a plain one
        leaf.grad = Tensor._wrap(_arrays_only(leaf.grad.data + grad, leaf.backend), leaf.backend)
    else:
        leaf.grad.data = _arrays_only(leaf.grad.data + grad, leaf.backend)


def _keep_retained(node: Function, output_grads: list, create_graph: bool) -> None:
    """The outputs of ``node`` that called retain_grad() keep their gradient in ``.grad``."""
    for index, ref in node.retained or ():
        tensor = ref()
        if tensor is not None and output_grads[index] is not None:
            accumulate_grad(tensor, output_grads[index], create_graph)


def _check_usable(node: Function) -> None:
    if node.saved is FREED:
        raise RuntimeError(f"{node.name}: trying to backward through the graph a second time, but its "
                           "saved values were freed by the first backward; pass retain_graph=True to "
                           "the first backward() if you need to backward twice")
    for cell, version in node.versions:
        if cell[0] != version:
            raise RuntimeError(f"{node.name}: a tensor saved for backward was modified in place after it "
                               f"was saved (version {version}, now {cell[0]}); use an out-of-place op "
                               "(a = a + b instead of a.add_(b)) or clone() it before modifying")


# ---- observers and small helpers ---------------------------------------------------------
class Observer:
    """Something that watches the tape (the graph pictures do): subclass it and register an
    instance with ``add_observer``. ``recorded(node, outputs)`` is called when an op is
    recorded; during a backward pass ``begin(roots)``, then ``visit(node, output_grads,
    input_grads)`` for each node in the order backward runs them, then ``end()``."""

    def recorded(self, node: Function, outputs: tuple) -> None:
        """``node`` was just recorded, making ``outputs``."""

    def begin(self, roots: Sequence[Tensor]) -> None:
        """A backward pass starts from ``roots``."""

    def visit(self, node: Function, output_grads: list, input_grads: tuple) -> None:
        """``node`` applied the chain rule: gradients in (per output), gradients out (per input)."""

    def end(self) -> None:
        """The backward pass is over (also after an error)."""


_observers: list[Observer] = []


def add_observer(observer: Observer) -> None:
    _observers.append(observer)


def remove_observer(observer: Observer) -> None:
    _observers.remove(observer)


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a graph is walked: graphs hold no reference
    cycles (reference counting frees them), so the collector would only rescan the many
    nodes of an unrolled graph over and over. The engine's one process-wide switch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_forward(node: Function, inputs: tuple, params: dict) -> tuple[tuple, bool]:
    """Run ``node.forward``: shape errors name the op; results come back as a tuple of arrays."""
    arrays = [t.data for t in inputs]
    try:
        result = node.forward(*arrays, **params)
    except ShapeError:
        raise
    except (ValueError, IndexError) as error:
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ShapeError(f"{node.name}: cannot apply to shapes {shapes}: {error}") from None
    several = type(result) is tuple
    results = result if several else (result,)
    ndarray = node.xp.ndarray
    for r in results:
        if not isinstance(r, ndarray):  # NumPy gives 0-d results as scalars: make them arrays,
            arrays_of = {id(r): node.backend.array_of(r) for r in results}  # also where saved
            results = tuple([arrays_of[id(r)] for r in results])
            node.saved = tuple([arrays_of.get(id(s), s) for s in node.saved])
            break
    if grad_mode._mode.anomaly:
        node.creation_stack = grad_mode.creation_site()
        grad_mode.check_finite(node, "forward", results, arrays)
    return results, several


def _sources(saved: tuple, inputs: tuple, outputs: tuple) -> tuple[tuple, tuple]:
    """Which input (i) or output (-1 - j) each saved array is (None: a value forward made), and
    the versions of those tensors then, to catch in-place changes made before backward."""
    if not saved:
        return (), ()
    sources, versions = [], []
    for array in saved:
        source = tensor = None
        for k, t in enumerate(inputs + outputs):
            if t.data is array and array is not None:
                source, tensor = (k if k < len(inputs) else len(inputs) - 1 - k), t
                break
        sources.append(source)
        if tensor is not None:
            versions.append((tensor._version, tensor._version[0]))
    return tuple(sources), tuple(versions)


def as_tensor(grad: Any, like: Any) -> Any:
    return grad if grad is None or isinstance(grad, Tensor) else Tensor._wrap(grad, like.backend)
