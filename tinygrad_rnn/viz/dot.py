"""``to_dot``: the recorded graph as a Graphviz ``Digraph`` (no ``dot`` binary needed).

The walk is iterative and names nodes by discovery order (``op0``, ``leaf3``), never
by ``id()``, so the same program always gives the same DOT text. Node kinds:

- op nodes (grey boxes): one per recorded ``Function``, labelled with the op's name;
- parameters (blue) named by their module path (``lstm.weight_ih_l0``) or ``.name``;
- inputs (green): other leaves that require grad;
- values (yellow ellipses): outputs of ops named with ``tag`` (gates, ``h``, ``c``);
- outputs (double octagons): the tensors passed to ``to_dot``.

``group="timestep"`` draws each time step (the ``t=N`` scope recorded by the recurrent
layers) as a cluster, with the recurrent edges between clusters in red;
``collapse="timestep"`` draws each step as one node; ``steps=(first, last)`` keeps the
first and last steps and elides the middle. ``grad_flow=True`` colours nodes by log10
of their gradient norm (blue small, red large; white with a dashed border for a gradient
that is exactly zero) and writes the norm in their labels; ``backward_order=True`` numbers
ops in the order backward visits them; both work before and after ``backward()`` (see
``record.py``).
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Iterable

from ..core.autograd import Function
from ..core.tensor import Tensor
from .record import BackwardRecord, info, norm_of, record_for

if TYPE_CHECKING:
    import graphviz

    from .picture import Picture

LARGE_GRAPH = 1500  # op nodes beyond which a flat picture is unreadable
STYLE = {
    "op": dict(shape="box", style="rounded,filled", fillcolor="#e8e8e8"),
    "parameter": dict(shape="box", style="filled", fillcolor="#c6dbef"),
    "input": dict(shape="box", style="filled", fillcolor="#c7e9c0"),
    "value": dict(shape="ellipse", style="filled", fillcolor="#fff2b3"),
    "output": dict(shape="doubleoctagon", style="filled", fillcolor="#fdd0a2"),
    "step": dict(shape="box3d", style="filled", fillcolor="#fff2b3"),
    "elided": dict(shape="plaintext"),
}
RECURRENT_EDGE = dict(color="#b2182b", penwidth="2")
# an exactly zero gradient (a dead relu, a branch multiplied by 0) is drawn white with a
# dashed grey border (see _zero_gradient_look): off the blue-yellow-red scale, so it cannot
# be read as a middle value
ZERO_GRADIENT = dict(fillcolor="#ffffff", color="#737373")
LEGEND_STOPS = 5  # colours shown in the legend, from the smallest to the largest norm


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _shapes_text(shapes: tuple) -> str:
    """One output's shape, or ``30 x (1, 4)`` for many equal ones."""
    if len(shapes) > 2 and len(set(shapes)) == 1:
        return f"{len(shapes)} x {_shape_text(shapes[0])}"
    return ", ".join(_shape_text(s) for s in shapes)


