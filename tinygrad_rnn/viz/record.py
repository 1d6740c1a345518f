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
reduction per node). Inside ``with recording():`` it also keeps what the explorer shows
(``viz.explore``): statistics of every value as it is computed, of every gradient, and the
norm of the gradient sent along each edge; that costs a few reductions per node, so it is
off otherwise.
"""
from __future__ import annotations

import contextlib
import math
import threading
import weakref
from typing import Any, Iterator, Sequence

from ..core.autograd import Function, Observer, add_observer, run_backward
from ..core.tensor import Tensor


class NodeInfo:
    """The labels of one recorded op: ``scope`` (tuple of labels), ``shapes`` of its outputs,
    their ``dtype``, the ``name`` of the value it made (or None), and inside ``recording()``
    the ``value`` statistics of its (first) output (see ``statistics``)."""

    __slots__ = ("scope", "shapes", "dtype", "name", "value")

    def __init__(self, scope: tuple, shapes: tuple, dtype: Any) -> None:
        self.scope, self.shapes, self.dtype, self.name, self.value = scope, shapes, dtype, None, None


ENTRIES = 6  # how many leading entries ``statistics`` keeps


def norm_of(array: Any) -> float:
    """The 2-norm of an array of any shape, as a Python float (computed in float64)."""
    flat = array.reshape(-1).astype("float64")
    return math.sqrt(float((flat * flat).sum()))


def statistics(arrays: Sequence[Any]) -> dict[str, Any] | None:
    """Norm, min, max, mean and the first ``ENTRIES`` entries of ``arrays`` taken together, as
    Python numbers (None when they hold no element)."""
    arrays = [a for a in arrays if a is not None and a.size]
    if not arrays:
        return None
    flat = [a.reshape(-1).astype("float64") for a in arrays]
    size = sum(int(a.size) for a in flat)
    first = flat[0][:ENTRIES].tolist()
    return {"norm": math.sqrt(sum(float((a * a).sum()) for a in flat)),
            "min": min(float(a.min()) for a in flat), "max": max(float(a.max()) for a in flat),
            "mean": sum(float(a.sum()) for a in flat) / size, "size": size, "entries": first}


class BackwardRecord:
    """One backward pass: ``order`` (nodes as visited), ``squares`` (node -> squared norm of its
    output gradient, possibly still a device array) and ``leaf_grads`` (id of a leaf -> the
    gradient it received, kept only for passes that store no ``.grad``)."""

    def __init__(self, detailed: bool = False) -> None:
        self.order: list[Function] = []
        self.squares: dict[Function, Any] = {}
        self.leaf_grads: dict[int, Any] = {}
        self.detailed = detailed  # made inside recording(): the two below are filled
        self.sent: dict[Function, list] = {}  # node -> norm of the gradient sent to each parent
        self.grad_stats: dict[Function, dict | None] = {}  # node -> statistics of its output gradient

    def norm(self, node: Function) -> float | None:
        square = self.squares.get(node)
        return None if square is None else math.sqrt(float(square))

    def leaf_norm(self, leaf: Tensor) -> float | None:
        """The norm of what reached ``leaf``: summed here, or its ``.grad`` after a plain backward."""
        grad = self.leaf_grads.get(id(leaf))
        if grad is None:
            grad = leaf.grad.data if leaf.grad is not None else None
        return None if grad is None else norm_of(grad)


class _Scopes(threading.local):
    labels: tuple = ()  # the labels of the enclosing scope blocks, in this thread


class _Recorder(Observer):
    def __init__(self) -> None:
        self.scopes = _Scopes()
        self.infos: "weakref.WeakKeyDictionary[Function, NodeInfo]" = weakref.WeakKeyDictionary()
        self.enabled = True  # observe backward passes
        self.detail = 0  # > 0 inside recording(): keep what the explorer shows
        self.sum_leaves = False  # set while viz runs its own pass that stores no .grad
        self.current: BackwardRecord | None = None
        # id(root tensor) -> (weak reference to it, its record): a record goes with its tensor
        self.records: dict[int, tuple[weakref.ref, BackwardRecord]] = {}

    def recorded(self, node: Function, outputs: tuple) -> None:
        first = outputs[0].data
        shapes = (first.shape,) if len(outputs) == 1 else tuple([o.data.shape for o in outputs])
        labels = self.infos[node] = NodeInfo(self.scopes.labels, shapes, first.dtype)
        if self.detail:
            labels.value = statistics([first])

    def begin(self, roots: Sequence[Tensor]) -> None:
        self.current = None
        root = roots[0]
        if self.enabled and len(roots) == 1 and root.grad_fn is not None:
            key = id(root)
            forget = lambda _, key=key: self.records.pop(key, None)  # noqa: E731
            self.current = BackwardRecord(detailed=self.detail > 0)
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
        if record.detailed:
            arrays = [g.data if isinstance(g, Tensor) else g for g in output_grads]
            record.grad_stats[node] = statistics(arrays)
            record.sent[node] = [None if g is None else norm_of(g.data if isinstance(g, Tensor) else g)
                                 for g in input_grads]
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


@contextlib.contextmanager
def recording() -> Iterator[None]:
    """Keep, for the explorer, the statistics of every value computed and every gradient
    (norm, min, max, mean, first entries) and the norm sent along each edge by backward:
    run the forward and ``backward()`` inside the block, then ``viz.explore(loss)``."""
    _recorder.detail += 1
    try:
        yield
    finally:
        _recorder.detail -= 1


def record_for(output: Tensor, detailed: bool = False) -> BackwardRecord:
    """The record of the last backward pass from ``output``: the one ``output.backward()``
    made, or a fresh pass run now (storing no ``.grad``) when there was none. ``detailed``
    asks for a record made inside ``recording()``: when the last one is not, a fresh pass is
    tried, and the plain record returned if the graph's saved values are gone."""
    if output.grad_fn is None:
        raise ValueError("viz: this tensor has no recorded history (a leaf, or made under no_grad)")
    record = _recorder.find(output)
    if record is not None and (record.detailed or not detailed):
        return record
    if record is not None:
        kept = _recorder.records[id(output)]
        with recording():
            try:
                return _fresh_record(output)
            except RuntimeError:  # freed by the backward that made the plain record: keep that one
                _recorder.records[id(output)] = kept
                return record
    return _fresh_record(output)


def _fresh_record(output: Tensor) -> BackwardRecord:
    """Run a backward pass from ``output`` that stores no ``.grad``, and return its record."""
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
