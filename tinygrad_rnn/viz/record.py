"""What the pictures know about backward passes: the order nodes ran in and the size of
the gradients they received.

An observer registered with the engine (``autograd.BackwardObserver``) sees every
backward pass and keeps, per pass, a ``BackwardRecord``: the nodes in the order backward
visited them and the squared norm of each node's output gradient. That is what lets
``render(loss, grad_flow=True)`` and ``hidden_grad_norms(loss)`` work after an ordinary
``loss.backward()``, which frees the values a second pass would need. A record lives
as long as the tensor backward started from. ``record_gradients(False)`` switches the observation
off (it costs one small reduction per node).
"""
from __future__ import annotations

import math
import weakref
from typing import Any

from ..autograd import BackwardObserver, Function, add_backward_observer, run_backward
from ..tensor import Tensor


class BackwardRecord:
    """One backward pass: ``order`` (nodes as visited), ``squares`` (node -> squared norm of
    its output gradient, possibly still a device array) and ``leaf_squares`` (id of a leaf ->
    squared norm of the gradient it received, kept only for passes that store no ``.grad``)."""

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
        return None if grad is None else _norm(grad)


def _norm(array: Any) -> float:
    return math.sqrt(float((array.astype("float64") ** 2).sum()))


class _Recorder(BackwardObserver):
    def __init__(self) -> None:
        self.enabled = True
        self.current: BackwardRecord | None = None
        # id(root tensor) -> (weak reference to it, its record): a record goes with its tensor
        self.records: dict[int, tuple[weakref.ref, BackwardRecord]] = {}
        self.sum_leaves = False  # set while viz runs its own pass that stores no .grad

    def begin(self, root: Tensor) -> None:
        self.current = None
        if self.enabled and root.grad_fn is not None:
            key = id(root)
            forget = lambda _, key=key: self.records.pop(key, None)  # noqa: E731
            self.current = BackwardRecord()
            self.records[key] = (weakref.ref(root, forget), self.current)

    def end(self) -> None:
        self.current = None

    def find(self, root: Tensor) -> BackwardRecord | None:
        entry = self.records.get(id(root))
        return entry[1] if entry is not None and entry[0]() is root else None

    def visit(self, node: Function, output_grads: tuple, input_grads: tuple) -> None:
        record = self.current
        if record is None:
            return
        record.order.append(node)
        xp = node.xp
        square = None
        for g in output_grads:
            if g is not None:
                flat = g.reshape(-1)
                part = xp.vdot(flat, flat)
                square = part if square is None else square + part
        record.squares[node] = square
        if self.sum_leaves:
            for edge, g in zip(node.parents, input_grads):
                if edge is not None and g is not None and not isinstance(edge[0], Function):
                    key = id(edge[0])
                    earlier = record.leaf_grads.get(key)
                    record.leaf_grads[key] = g if earlier is None else earlier + g


_recorder = _Recorder()
add_backward_observer(_recorder)


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
        run_backward(output, output.backend.xp.ones_like(output.data), retain_graph=True, accumulate=False)
    except RuntimeError as error:
        raise RuntimeError(f"viz: the gradients of this graph cannot be measured: {error}. Draw it "
                           "right after loss.backward() (with gradient recording on), or before "
                           "backward") from None
    finally:
        _recorder.enabled, _recorder.sum_leaves = previous
    return _recorder.find(output)