def parameter_names(params: Any) -> dict[int, str]:
    """id(tensor) -> name from a Module, a dict of name -> tensor, or (name, tensor) pairs."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = params.named_parameters()
    elif isinstance(params, dict):
        params = params.items()
    return {id(tensor): name for name, tensor in params}


def leaf_label(leaf: Tensor, names: dict[int, str]) -> tuple[str, str]:
    """A leaf's ``(label, kind)``: its parameter name (or ``.name``) and whether it is a
    "parameter" or an "input"; an unnamed leaf is labelled with its kind."""
    kind = "parameter" if id(leaf) in names or type(leaf).__name__ == "Parameter" else "input"
    return names.get(id(leaf)) or leaf.name or kind, kind


class _Walk:
    """Every node reachable from the outputs, with deterministic ids and the edges between them."""

    def __init__(self, outputs: Iterable[Tensor]) -> None:
        self.ops: list[Function] = []
        self.op_ids: dict[Function, int] = {}
        self.leaves: list[Tensor] = []
        self.leaf_ids: dict[int, int] = {}
        self.edges: list[tuple[str, str]] = []  # (producer node name, consumer node name)
        stack = []
        for tensor in outputs:
            if tensor.grad_fn is not None and tensor.grad_fn not in self.op_ids:
                stack.append(self._add_op(tensor.grad_fn))
        while stack:
            node = stack.pop()
            for edge in node.parents:
                if edge is None:
                    continue
                source, index = edge
                if isinstance(source, Function):
                    if source not in self.op_ids:
                        stack.append(self._add_op(source))
                    self.edges.append((self.value_name(source, index), self.op_name(node)))
                else:
                    self.edges.append((self.leaf_name(source), self.op_name(node)))

    def _add_op(self, node: Function) -> Function:
        self.op_ids[node] = len(self.ops)
        self.ops.append(node)
        return node

    def op_name(self, node: Function) -> str:
        return f"op{self.op_ids[node]}"

    def value_name(self, node: Function, index: int) -> str:
        """Where an op's output comes from in the picture: its tag node, or the op itself."""
        return f"value{self.op_ids[node]}" if info(node).name else self.op_name(node)

    def leaf_name(self, tensor: Tensor) -> str:
        key = id(tensor)
        if key not in self.leaf_ids:
            self.leaf_ids[key] = len(self.leaves)
            self.leaves.append(tensor)
        return f"leaf{self.leaf_ids[key]}"


def step_key(node: Function) -> tuple | None:
    """The scope labels up to and including ``t=N``: which time step (of which layer) a node is in."""
    labels = info(node).scope
    for position, label in enumerate(labels):
        if label.startswith("t="):
            return labels[:position + 1]
    return None


def step_of(key: tuple) -> int:
    return int(key[-1][2:])


def _cluster_label(key: tuple) -> str:
    return ", ".join(key)


def _gradient_norms(roots: tuple) -> dict[Any, float]:
    """||dL/d(value)|| for every op output and leaf reached, from each output's backward pass
    (the recorded ``loss.backward()``, or a pass run now that stores nothing).

    Each output is its own loss (so two models drawn together share one colour scale).
    """
    norms: dict[Any, float] = {}
    for root in roots:
        if root.data.size != 1:
            raise ValueError(f"to_dot(grad_flow=True): every output must be a scalar loss, got shape "
                             f"{root.shape}")
        record = record_for(root)
        for node in record.order:
            norm = record.norm(node)
            if norm is not None:
                norms[node] = norm
            for edge in node.parents:
                if edge is not None and not isinstance(edge[0], Function):
                    norm = record.leaf_norm(edge[0])
                    if norm is not None:
                        norms[id(edge[0])] = norm
    return norms


def _visit_order(root: Tensor) -> dict[Function, int]:
    """The position (from 1) at which backward visits each node: as recorded by the last
    ``backward()`` from ``root``, or by a pass run now."""
    record: BackwardRecord = record_for(root)
    return {node: k for k, node in enumerate(record.order, start=1)}


def _heat_colour(fraction: float) -> str:
    """Blue (0) through pale yellow (0.5) to red (1)."""
    stops = [(0.0, (44, 123, 182)), (0.5, (255, 255, 191)), (1.0, (215, 25, 28))]
    fraction = min(max(fraction, 0.0), 1.0)
    for (f0, c0), (f1, c1) in zip(stops, stops[1:]):
        if fraction <= f1:
            w = (fraction - f0) / (f1 - f0)
            return "#" + "".join(f"{round(a + (b - a) * w):02x}" for a, b in zip(c0, c1))
    return "#d7191c"


