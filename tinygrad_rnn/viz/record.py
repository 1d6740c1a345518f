"""What the pictures know about the tape, collected by one observer of the engine.

While ops are recorded it keeps, for each node, a ``NodeInfo``: the labels of the
enclosing ``scope`` blocks (layer, direction, time step ``t=N``), the output shapes and
dtype, and the name given with ``name``/``tag`` (``"h"``, ``"forget gate"``). During each
backward pass it keeps a ``BackwardRecord``: the nodes in the order backward visited
them and the squared norm of each node's output gradient. That is what lets
``render(loss, grad_flow=True)`` and ``hidden_grad_norms(loss)`` work after an ordinary
``loss.backward()``, which frees the values a second pass would need. Both live as long
as the graph (a record: as long as the tensor backward started from).
``record_gradients(False)`` switches the gradient observation off (it costs one small
reduction per node).
"""
from __future__ import annotations

import math
import threading
import weakref
from typing import Any, Sequence

from ..core.autograd import Function, Observer, add_observer, run_backward
from ..core.tensor import Tensor


class NodeInfo:
    """The labels of one recorded op: ``scope`` (tuple of labels), ``shapes`` of its outputs,
    their ``dtype``, and the ``name`` of the value it made (or None)."""

    __slots__ = ("scope", "shapes", "dtype", "name")

    def __init__(self, scope: tuple, shapes: tuple, dtype: Any) -> None:
        self.scope, self.shapes, self.dtype, self.name = scope, shapes, dtype, None


class BackwardRecord:
    """One backward pass: ``order`` (nodes as visited), ``squares`` (node -> squared norm of its
    output gradient, possibly still a device array) and ``leaf_grads`` (id of a leaf -> the
    gradient it received, kept only for passes that store no ``.grad``)."""

    def __init__(self) -> None:
        self.order: list[Function] = []
        self.squares: dict[Function, Any] = {}
        self.leaf_grads: dict[int, Any] = {}

    def norm(self, node: Function) -> float | None:
        square = self.squares.get(node)
        return None if square is None else math.sqrt(float(square))

    def leaf_norm(self, leaf: Tensor) -> float | None:
        """The norm of what reached ``leaf``: summed here, or its ``.grad`` after a plain backward."""
        grad = self.leaf_grads.get(id(leaf))
        if grad is None:
            grad = leaf.grad.data if leaf.grad is not None else None
        return None if grad is None else math.sqrt(float((grad.astype("float64") ** 2).sum()))


class _Scopes(threading.local):
    labels: tuple = ()  # the labels of the enclosing scope blocks, in this thread


class _Recorder(Observer):
    def __init__(self) -> None:
        self.scopes = _Scopes()
        self.infos: "weakref.WeakKeyDictionary[Function, NodeInfo]" = weakref.WeakKeyDictionary()
        self.enabled = True  # observe backward passes
        self.sum_leaves = False  # set while viz runs its own pass that stores no .grad
        self.current: BackwardRecord | None = None
        # id(root tensor) -> (weak reference to it, its record): a record goes with its tensor
        self.records: dict[int, tuple[weakref.ref, BackwardRecord]] = {}

    def recorded(self, node: Function, outputs: tuple) -> None:
        first = outputs[0].data
        shapes = (first.shape,) if len(outputs) == 1 else tuple([o.data.shape for o in outputs])
        self.infos[node] = NodeInfo(self.scopes.labels, shapes, first.dtype)

    def begin(self, roots: Sequence[Tensor]) -> None:
        self.current = None
        root = roots[0]
        if self.enabled and len(roots) == 1 and root.grad_fn is not None:
            key = id(root)
            forget = lambda _, key=key: self.records.pop(key, None)  # noqa: E731
            self.current = BackwardRecord()
            self.records[key] = (weakref.ref(root, forget), self.current)

    def visit(self, node: Function, output_grads: list, input_grads: tuple) -> None:
        record = self.current
        if record is None:
            return
        record.order.append(node)
        square = None
        for g in output_grads:
            if g is not None:
                flat = (g.data if isinstance(g, Tensor) else g).reshape(-1)
                part = node.backend.xp.vdot(flat, flat)
                square = part if square is None else square + part
        record.squares[node] = square
        if self.sum_leaves:
            for edge, g in zip(node.parents, input_grads):
                if edge is not None and g is not None and not isinstance(edge[0], Function):
                    key = id(edge[0])
                    earlier = record.leaf_grads.get(key)
                    record.leaf_grads[key] = g if earlier is None else earlier + g

    def end(self) -> None:
        self.current = None

    def find(self, root: Tensor) -> BackwardRecord | None:
        entry = self.records.get(id(root))
        return entry[1] if entry is not None and entry[0]() is root else None


_recorder = _Recorder()
add_observer(_recorder)


def info(node: Function) -> NodeInfo:
    """What the pictures know about ``node`` (recorded while viz was loaded: always, in practice)."""
    found = _recorder.infos.get(node)
    return found if found is not None else NodeInfo((), (), None)


def record_gradients(enabled: bool = True) -> None:
    """Switch on (default) or off the observation of backward passes for the pictures."""
    _recorder.enabled = bool(enabled)


def record_for(output: Tensor) -> BackwardRecord:
    """The record of the last backward pass from ``output``: the one ``output.backward()``
    made, or a fresh pass run now (storing no ``.grad``) when there was none."""
    if output.grad_fn is None:
        raise ValueError("viz: this tensor has no recorded history (a leaf, or made under no_grad)")
    record = _recorder.find(output)
    if record is not None:
        return record
    if output.data.size != 1:
        raise ValueError(f"viz: gradients are measured from a scalar loss, got shape {output.shape}")
    previous = _recorder.enabled, _recorder.sum_leaves
    _recorder.enabled, _recorder.sum_leaves = True, True
    try:
        run_backward([output], [output.backend.xp.ones_like(output.data)], retain_graph=True,
                     create_graph=False, inputs=())
    except RuntimeError as error:
        raise RuntimeError(f"viz: the gradients of this graph cannot be measured: {error}. Draw it "
                           "right after loss.backward() (with gradient recording on), or before "
                           "backward") from None
    finally:
        _recorder.enabled, _recorder.sum_leaves = previous
    return _recorder.find(output)


# ---- labels ------------------------------------------------------------------------------------
class scope:
    """Label every op recorded inside the block, for the graph pictures.

    ``with scope("attention"):`` or ``with scope(t=3):`` (recorded as ``"t=3"``); blocks
    nest, so a node records the labels of all enclosing blocks. The recurrent layers use
    it to mark layer, direction and time step, which ``to_dot(group="timestep")`` draws as
    clusters.
    """

    __slots__ = ("labels", "previous")

    def __init__(self, *labels: Any, **named: Any) -> None:
        self.labels = tuple(str(label) for label in labels) + tuple(f"{k}={v}" for k, v in named.items())

    def __enter__(self) -> "scope":
        self.previous = _recorder.scopes.labels
        _recorder.scopes.labels = self.previous + self.labels
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _recorder.scopes.labels = self.previous


def name(**values: Tensor) -> None:
    """Name the values the pictures should show: ``name(h=h, forget_gate=f)`` (underscores
    are shown as spaces). Tensors without history are left alone."""
    for label, tensor in values.items():
        tag(tensor, label.replace("_", " "))


def tag(tensor: Tensor, label: str) -> Tensor:
    """Name the value ``tensor`` holds (``"h"``); returns ``tensor``, so it can wrap an expression."""
    found = _recorder.infos.get(tensor.grad_fn) if tensor.grad_fn is not None else None
    if found is not None:
        found.name = label
    return tensor
