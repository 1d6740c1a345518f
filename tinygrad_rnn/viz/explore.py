"""``explore``: one self-contained HTML page in which to watch backward happen.

The page holds the graph drawn by the renderer (SVG, as ``render`` draws it), the facts of
every node as JSON, and a small script and style sheet (explorer.js and explorer.css,
beside this file), all inlined: no network, no other files. In the page you can:
- pan and zoom, and click a node for its op, scope, shape, dtype, value and gradient
  statistics, and the derivative its op's backward applies (the ``# d ...`` comment
  written beside it in ``ops/``);
- step through backward in exactly the order the engine ran it (recorded by its observer,
  not recomputed); each step lights the node, the edges its gradient goes out on with their
  norms, and the arrivals summed into it;
- for unrolled layers, move a time-step slider, switch between the clustered and the
  collapsed views, and read the curve of ||dL/dh_t||.

What the page knows comes from what was recorded: run forward and ``backward()`` inside
``viz.recording()`` for values, gradient statistics and per-edge norms; after a plain
``backward()`` it has the order and each node's gradient norm, and says what it lacks.
"""
from __future__ import annotations

import html
import inspect
import json
import os
import re
from functools import lru_cache
from typing import Any

from ..core.autograd import Function
from ..core.tensor import Tensor
from ..files import write_atomically
from .dot import LARGE_GRAPH, _Walk, leaf_label, parameter_names, step_key, step_of, to_dot
from .record import BackwardRecord, info, record_for, statistics
from .render import render_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS_KEPT = 2  # a large graph's expanded view keeps this many first and last steps


class Explorer:
    """What ``explore`` returns: the page's ``path`` and ``html``; shown inline in Jupyter."""

    def __init__(self, path: str | None, page: str) -> None:
        self.path, self.html = path, page

    def _repr_html_(self) -> str:
        # the page runs in its own frame, so its script and style touch nothing else
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width: 100%; '
                'height: 640px; border: 1px solid #ccc"></iframe>')

    def __repr__(self) -> str:
        return f"Explorer(path={self.path!r}, {len(self.html):,} characters)"


def explore(*outputs: Tensor, path: str | None = "graph.html", params: Any = None, show: tuple = ("shape",),
            rankdir: str = "TB", group: str | None = "timestep", collapse: str | None = None,
            steps: tuple[int, int] | None = None, grad_flow: bool = False, backward_order: bool = False,
            program: Any = None, title: str = "tinygrad_rnn graph", record: bool = True) -> Explorer:
    """Write the graph of ``outputs`` as an interactive page to ``path`` (None: only return it).

    The picture options are ``render``'s (``to_dot``'s): ``params``, ``show``, ``rankdir``,
    ``group`` and ``steps`` shape the expanded view; ``collapse="timestep"`` opens the page on
    the collapsed view (one node per time step); ``grad_flow`` and ``backward_order`` colour
    and number the nodes in both. ``program`` (a compiled step or its ``.program``) puts its
    listing beside the graph. With ``record`` the backward stepper uses the last
    ``backward()`` from the first output (or a pass run now, storing no ``.grad``). Graphs of
    more than ``LARGE_GRAPH`` ops open collapsed, and their expanded view keeps only the
    first and last ``STEPS_KEPT`` steps (the page says so).
    """
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError("explore: pass one or more tensors (e.g. the loss)")
    if collapse not in (None, "none", "timestep"):
        raise ValueError(f"explore: collapse must be 'timestep' or None, got {collapse!r}")
    walk = _Walk(outputs)
    large = len(walk.ops) > LARGE_GRAPH
    kept = steps if steps is not None else (STEPS_KEPT, STEPS_KEPT) if large else None
    options = dict(params=params, show=show, rankdir=rankdir, grad_flow=grad_flow, backward_order=backward_order)
    expanded = to_dot(*outputs, group=group, steps=kept, **options)
    views = {"expanded": expanded}
    if expanded.step_keys or kept is not None or collapse == "timestep":
        views["collapsed"] = to_dot(*outputs, collapse="timestep", **options)
    opens_collapsed = (large or collapse == "timestep") and "collapsed" in views and views["collapsed"].step_keys
    backward = _backward(outputs[0], walk) if record and outputs[0].grad_fn is not None else None
    data = {
        "title": title,
        "views": list(views),
        "defaultView": "collapsed" if opens_collapsed else "expanded",
        "nodes": _nodes(walk, views, params),
        "edges": [{"source": a, "target": b} for a, b in walk.edges],
        "backward": backward,
        "timesteps": _timesteps(expanded, views.get("collapsed"), backward, walk),
        "program": None if program is None else str(getattr(program, "program", program)),
        "elided": (f"{len(walk.ops):,} ops: the expanded view keeps the first {kept[0]} and last {kept[1]} "
                   "time steps of each layer; every step is one node in the collapsed view")
                  if kept is not None else None,
        "opCount": len(walk.ops),
    }
    svgs = {name: _svg(picture, name) for name, picture in views.items()}
    page = _page(title, data, svgs)
    if path is not None:
        write_atomically(path, lambda stream: stream.write(page.encode("utf-8")))
    return Explorer(path, page)