def to_dot(*outputs: Tensor, params: Any = None, show: Iterable[str] = ("shape",), rankdir: str = "TB",
           group: str | None = None, collapse: str | None = None, steps: tuple[int, int] | None = None,
           grad_flow: bool = False, backward_order: bool = False) -> "Picture":
    """The computation graph that produced ``outputs`` as a ``graphviz.Digraph`` (a ``Picture``,
    which Jupyter shows inline).

    ``params``: a Module (or name -> tensor dict) whose parameter names label the leaves.
    ``show``: any of "shape", "dtype", "value" (mean and norm of leaves), "grad" (norm of
    leaves' ``.grad``). ``group="timestep"``/``collapse="timestep"``/``steps``: the unrolled
    views; ``grad_flow``: colour by gradient norm (the first output must be the loss) and write
    the norm in each label (``grad norm = 7.9e-03``); an exactly zero gradient is drawn white
    with a dashed border, a look of its own in the legend; ``backward_order``: number ops in
    the order backward visits them (from the first output). Both work after
    ``loss.backward()``, from what was recorded during it, and before it.
    With ``grad_flow`` every output must be a scalar; each is differentiated on its own and
    all share one colour scale, so two models drawn together can be compared.
    """
    for label, value in (("group", group), ("collapse", collapse)):
        if value not in (None, "none", "timestep"):
            raise ValueError(f"to_dot: {label} must be 'timestep' or None, got {value!r}")
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError("to_dot: pass one or more tensors (e.g. the loss)")
    show = set(show)
    walk = _Walk(outputs)
    if len(walk.ops) > LARGE_GRAPH and collapse != "timestep" and steps is None:
        warnings.warn(f"to_dot: {len(walk.ops)} op nodes make an unreadable picture; use "
                      "collapse='timestep' and/or steps=(2, 2) to draw the unrolled loop compactly",
                      stacklevel=2)
    names = parameter_names(params)
    norms = _gradient_norms(outputs) if grad_flow else {}
    log_range = _log_range(norms.values())
    visit = _visit_order(outputs[0]) if backward_order and outputs[0].grad_fn is not None else {}

    # ---- which picture node each graph node becomes (steps collapsed or elided) -----------
    keys = {node: step_key(node) for node in walk.ops}
    by_prefix: dict[tuple, list[int]] = {}
    for key in set(k for k in keys.values() if k):
        by_prefix.setdefault(key[:-1], []).append(step_of(key))
    kept: set = set()
    for prefix, ts in by_prefix.items():
        ts.sort()
        first, last = steps if steps is not None else (len(ts), 0)
        kept.update(prefix + (f"t={t}",) for i, t in enumerate(ts) if i < first or i >= len(ts) - last)
    clusters_order = sorted(kept, key=lambda k: (k[:-1], step_of(k)))
    cluster_index = {key: i for i, key in enumerate(clusters_order)}
    prefix_index = {prefix: i for i, prefix in enumerate(sorted(by_prefix))}
    representative: dict[str, str] = {}  # picture node standing in for a collapsed or elided one
    clusters: dict[tuple, list[tuple[str, str, dict]]] = {}
    plain: list[tuple[str, str, dict]] = []

    def place(name: str, label: str, kind: str, key: tuple | None, extra: dict | None = None) -> None:
        attributes = {**STYLE[kind], **(extra or {})}
        if key is not None and key not in kept:
            representative[name] = f"elided{prefix_index[key[:-1]]}"
        elif key is not None and collapse == "timestep":
            representative[name] = f"step{cluster_index[key]}"
        elif key is not None and group == "timestep":
            clusters.setdefault(key, []).append((name, label, attributes))
        else:
            plain.append((name, label, attributes))

    def coloured(key: Any, kind: str) -> dict:
        """The attributes that show the gradient norm of ``key`` (a node, or a leaf's id) on a
        node of ``kind``: a colour on the log scale, or the zero-gradient look; none when no
        norm was recorded (or it is not a number)."""
        norm = norms.get(key)
        if norm == 0:
            return _zero_gradient_look(STYLE[kind]["style"])
        if norm is not None and norm > 0:
            return {"fillcolor": _heat_colour(_fraction(norm, log_range))}
        return {}

    def gradient_line(key: Any) -> str:
        """The label's last line, ``grad norm = ...``, when a norm was recorded for ``key``."""
        return "\n" + _gradient_text(norms[key]) if key in norms else ""

    for node in walk.ops:
        op_id = walk.op_ids[node]
        text = node.name if node not in visit else f"[{visit[node]}] {node.name}"
        labels = info(node)
        if "shape" in show and not labels.name:
            text += "\n" + _shapes_text(labels.shapes)
        if "dtype" in show and not labels.name:
            text += f"\n{labels.dtype}"
        if labels.name:  # the named value node below shows the gradient
            place(f"op{op_id}", text, "op", keys[node])
            value = labels.name + ("\n" + _shape_text(labels.shapes[0]) if "shape" in show else "")
            place(f"value{op_id}", value + gradient_line(node), "value", keys[node], coloured(node, "value"))
            walk.edges.append((f"op{op_id}", f"value{op_id}"))
        else:
            place(f"op{op_id}", text + gradient_line(node), "op", keys[node], coloured(node, "op"))
    for tensor in outputs:  # a leaf passed as an output is drawn as that leaf
        if tensor.grad_fn is None:
            walk.leaf_name(tensor)
    for leaf_id, leaf in enumerate(walk.leaves):
        label, kind = leaf_label(leaf, names)
        text = label + (("\n" + _shape_text(leaf.shape)) if "shape" in show else "")
        if "dtype" in show:
            text += f"\n{leaf.dtype}"
        if "value" in show:
            text += f"\nmean {float(leaf.data.mean()):.3g}, norm {norm_of(leaf.data):.3g}"
        if "grad" in show and leaf.grad is not None:
            text += f"\n|grad| {norm_of(leaf.grad.data):.3g}"
        place(f"leaf{leaf_id}", text + gradient_line(id(leaf)), kind, None, coloured(id(leaf), kind))
    for out_id, tensor in enumerate(outputs):
        text = (tensor.name or "output") + ("\n" + _shape_text(tensor.shape) if "shape" in show else "")
        plain.append((f"out{out_id}", text, dict(STYLE["output"])))
        source = walk.value_name(tensor.grad_fn, tensor._out_index) if tensor.grad_fn is not None \
            else walk.leaf_name(tensor)
        walk.edges.append((source, f"out{out_id}"))

    # ---- emit ---------------------------------------------------------------------------------
    import graphviz  # imported when a picture is made: importing the library stays quick

    from .picture import Picture

    dot = Picture(name="tinygrad_rnn", graph_attr={"rankdir": rankdir, "fontname": "Helvetica",
                                                             "newrank": "true"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10"},
                           edge_attr={"arrowsize": "0.6"})
    for name, label, attributes in plain:
        dot.node(name, graphviz.escape(label), **attributes)
    for index, key in enumerate(clusters_order):
        if key in clusters:
            with dot.subgraph(name=f"cluster_{index}") as cluster:
                cluster.attr(label=graphviz.escape(_cluster_label(key)), style="rounded,dashed",
                             color="#888888", fontname="Helvetica")
                for name, label, attributes in clusters[key]:
                    cluster.node(name, graphviz.escape(label), **attributes)
    if collapse == "timestep":
        for index, key in enumerate(clusters_order):
            members = [node for node in walk.ops if keys[node] == key]
            text = f"{_cluster_label(key)}\n{len(members)} ops"
            attributes = dict(STYLE["step"])
            state = [node for node in members if info(node).name == "h" and node in norms]
            if state:  # a step is as warm as the gradient reaching its hidden state
                text += "\n" + _gradient_text(norms[state[-1]], of="h")
                attributes.update(coloured(state[-1], "step"))
            dot.node(f"step{index}", graphviz.escape(text), **attributes)
    for prefix, index in prefix_index.items():
        hidden = len(by_prefix[prefix]) - len([k for k in kept if k[:-1] == prefix])
        if hidden:
            dot.node(f"elided{index}", graphviz.escape(f"... {hidden} more steps ..."), **STYLE["elided"])
    step_of_name = {}
    for node in walk.ops:
        if keys[node]:
            step_of_name[f"op{walk.op_ids[node]}"] = step_of_name[f"value{walk.op_ids[node]}"] = keys[node]
    pairs, seen = [], set()
    for source, target in walk.edges:
        a, b = representative.get(source, source), representative.get(target, target)
        if a != b and (a, b) not in seen:
            seen.add((a, b))
            crosses = (step_of_name.get(source) and step_of_name.get(target)
                       and step_of_name[source] != step_of_name[target])
            pairs.append((a, b, bool(crosses)))
    for a, b, crosses in _fewer_fan_edges(pairs) if collapse == "timestep" else pairs:
        dot.edge(a, b, **(RECURRENT_EDGE if crosses is True else crosses or {}))
    if norms:
        _legend(dot, log_range)
    dot.walk, dot.representative, dot.step_keys = walk, representative, clusters_order
    return dot


def _fewer_fan_edges(pairs: list) -> list:
    """In the collapsed view, a node feeding (or fed by) every step would draw one edge per
    step; draw one dashed edge labelled "every step" to the first (from the last) instead."""
    is_step = lambda name: name.startswith(("step", "elided"))  # noqa: E731
    fan_out: dict[str, list] = {}
    fan_in: dict[str, list] = {}
    for a, b, _ in pairs:
        if is_step(b) and not is_step(a):
            fan_out.setdefault(a, []).append(b)
        if is_step(a) and not is_step(b):
            fan_in.setdefault(b, []).append(a)
    shared = dict(style="dashed", label="every step", fontsize="9", color="#777777")
    kept = []
    order = lambda name: int("".join(ch for ch in name if ch.isdigit()) or 0)  # noqa: E731
    for a, b, crosses in pairs:
        if a in fan_out and len(fan_out[a]) > 2:
            if b == min(fan_out[a], key=order):
                kept.append((a, b, shared))
        elif b in fan_in and len(fan_in[b]) > 2:
            if a == max(fan_in[b], key=order):
                kept.append((a, b, shared))
        else:
            kept.append((a, b, crosses))
    return kept


def _number_text(value: float) -> str:
    """A gradient norm for a label: ``7.9e-03`` (two significant digits), or ``0``."""
    return "0" if value == 0 else f"{value:.1e}"


def _gradient_text(norm: float, of: str | None = None) -> str:
    """The label line of a gradient norm: ``grad norm = 7.9e-03``, or ``grad norm of h = ...``
    for a node that stands for a value it does not hold itself (a collapsed step)."""
    subject = f"grad norm of {of}" if of else "grad norm"
    return f"{subject} = {_number_text(norm)}"


def _zero_gradient_look(style: str) -> dict:
    """The attributes of a node whose gradient is exactly zero, for a node drawn with ``style``."""
    return {**ZERO_GRADIENT, "style": style + ",dashed"}


def _log_range(norms: Iterable[float]) -> tuple[float, float] | None:
    """(smallest, largest) log10 of the non-zero norms: the two ends of the colour scale.
    None when no norm is above zero (then there is no scale, only the zero look)."""
    logs = [math.log10(v) for v in norms if v > 0]
    return (min(logs), max(logs)) if logs else None


def _fraction(norm: float, log_range: tuple[float, float]) -> float:
    """Where a non-zero ``norm`` sits on the colour scale: 0 at the smallest norm, 1 at the largest."""
    low, high = log_range
    return 0.5 if high == low else (math.log10(norm) - low) / (high - low)


def _legend(dot: "graphviz.Digraph", log_range: tuple[float, float] | None) -> None:
    """The colour key, top to bottom: the zero-gradient look, then LEGEND_STOPS colours
    labelled with the norms they stand for, smallest first (none when every norm is zero)."""
    entries = [("legend_zero", "0 (no gradient)", _zero_gradient_look("filled"))]
    if log_range is not None:
        low, high = log_range
        for k in range(LEGEND_STOPS):
            fraction = k / (LEGEND_STOPS - 1)
            entries.append((f"legend{k}", _number_text(10 ** (low + (high - low) * fraction)),
                            {"style": "filled", "fillcolor": _heat_colour(fraction)}))
    with dot.subgraph(name="cluster_legend") as legend:
        legend.attr(label="grad norm (log colour scale)", style="rounded", color="#888888",
                    fontname="Helvetica")
        for name, label, attributes in entries:
            legend.node(name, label, shape="box", **attributes)
        for (above, _, _), (below, _, _) in zip(entries, entries[1:]):
            legend.edge(above, below, style="invis")
