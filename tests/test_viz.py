"""Specification of ``tinygrad_rnn.viz`` as DOT text (no renderer needed, except where one
test checks that an escaped name renders verbatim): time-step clusters, gate and parameter
names, recurrent edges, determinism, large graphs, the collapsed and elided views, backward
order, gradient-flow colours, escaping, ``scope``/``tag`` and the gradient-norm helpers."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn.functional import mse_loss

RED = "#b2182b"  # the colour of recurrent edges
GATES = {"lstm": ("input gate", "forget gate", "candidate cell", "output gate"),
         "gru": ("reset and update gates", "new state")}
LSTM_PARAMETERS = ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                   "head.weight")
NODE_NAME = re.compile(r"(op|value|leaf|out|step|elided|legend)(\d+)")


# ---- a small DOT reader: enough of the language to check what to_dot writes ----------------
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|<[^>]*>|->|[\[\]{};=,]|[^\s\[\]{};=,"<]+', re.S)


class Dot:
    """Nodes (name -> attributes, with ``cluster`` = innermost subgraph or None), edges
    (source, target, attributes) and clusters (name -> attributes) of a DOT source.
    Attribute values are kept as written (quoted strings keep their quotes)."""

    def __init__(self, source: str) -> None:
        self.nodes: dict[str, dict] = {}
        self.edges: list[tuple[str, str, dict]] = []
        self.clusters: dict[str, dict] = {}
        tokens, i, path = _TOKEN.findall(source), 0, []
        assert tokens[0] == "digraph", tokens[:3]
        i = tokens.index("{") + 1

        def attributes() -> dict:
            nonlocal i
            found = {}
            if i < len(tokens) and tokens[i] == "[":
                i += 1
                while tokens[i] != "]":
                    if tokens[i] in (",", ";"):
                        i += 1
                        continue
                    assert tokens[i + 1] == "=", tokens[i:i + 3]
                    found[tokens[i]] = tokens[i + 2]
                    i += 3
                i += 1
            return found

        while i < len(tokens):
            token = tokens[i]
            if token == "}":
                if path:
                    path.pop()
                i += 1
            elif token == ";":
                i += 1
            elif token == "subgraph":
                path.append(tokens[i + 1])
                self.clusters[tokens[i + 1]] = {}
                assert tokens[i + 2] == "{"
                i += 3
            elif tokens[i + 1] == "=":  # a subgraph's own attribute (label=..., style=...)
                if path:
                    self.clusters[path[-1]][token] = tokens[i + 2]
                i += 3
            elif token in ("graph", "node", "edge"):
                i += 1
                attributes()
            elif tokens[i + 1] == "->":
                source_name, target_name = token, tokens[i + 2]
                i += 3
                self.edges.append((source_name, target_name, attributes()))
            else:
                assert token not in self.nodes, f"node {token} defined twice"
                i += 1
                self.nodes[token] = {**attributes(), "cluster": path[-1] if path else None}

    def label(self, name: str) -> str:
        """A node's label as it is displayed (DOT quoting and graphviz.escape undone)."""
        return text(self.nodes[name].get("label", name))

    def first_line(self, name: str) -> str:
        return self.label(name).split("\n")[0]

    def named(self, prefix: str) -> list[str]:
        return [n for n in self.nodes if n.startswith(prefix) and n[len(prefix):].isdigit()]

    def time_clusters(self) -> dict[str, int]:
        """Cluster name -> time step, for the clusters labelled ``..., t=N``."""
        steps = {}
        for name, attributes in self.clusters.items():
            found = re.search(r"t=(\d+)", text(attributes.get("label", "")))
            if found:
                steps[name] = int(found.group(1))
        return steps


def text(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r'\\(["\\])', r"\1", value[1:-1])
    return value


# ---- models ---------------------------------------------------------------------------------
class Tiny(nn.Module):
    """A recurrent layer (attribute named after its cell) and a one-unit linear head."""

    def __init__(self, cell: str, hidden: int = 4, inputs: int = 2) -> None:
        super().__init__()
        self.cell = cell
        setattr(self, cell, {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](inputs, hidden))
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = getattr(self, self.cell)(x)
        return self.head(out[-1])


def tiny_loss(cell: str = "lstm", steps: int = 3, seed: int = 0, hidden: int = 4):
    """(model, loss) for a seeded model run over ``steps`` time steps of one sequence."""
    tg.manual_seed(seed)
    model = Tiny(cell, hidden)
    loss = mse_loss(model(tg.randn(steps, 1, 2)), tg.zeros(1, 1))
    return model, loss