# ---- the facts of each node ----------------------------------------------------------------------
def _nodes(walk: _Walk, views: dict, params: Any) -> dict[str, dict]:
    """Picture name -> what the side panel shows about it."""
    names = parameter_names(params)
    nodes: dict[str, dict] = {}
    for node in walk.ops:
        labels = info(node)
        key = step_key(node)
        facts = {"kind": "op", "op": node.name, "label": node.name, "scope": list(labels.scope),
                 "step": None if key is None else step_of(key), "shape": [list(s) for s in labels.shapes],
                 "dtype": str(labels.dtype), "formula": derivative_of(type(node)), "value": labels.value,
                 "tag": labels.name}
        nodes[walk.op_name(node)] = facts
        if labels.name:
            nodes[f"value{walk.op_ids[node]}"] = {**facts, "kind": "value", "label": labels.name, "of": walk.op_name(node)}
    for index, leaf in enumerate(walk.leaves):
        label, kind = leaf_label(leaf, names)
        nodes[f"leaf{index}"] = {"kind": kind, "op": None, "label": label, "scope": [], "step": None,
                                 "shape": [list(leaf.shape)], "dtype": str(leaf.dtype), "formula": None,
                                 "value": statistics([leaf.data]),
                                 "grad": statistics([leaf.grad.data]) if leaf.grad is not None else None}
    for picture in views.values():  # step and elision nodes of the collapsed views
        for member, stands_for in picture.representative.items():
            if stands_for not in nodes:
                step = stands_for.startswith("step")
                label = ", ".join(picture.step_keys[int(stands_for[4:])]) if step else "elided time steps"
                nodes[stands_for] = {"kind": "step" if step else "elided", "label": label, "members": []}
            nodes[stands_for]["members"].append(member)
    return nodes


@lru_cache(maxsize=None)
def derivative_of(op: type) -> str | None:
    """The derivative an op's backward applies, as written in the comment beside it
    (``# d tanh(x)/dx = 1 - tanh(x)^2``); None for ops without one."""
    if op.backward is Function.backward:
        return None
    try:
        source = inspect.getsource(op.backward)
    except (OSError, TypeError):  # defined interactively: no source to read
        return None
    lines = [line.strip()[2:] for line in source.splitlines() if re.match(r"\s*# .*/d", line)]  # a ratio dy/dx
    return "\n".join(lines) or None