@pytest.fixture
def lstm():
    return tiny_loss("lstm")


@pytest.fixture
def lstm_dot(lstm):
    model, loss = lstm
    return Dot(viz.to_dot(loss, params=model, group="timestep").source)


# ---- time-step clusters -----------------------------------------------------------------------
def test_timestep_grouping_draws_one_cluster_per_step(lstm):
    model, loss = lstm
    source = viz.to_dot(loss, params=model, group="timestep").source
    clusters = re.findall(r"subgraph (cluster_\w+)", source)
    assert "cluster_legend" not in clusters
    assert len(clusters) == 3
    labels = [text(Dot(source).clusters[name]["label"]) for name in clusters]
    assert [re.search(r"t=(\d+)", label).group(1) for label in labels] == ["0", "1", "2"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_step_shows_each_gate_once(cell):
    """Each gate's name labels one value in each step (the GRU may draw r and z as one
    node computed side by side, labelled with both names)."""
    model, loss = tiny_loss(cell)
    dot = Dot(viz.to_dot(loss, params=model, group="timestep").source)
    steps = dot.time_clusters()
    assert sorted(steps.values()) == [0, 1, 2]
    for gate in GATES[cell]:
        holders = [dot.nodes[n]["cluster"] for n in dot.named("value") if gate in dot.first_line(n)]
        assert len(holders) == 3, f"{gate!r} drawn {len(holders)} times"
        assert sorted(steps[c] for c in holders) == [0, 1, 2], gate


def test_hidden_and_cell_states_are_drawn_in_every_step(lstm_dot):
    steps = lstm_dot.time_clusters()
    for state in ("h", "c"):
        holders = [lstm_dot.nodes[n]["cluster"] for n in lstm_dot.named("value")
                   if lstm_dot.first_line(n) == state]
        assert sorted(steps[c] for c in holders) == [0, 1, 2], state


# ---- parameter names ----------------------------------------------------------------------------
def test_parameters_are_labelled_with_their_module_paths_and_drawn_once(lstm_dot):
    firsts = [lstm_dot.first_line(n) for n in lstm_dot.nodes]
    for name in LSTM_PARAMETERS:
        assert firsts.count(name) == 1, f"{name} drawn {firsts.count(name)} times"


def test_each_parameter_is_one_leaf_node(lstm):
    model, loss = lstm
    dot = Dot(viz.to_dot(loss, params=model, group="timestep").source)
    leaves = sorted(dot.first_line(n) for n in dot.named("leaf"))
    assert leaves == sorted(name for name, _ in model.named_parameters())


def test_a_dict_of_names_labels_parameters_too(lstm):
    model, loss = lstm
    names = {f"my.{name}": p for name, p in model.named_parameters()}
    dot = Dot(viz.to_dot(loss, params=names).source)
    assert sorted(dot.first_line(n) for n in dot.named("leaf")) == sorted(names)


def test_a_leaf_passed_as_an_output_is_drawn_as_its_named_parameter(lstm):
    model, _ = lstm
    dot = Dot(viz.to_dot(model.head.weight, params=model).source)
    ((source, target, _),) = dot.edges
    assert target == "out0"
    assert source in dot.nodes, f"edge {source} -> out0 points at a node that is never drawn"
    assert dot.first_line(source) == "head.weight"


# ---- recurrent edges ----------------------------------------------------------------------------
def test_recurrent_edges_join_consecutive_steps_in_red_for_h_and_c(lstm_dot):
    dot, steps = lstm_dot, lstm_dot.time_clusters()
    crossing = set()
    for source, target, attributes in dot.edges:
        a, b = dot.nodes[source]["cluster"], dot.nodes[target]["cluster"]
        if a in steps and b in steps and a != b:
            assert text(attributes.get("color", "")) == RED, (source, target, attributes)
            assert steps[b] == steps[a] + 1, (source, target)
            crossing.add((dot.first_line(source), steps[a]))
    assert crossing == {("h", 0), ("c", 0), ("h", 1), ("c", 1)}


def test_only_edges_between_steps_are_red(lstm_dot):
    steps = lstm_dot.time_clusters()
    for source, target, attributes in lstm_dot.edges:
        if text(attributes.get("color", "")) == RED:
            assert lstm_dot.nodes[source]["cluster"] in steps
            assert lstm_dot.nodes[target]["cluster"] in steps


# ---- determinism and node names -------------------------------------------------------------------
@pytest.mark.parametrize("options", [dict(group="timestep"), dict(group="timestep", grad_flow=True),
                                     dict(collapse="timestep", grad_flow=True)],
                         ids=["clusters", "clusters-gradient-flow", "collapsed-gradient-flow"])
def test_the_same_model_built_twice_gives_byte_identical_dot(options):
    sources = []
    for _ in range(2):
        model, loss = tiny_loss("lstm", seed=7)
        sources.append(viz.to_dot(loss, params=model, **options).source)
    assert sources[0] == sources[1]


_PROGRAM = """
import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
tg.manual_seed(3)
layer = nn.GRU(2, 3, num_layers=2, bidirectional=True)
out, h = layer(tg.randn(5, 1, 2))
loss = (out * out).sum()
print(viz.to_dot(loss, params=layer, group="timestep", steps=(1, 1)).source, end="")
"""


def test_dot_does_not_depend_on_the_hash_seed_of_the_process():
    sources = set()
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True,
                              env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        sources.add(done.stdout)
    assert len(sources) == 1


def test_node_names_count_nodes_and_are_not_addresses(lstm_dot):
    names = list(lstm_dot.nodes) + [n for s, t, _ in lstm_dot.edges for n in (s, t)]
    for name in names:
        assert NODE_NAME.fullmatch(name), name
        assert int(NODE_NAME.fullmatch(name).group(2)) < len(lstm_dot.nodes), name


# ---- large graphs --------------------------------------------------------------------------------
def test_a_hundred_thousand_node_chain_converts_without_recursion_and_warns():
    x = tg.randn(2, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = -y
    assert sys.getrecursionlimit() < 100_000
    with pytest.warns(UserWarning, match="collapse"):
        source = viz.to_dot(y).source
    assert len(re.findall(r"^\top\d+ \[", source, re.M)) == 100_000
    assert "leaf0 -> op99999" in source


def test_a_small_graph_does_not_warn(lstm, recwarn):
    viz.to_dot(lstm[1], group="timestep")
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# ---- collapsed and elided views --------------------------------------------------------------------
def test_collapse_draws_each_step_as_one_box3d_node(lstm):
    model, loss = lstm
    full = Dot(viz.to_dot(loss, params=model).source)
    collapsed = Dot(viz.to_dot(loss, params=model, collapse="timestep").source)
    steps = collapsed.named("step")
    assert len(steps) == 3
    assert all(collapsed.nodes[s]["shape"] == "box3d" for s in steps)
    assert sorted(re.search(r"t=(\d)", collapsed.label(s)).group(1) for s in steps) == ["0", "1", "2"]
    assert len(collapsed.nodes) < len(full.nodes)
    assert not any(collapsed.first_line(n) in GATES["lstm"] for n in collapsed.nodes)


def test_collapsed_steps_are_chained_by_red_edges(lstm):
    dot = Dot(viz.to_dot(lstm[1], collapse="timestep").source)
    step_of = {s: int(re.search(r"t=(\d)", dot.label(s)).group(1)) for s in dot.named("step")}
    red = {(step_of[a], step_of[b]) for a, b, attributes in dot.edges
           if text(attributes.get("color", "")) == RED}
    assert red == {(0, 1), (1, 2)}


def test_steps_keeps_the_first_and_last_and_elides_the_middle():
    tg.manual_seed(0)
    rnn = nn.RNN(2, 3)
    out, _ = rnn(tg.randn(6, 1, 2))
    loss = mse_loss(out[-1], tg.zeros(1, 3))
    dot = Dot(viz.to_dot(loss, params=rnn, group="timestep", steps=(1, 1)).source)
    assert sorted(dot.time_clusters().values()) == [0, 5]
    (elided,) = dot.named("elided")
    assert "4 more steps" in dot.label(elided)
    connected = {n for s, t, _ in dot.edges for n in (s, t)}
    assert elided in connected


# ---- backward order -------------------------------------------------------------------------------
def test_backward_order_numbers_ops_from_the_loss(lstm):
    model, loss = lstm
    dot = Dot(viz.to_dot(loss, params=model, backward_order=True).source)
    number = {}
    for name in dot.named("op"):
        found = re.match(r"\[(\d+)\] ", dot.label(name))
        assert found, f"{name} is not numbered: {dot.label(name)!r}"
        number[name] = int(found.group(1))
    assert sorted(number.values()) == list(range(1, len(number) + 1))
    (into_output,) = [s for s, t, _ in dot.edges if t == "out0"]
    assert number[into_output] == 1


def test_backward_order_visits_an_op_after_all_ops_that_use_its_output(lstm):
    dot = Dot(viz.to_dot(lstm[1], backward_order=True).source)
    number = {n: int(re.match(r"\[(\d+)\]", dot.label(n)).group(1)) for n in dot.named("op")}
    as_op = lambda name: "op" + name[len("value"):] if name.startswith("value") else name  # noqa: E731
    for source, target, _ in dot.edges:
        a, b = as_op(source), as_op(target)
        if a in number and b in number and a != b:
            assert number[b] < number[a], f"{b} (uses {a}) numbered {number[b]} after {number[a]}"


# ---- gradient flow ----------------------------------------------------------------------------------
def _assert_gradient_colours(dot: Dot) -> None:
    assert "cluster_legend" in dot.clusters
    assert len(dot.named("legend")) == 5
    fills = {text(dot.nodes[n]["fillcolor"]) for n in dot.named("op") + dot.named("leaf")}
    assert len(fills - {"#e8e8e8", "#c6dbef", "#c7e9c0"}) >= 5, fills
    assert all(re.fullmatch(r"#[0-9a-f]{6}", f) for f in fills)


def test_grad_flow_colours_nodes_and_adds_a_legend_before_backward(lstm):
    model, loss = lstm
    _assert_gradient_colours(Dot(viz.to_dot(loss, params=model, grad_flow=True, group="timestep").source))
    assert all(p.grad is None for p in model.parameters())


def test_grad_flow_works_after_backward_with_retain_graph_and_leaves_grads_alone(lstm):
    model, loss = lstm
    loss.backward(retain_graph=True)
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    _assert_gradient_colours(Dot(viz.to_dot(loss, params=model, grad_flow=True).source))
    assert all(np.array_equal(g, p.grad.numpy()) for g, p in zip(grads, model.parameters()))


def test_grad_flow_after_a_plain_backward_draws_what_backward_recorded(lstm):
    model, loss = lstm
    before = viz.to_dot(loss, params=model, grad_flow=True).source
    loss.backward()  # frees the saved values: the colours come from what it recorded
    after = viz.to_dot(loss, params=model, grad_flow=True).source
    _assert_gradient_colours(Dot(after))
    assert after == before


def test_backward_order_after_a_plain_backward_is_the_order_backward_ran(lstm):
    model, loss = lstm
    before = viz.to_dot(loss, backward_order=True).source
    loss.backward()
    assert viz.to_dot(loss, backward_order=True).source == before


def test_the_pictures_need_gradient_recording_after_backward_and_say_so(lstm):
    model, loss = lstm
    viz.record_gradients(False)
    try:
        loss.backward()
    finally:
        viz.record_gradients(True)
    with pytest.raises(RuntimeError, match="second time"):
        viz.to_dot(loss, grad_flow=True)


def test_grad_flow_needs_a_scalar_output(lstm):
    model, _ = lstm
    out, _ = model.lstm(tg.randn(3, 1, 2))
    with pytest.raises(ValueError, match="scalar"):
        viz.to_dot(out, grad_flow=True)


# ---- gradient flow: exactly zero gradients, gradient labels, legend numbers --------------------------
NORM = r"0|\d\.\de[+-]\d\d"  # how a gradient norm is written: 0, or two digits as in 7.9e-03


def dead_relu_loss() -> tuple[dict, tg.Tensor]:
    """({"w": w, "v": v}, sum(relu(2 w) + v * v)) with w < 0: the relu passes nothing back, so
    the op ``2 w`` and the leaf ``w`` receive exactly zero gradient, everything else more."""
    w = tg.tensor([-1.0, -2.0], requires_grad=True)
    v = tg.tensor([0.5, 1.5], requires_grad=True)
    return {"w": w, "v": v}, ((w * 2).relu() + v * v).sum()


def gradient_norm_in(label: str, of: str = "") -> float:
    """The norm written on a label's last line, which must read in full ``grad norm = 7.9e-03``
    (``grad norm of h = ...`` with ``of="h"``)."""
    subject = f"grad norm of {of}" if of else "grad norm"
    found = re.fullmatch(rf"{subject} = ({NORM})", label.split("\n")[-1])
    assert found, f"the label {label!r} does not end with a complete gradient norm"
    return float(found.group(1))


def is_dashed(dot: Dot, name: str) -> bool:
    return "dashed" in text(dot.nodes[name].get("style", ""))


@pytest.mark.parametrize("backward_first", [False, True], ids=["before-backward", "after-backward"])
def test_an_exactly_zero_gradient_has_a_look_of_its_own_explained_in_the_legend(backward_first):
    params, loss = dead_relu_loss()
    if backward_first:
        loss.backward()
    dot = Dot(viz.to_dot(loss, params=params, grad_flow=True).source)
    (w,) = [n for n in dot.named("leaf") if dot.first_line(n) == "w"]
    (doubled,) = [target for source, target, _ in dot.edges if source == w]
    drawn = dot.named("op") + dot.named("leaf")
    assert {n for n in drawn if is_dashed(dot, n)} == {w, doubled}

    key = dot.nodes["legend_zero"]
    assert dot.label("legend_zero") == "0 (no gradient)" and is_dashed(dot, "legend_zero")
    zero_fill = text(key["fillcolor"])
    red, green, blue = (int(zero_fill[i:i + 2], 16) for i in (1, 3, 5))
    assert red == green == blue, "a grey, which the blue-yellow-red scale never produces"
    for name in (w, doubled):
        assert text(dot.nodes[name]["fillcolor"]) == zero_fill
        assert dot.nodes[name]["color"] == key["color"]
        assert gradient_norm_in(dot.label(name)) == 0.0
    scale = {text(dot.nodes[n]["fillcolor"]) for n in dot.named("legend")}
    others = {text(dot.nodes[n]["fillcolor"]) for n in drawn if n not in (w, doubled)}
    assert zero_fill not in scale | others
    assert all(gradient_norm_in(dot.label(n)) > 0 for n in drawn if n not in (w, doubled))


def test_the_lstm_forget_gate_at_t0_multiplies_the_zero_initial_cell_so_it_is_drawn_as_zero(lstm):
    model, loss = lstm
    dot = Dot(viz.to_dot(loss, params=model, grad_flow=True, group="timestep").source)
    steps = dot.time_clusters()
    zero = [n for n in dot.named("value") if gradient_norm_in(dot.label(n)) == 0]
    assert [(dot.first_line(n), steps[dot.nodes[n]["cluster"]]) for n in zero] == [("forget gate", 0)]
    (gate,) = zero
    assert is_dashed(dot, gate)
    assert dot.nodes[gate]["fillcolor"] == dot.nodes["legend_zero"]["fillcolor"]


def test_ops_values_and_leaves_are_labelled_with_their_full_gradient_norm(lstm):
    model, loss = lstm
    source = viz.to_dot(loss, params=model, grad_flow=True, group="timestep").source
    dot = Dot(source)
    for name in dot.named("op"):
        if f"value{name[2:]}" in dot.nodes:  # a tagged op: its value node carries the norm
            assert "grad norm" not in dot.label(name)
        else:
            gradient_norm_in(dot.label(name))
    for name in dot.named("value"):
        gradient_norm_in(dot.label(name))
    loss.backward()
    parameters = dict(model.named_parameters())
    for name in dot.named("leaf"):
        expected = np.linalg.norm(parameters[dot.first_line(name)].grad.numpy())
        assert gradient_norm_in(dot.label(name)) == pytest.approx(expected, rel=0.05)
    assert "|dL/d|" not in source


def test_collapsed_steps_are_labelled_with_the_gradient_norm_of_their_hidden_state(lstm):
    model, loss = lstm
    dot = Dot(viz.to_dot(loss, params=model, grad_flow=True, collapse="timestep").source)
    expected = viz.hidden_grad_norms(loss)
    for name in dot.named("step"):
        t = int(re.search(r"t=(\d+)", dot.label(name)).group(1))
        assert gradient_norm_in(dot.label(name), of="h") == pytest.approx(expected[t], rel=0.05)


def test_legend_labels_are_plain_numbers_from_the_smallest_to_the_largest_norm(lstm):
    model, loss = lstm
    dot = Dot(viz.to_dot(loss, params=model, grad_flow=True).source)
    labels = [dot.label(f"legend{k}") for k in range(5)]
    assert all(re.fullmatch(NORM, label) for label in labels), labels  # 7.9e-03, not 1e-2.1
    values = [float(label) for label in labels]
    norms = [gradient_norm_in(dot.label(n)) for n in dot.nodes if "grad norm" in dot.label(n)]
    non_zero = [norm for norm in norms if norm > 0]
    assert values[0] == pytest.approx(min(non_zero), rel=0.05)
    assert values[-1] == pytest.approx(max(non_zero), rel=0.05)
    steps = np.diff(np.log10(values))  # evenly spaced on the log scale the colours follow
    np.testing.assert_allclose(steps, steps.mean(), atol=0.05)
    assert steps.mean() > 0


# ---- what labels show ----------------------------------------------------------------------------------
def test_show_adds_dtype_value_statistics_and_gradient_norms(lstm):
    model, loss = lstm
    loss.backward(retain_graph=True)
    plain = viz.to_dot(loss, params=model).source
    dot = Dot(viz.to_dot(loss, params=model, show=("shape", "dtype", "value", "grad")).source)
    weight = next(n for n in dot.named("leaf") if dot.first_line(n) == "lstm.weight_ih_l0")
    lines = dot.label(weight).split("\n")
    assert lines[:3] == ["lstm.weight_ih_l0", "(16, 2)", "float32"]
    assert re.fullmatch(r"mean \S+, norm \S+", lines[3])
    assert re.fullmatch(r"\|grad\| \S+", lines[4])
    assert float(lines[4].split()[-1]) == pytest.approx(np.linalg.norm(model.lstm.weight_ih_l0.grad.numpy()),
                                                        rel=1e-2)
    assert any(dot.label(n).endswith("float32") for n in dot.named("op"))
    assert "float32" not in plain and "mean " not in plain and "|grad|" not in plain


def test_every_output_gets_a_double_octagon_fed_by_its_value(lstm):
    model, _ = lstm
    out, (h, c) = model.lstm(tg.randn(3, 1, 2))
    dot = Dot(viz.to_dot(out, h, c, params=model).source)
    outputs = [n for n, attributes in dot.nodes.items() if attributes.get("shape") == "doubleoctagon"]
    assert sorted(outputs) == ["out0", "out1", "out2"]
    for name in outputs:
        assert len([s for s, t, _ in dot.edges if t == name]) == 1
    assert dot.label("out0").split("\n")[1] == "(3, 1, 4)"


def test_an_output_name_labels_its_node(lstm):
    loss = lstm[1]
    loss.name = "training loss"
    assert Dot(viz.to_dot(loss).source).first_line("out0") == "training loss"


# ---- escaping -------------------------------------------------------------------------------------------
EVIL = 'evil" ] ; node [label="x</b>{}\\\n<b>bold</b> \\N \\l \\'


@pytest.mark.parametrize("show", [("shape",), ()], ids=["with-shape", "name-only"])
def test_a_hostile_parameter_name_is_one_quoted_label(show):
    w = tg.randn(2, requires_grad=True)
    source = viz.to_dot((w * w).sum(), params={EVIL: w}, show=show).source
    graphviz.Source(source)  # accepted
    dot = Dot(source)
    assert sorted(dot.nodes) == ["leaf0", "op0", "op1", "out0"]  # nothing injected
    label = dot.nodes["leaf0"]["label"]
    assert label.startswith('"') and not label.startswith("<")  # a string, not an HTML label
    assert dot.label("leaf0") == EVIL + ("\n(2,)" if show else "")
    assert EVIL not in source  # never written raw


def test_an_html_looking_name_is_not_an_html_label():
    w = tg.randn(2, requires_grad=True)
    dot = Dot(viz.to_dot((w * w).sum(), params={"<b>bold</b>": w}, show=()).source)
    assert dot.nodes["leaf0"]["label"] == '"<b>bold</b>"'


def test_a_hostile_parameter_name_renders_verbatim(tmp_path):
    if viz.find_renderer("svg") is None:
        pytest.skip("no Graphviz renderer (system dot or graphviz-pure) is installed")
    w = tg.randn(2, requires_grad=True)
    source = viz.to_dot((w * w).sum(), params={EVIL: w}, show=()).source
    path = viz.render_source(source, str(tmp_path / "evil.svg"))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    root = ET.parse(path).getroot()
    (leaf,) = [g for g in root.iter("{http://www.w3.org/2000/svg}g")
               if g.get("class") == "node" and g.find("svg:title", ns).text == "leaf0"]
    assert "\n".join(t.text or "" for t in leaf.findall("svg:text", ns)) == EVIL


# ---- scope and tag ----------------------------------------------------------------------------------------
def test_scope_labels_the_nodes_recorded_inside_it_and_nests():
    x = tg.randn(3, requires_grad=True)
    before = x * 2
    with viz.scope("attention"):
        inside = x * 3
        with viz.scope("head", t=4):
            nested = inside * 5
    after = x * 7
    assert viz.info(before.grad_fn).scope == ()
    assert viz.info(inside.grad_fn).scope == ("attention",)
    assert viz.info(nested.grad_fn).scope == ("attention", "head", "t=4")
    assert viz.info(after.grad_fn).scope == ()


def test_scope_is_restored_when_its_block_raises():
    x = tg.randn(3, requires_grad=True)
    with pytest.raises(KeyError):
        with viz.scope("attention"):
            raise KeyError("boom")
    assert viz.info((x * 2).grad_fn).scope == ()


def test_a_user_scope_with_a_time_step_becomes_a_cluster():
    x = tg.randn(3, requires_grad=True)
    y = x
    for t in range(2):
        with viz.scope("attention", t=t):
            y = viz.tag(y.tanh(), "h")
    dot = Dot(viz.to_dot(y.sum(), group="timestep").source)
    assert sorted(text(a["label"]) for a in dot.clusters.values()) == ["attention, t=0", "attention, t=1"]


def test_tag_names_the_node_that_made_a_tensor_and_returns_it():
    x = tg.randn(3, requires_grad=True)
    y = x * 2
    assert viz.tag(y, "x") is y
    assert viz.info(y.grad_fn).name == "x"
    dot = Dot(viz.to_dot(y.sum()).source)
    assert [dot.first_line(n) for n in dot.named("value")] == ["x"]


def test_tag_leaves_a_tensor_without_history_alone():
    x = tg.randn(3)
    assert viz.tag(x, "x") is x
    assert x.grad_fn is None


# ---- gradient norms through time ---------------------------------------------------------------------------
def _norms(cell: str, seed: int) -> np.ndarray:
    tg.manual_seed(seed)
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell](3, 8)
    head = nn.Linear(8, 1)
    out, _ = layer(tg.randn(30, 1, 3))
    return np.asarray(viz.hidden_grad_norms(mse_loss(head(out[-1]), tg.zeros(1, 1))))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_hidden_grad_norms_gives_one_finite_positive_norm_per_step(cell):
    norms = _norms(cell, 0)
    assert norms.shape == (30,)
    assert np.all(np.isfinite(norms)) and np.all(norms > 0)


def test_gradients_vanish_faster_through_a_tanh_rnn_than_through_an_lstm():
    seeds = range(5)
    decay = {cell: np.mean([math.log10(n[0] / n[-1]) for n in (_norms(cell, s) for s in seeds)])
             for cell in ("rnn", "lstm")}
    assert decay["rnn"] < decay["lstm"] - 1, decay  # at least ten times smaller, on average


def test_hidden_grad_norms_runs_its_own_pass_and_stores_no_grads():
    tg.manual_seed(0)
    model = Tiny("lstm", hidden=8)
    loss = mse_loss(model(tg.randn(30, 1, 2)), tg.zeros(1, 1))
    norms = viz.hidden_grad_norms(loss)
    assert len(norms) == 30
    assert all(p.grad is None for p in model.parameters())
    loss.backward()  # the graph is still whole
    assert all(p.grad is not None for p in model.parameters())


def test_hidden_grad_norms_after_a_plain_backward_are_those_backward_saw():
    tg.manual_seed(0)
    model = Tiny("lstm", hidden=8)
    loss = mse_loss(model(tg.randn(30, 1, 2)), tg.zeros(1, 1))
    before = viz.hidden_grad_norms(loss)
    loss.backward()
    np.testing.assert_allclose(viz.hidden_grad_norms(loss), before, rtol=1e-6)


def test_plot_grad_norms_writes_a_png(tmp_path):
    path = tmp_path / "flow.png"
    returned = viz.plot_grad_norms({"RNN": _norms("rnn", 0), "LSTM": _norms("lstm", 0)}, str(path))
    assert returned == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