# ---- what backward did -------------------------------------------------------------------------
def _backward(loss: Tensor, walk: _Walk) -> dict | None:
    """The stepper's script: the nodes in the engine's order, each with the gradient it
    received (the sum of its arrivals) and the gradients it sent to its parents."""
    try:
        record: BackwardRecord = record_for(loss, detailed=True)
    except (ValueError, RuntimeError) as error:
        return {"steps": [], "detailed": False, "note": str(error)}
    steps, arrivals = [], {}  # picture name -> [(from, norm)] of gradients that reached it
    for node in record.order:
        if node not in walk.op_ids:
            continue
        name = walk.op_name(node)
        sent = record.sent.get(node)
        sends = []
        for position, edge in enumerate(node.parents):
            if edge is None:
                continue
            source, index = edge
            target = walk.value_name(source, index) if isinstance(source, Function) else walk.leaf_name(source)
            norm = None if sent is None else sent[position]
            if norm is None and sent is not None:
                continue  # no gradient went that way
            sends.append({"to": target, "edge": [target, name], "norm": norm})
            arrivals.setdefault(_receiver(target), []).append({"from": name, "norm": norm})
        steps.append({"node": name, "received": record.norm(node), "grad": record.grad_stats.get(node),
                      "arrivals": arrivals.pop(name, []), "sends": sends})
    leaves = {}
    for index, leaf in enumerate(walk.leaves):
        norm = record.leaf_norm(leaf)
        leaves[f"leaf{index}"] = {"received": norm, "arrivals": arrivals.get(f"leaf{index}", [])}
    note = None if record.detailed else (
        "Recorded by a plain backward(): the order and each node's gradient norm are known. For "
        "values, gradient statistics and the norm on each edge, run the forward and backward "
        "inside `with tinygrad_rnn.viz.recording():`.")
    return {"steps": steps, "leaves": leaves, "detailed": record.detailed, "note": note}


def _receiver(picture_name: str) -> str:
    """The op a gradient sent to ``picture_name`` reaches (a tagged value's own op)."""
    return "op" + picture_name[len("value"):] if picture_name.startswith("value") else picture_name


# ---- time steps --------------------------------------------------------------------------------
def _timesteps(expanded: Any, collapsed: Any, backward: dict | None, walk: _Walk) -> dict | None:
    """The steps drawn (cluster and collapsed node of each) and ||dL/dh_t|| per step."""
    keys = (collapsed or expanded).step_keys
    if not keys:
        return None
    drawn = {key: index for index, key in enumerate(expanded.step_keys)}
    received = {step["node"]: step["received"] for step in (backward or {}).get("steps", [])}
    h_norms: dict[tuple, float] = {}
    for node in walk.ops:
        labels = info(node)
        key = step_key(node)
        if labels.name == "h" and key is not None and received.get(walk.op_name(node)) is not None:
            h_norms[key] = received[walk.op_name(node)]
    return {"steps": [{"label": ", ".join(key), "t": step_of(key), "group": ", ".join(key[:-1]),
                       "cluster": f"cluster_{drawn[key]}" if key in drawn else None,
                       "stepNode": f"step{index}" if collapsed is not None else None,
                       "hNorm": h_norms.get(key)} for index, key in enumerate(keys)]}


# ---- the page ----------------------------------------------------------------------------------
def _svg(picture: Any, view: str) -> str:
    """The picture as SVG markup to inline: the XML prologue and doctype dropped, and the
    renderer's element ids (``node1``, ``clust2``) prefixed with the view, so that two views
    in one page never share an id."""
    svg = render_bytes(picture.source, "svg").decode("utf-8")
    return svg[svg.index("<svg"):].replace(' id="', f' id="{view}-')


def _script_json(data: dict) -> str:
    """JSON that is safe inside <script>: no "<", ">" or "&" can end the element or start markup."""
    text = json.dumps(data, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    """A copy of ``value`` with every float NaN or infinity written as a string (JSON has no
    form for them; the page shows the string)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _asset(name: str) -> str:
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        return handle.read()


def _page(title: str, data: dict, svgs: dict[str, str]) -> str:
    views = "\n".join(f'<div class="tg-view" data-view="{name}">{svg}</div>' for name, svg in svgs.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
{_asset("explorer.css")}
</style>
</head>
<body>
<div id="tg-app">
<div id="tg-graph">
{views}
</div>
<div id="tg-side"></div>
</div>
<script type="application/json" id="tg-data">{_script_json(_finite(data))}</script>
<script>
{_asset("explorer.js")}
</script>
</body>
</html>
"""
