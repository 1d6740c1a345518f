"""``viz.explore``'s page, checked from Python: what it says about the graph and backward (the
engine's own order, arrivals and sends, statistics), that it is self-contained and escapes
what users name, how large graphs open, and the Jupyter displays. The browser side is in
test_explorer_browser.py."""
from __future__ import annotations

import importlib
import json
import re
import shutil

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.viz.dot import LARGE_GRAPH, _Walk
from tinygrad_rnn.viz.record import record_for

render_module = importlib.import_module("tinygrad_rnn.viz.render")
HOSTILE = '</script><img src=x onerror="window.pwned=1">'


def payload(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="tg-data">(.*?)</script>', page, re.S).group(1))


def lstm_loss(steps: int = 3, detailed: bool = True):
    tg.manual_seed(0)
    layer, head = nn.LSTM(2, 3), nn.Linear(3, 1)
    with viz.recording() if detailed else _nothing():
        out, _ = layer(tg.randn(steps, 1, 2))
        loss = ((head(out[-1]) - 1.0) ** 2).mean()
        loss.backward()
    return loss, nn.ModuleDict({"lstm": layer, "head": head})


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_stepper_follows_the_engines_own_order(tmp_path):
    loss, model = lstm_loss()
    data = payload(viz.explore(loss, params=model, path=str(tmp_path / "g.html")).html)
    walk = _Walk([loss])
    engine = [walk.op_name(node) for node in record_for(loss).order]
    assert [step["node"] for step in data["backward"]["steps"]] == engine
    assert data["backward"]["detailed"] is True and data["backward"]["note"] is None


def test_a_tensor_used_twice_gets_two_arrivals_that_sum_to_its_gradient():
    """y = c * w feeds both y + exp(y) terms: its gradient is the sum of two arrivals."""
    w = tg.tensor([0.5, -2.0], requires_grad=True)
    with viz.recording():
        y = tg.tensor([1.0, 3.0]) * w
        loss = (y + y.exp()).sum()
        loss.backward()
    data = payload(viz.explore(loss, path=None).html)
    step = next(s for s in data["backward"]["steps"] if data["nodes"][s["node"]]["op"] == "mul")
    y_value = np.array([0.5, -6.0])
    assert [data["nodes"][a["from"]]["op"] for a in step["arrivals"]] == ["add", "exp"]
    norms = [a["norm"] for a in step["arrivals"]]
    assert norms == pytest.approx([np.sqrt(2), np.linalg.norm(np.exp(y_value))], rel=1e-6)
    assert step["received"] == pytest.approx(np.linalg.norm(1 + np.exp(y_value)), rel=1e-6)


def test_values_gradients_and_formulas_are_what_was_computed():
    x = tg.tensor([0.3, -1.2, 2.0], requires_grad=True)
    with viz.recording():
        y = x.tanh()
        loss = (y * y).sum()
        loss.backward()
    data = payload(viz.explore(loss, path=None).html)
    name, tanh = next((k, v) for k, v in data["nodes"].items() if v.get("op") == "tanh")
    expected = np.tanh([0.3, -1.2, 2.0])
    assert tanh["value"]["entries"] == pytest.approx(expected.tolist(), rel=1e-6)
    assert tanh["value"]["max"] == pytest.approx(expected.max(), rel=1e-6)
    assert tanh["formula"] == "d tanh(x)/dx = 1 - tanh(x)^2"
    step = next(s for s in data["backward"]["steps"] if s["node"] == name)
    assert step["grad"]["entries"] == pytest.approx((2 * expected).tolist(), rel=1e-6)  # dL/dy = 2y
    leaf = data["nodes"]["leaf0"]
    assert leaf["grad"]["norm"] == pytest.approx(np.linalg.norm(2 * expected * (1 - expected ** 2)), rel=1e-6)


def test_after_a_plain_backward_the_page_has_the_order_and_says_what_it_lacks():
    loss, model = lstm_loss(detailed=False)
    data = payload(viz.explore(loss, params=model, path=None).html)
    backward = data["backward"]
    assert backward["detailed"] is False and "viz.recording()" in backward["note"]
    assert len(backward["steps"]) == len(record_for(loss).order)
    assert all(step["received"] is not None for step in backward["steps"])


def test_time_steps_carry_the_hidden_state_gradient_norms():
    loss, model = lstm_loss(steps=4)
    data = payload(viz.explore(loss, params=model, path=None).html)
    steps = data["timesteps"]["steps"]
    assert [s["t"] for s in steps] == [0, 1, 2, 3]
    assert [s["cluster"] for s in steps] == [f"cluster_{i}" for i in range(4)]
    np.testing.assert_allclose([s["hNorm"] for s in steps], viz.hidden_grad_norms(loss), rtol=1e-6)
    assert data["views"] == ["expanded", "collapsed"] and data["defaultView"] == "expanded"


def test_the_page_is_self_contained(tmp_path):
    loss, model = lstm_loss()
    page = viz.explore(loss, params=model, path=str(tmp_path / "g.html")).html
    assert (tmp_path / "g.html").read_text(encoding="utf-8") == page
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]+src=|url\(|@import|https?://(?!www\.w3\.org/)", page)
    assert page.count("<svg") == 2  # the expanded and the collapsed view


def test_names_and_titles_are_escaped():
    """A name that tries to close the script element and inject markup stays text everywhere."""
    x = tg.tensor([1.0, 2.0], requires_grad=True, name=HOSTILE)
    with viz.recording():
        y = viz.tag(x * 2.0, HOSTILE)
        loss = y.sum()
        loss.backward()
    page = viz.explore(loss, path=None, title=HOSTILE).html
    assert "<img" not in page and "</script><" not in page.replace("</script>\n<script>", "")
    names = {v["label"] for v in payload(page)["nodes"].values()}
    assert HOSTILE in names  # the JSON still carries the real name, for the page to show as text


def test_a_large_graph_opens_collapsed_and_says_what_was_elided():
    tg.manual_seed(0)
    layer = nn.RNN(1, 2)
    out, _ = layer(tg.randn(LARGE_GRAPH // 2, 1, 1))
    loss = out[-1].sum()
    loss.backward()
    data = payload(viz.explore(loss, path=None).html)
    assert data["opCount"] > LARGE_GRAPH and data["defaultView"] == "collapsed"
    assert "first 2 and last 2 time steps" in data["elided"]
    assert len(data["backward"]["steps"]) == data["opCount"]
    assert sum(s["cluster"] is not None for s in data["timesteps"]["steps"]) == 4  # 2 first + 2 last


def test_the_picture_options_are_renders():
    """collapse opens the page on the collapsed view; steps elides the middle (and says so);
    grad_flow colours and backward_order numbers the nodes, as in render."""
    loss, model = lstm_loss(steps=5)
    page = viz.explore(loss, params=model, path=None, collapse="timestep", steps=(1, 1), grad_flow=True,
                       backward_order=True).html
    data = payload(page)
    assert data["defaultView"] == "collapsed"
    assert "first 1 and last 1 time steps" in data["elided"]
    assert sum(s["cluster"] is not None for s in data["timesteps"]["steps"]) == 2
    assert page.count("grad norm (log colour scale)") == 2 and "[1] mul" in page
    with pytest.raises(ValueError, match="explore: collapse must be 'timestep' or None, got 'layer'"):
        viz.explore(loss, path=None, collapse="layer")


def test_a_compiled_programs_listing_goes_beside_the_graph():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    step = tg.compile(lambda x: (x * w).sum())
    for _ in range(2):
        step(tg.tensor([3.0, 4.0]))
    loss = (tg.tensor([3.0, 4.0]) * w).sum()
    data = payload(viz.explore(loss, path=None, program=step).html)
    assert data["program"] == str(step.program) and "instructions" in data["program"]


def test_jupyter_shows_pictures_and_pages_without_system_graphviz(monkeypatch):
    if shutil.which("graphviz-pure") is None:
        pytest.skip("graphviz-pure's command is not on PATH")
    real = shutil.which
    monkeypatch.setattr(render_module.shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    loss, model = lstm_loss(steps=2)
    picture = viz.to_dot(loss, params=model)
    svg = picture._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert picture._repr_mimebundle_() == {"image/svg+xml": svg}
    shown = viz.explore(loss, params=model, path=None)._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "&lt;svg" in shown and "<svg" not in shown


def test_explore_refuses_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="explore: pass one or more tensors"):
        viz.explore(np.ones(2), path=None)


def _tutorial_block() -> str:
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "tutorial.md")
    text = open(path, encoding="utf-8").read()
    return next(code for code in re.findall(r"```python\n(.*?)```", text, re.S) if "viz.explore(" in code)


def test_the_tutorials_rnn_page_shows_the_sum_over_time_as_arrivals(tmp_path, monkeypatch):
    """docs/tutorial.md: W^T's node receives one gradient per step (1.780, 0.528, 0.213, 0),
    whose sum is W.grad (norm 2.007)."""
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(_tutorial_block(), "tutorial.md", "exec"), names)  # noqa: S102 (the tutorial's own code)
    data = payload((tmp_path / "rnn.html").read_text(encoding="utf-8"))
    W = next(k for k, v in data["nodes"].items() if v["label"] == "rnn.weight_hh_l0")
    (transpose,) = data["backward"]["leaves"][W]["arrivals"]
    step = next(s for s in data["backward"]["steps"] if s["node"] == transpose["from"])
    assert [data["nodes"][a["from"]]["step"] for a in step["arrivals"]] == [3, 2, 1, 0]
    assert [a["norm"] for a in step["arrivals"]] == pytest.approx([1.780, 0.528, 0.213, 0.0], abs=6e-4)
    assert step["received"] == pytest.approx(2.007, abs=6e-4)
    assert step["received"] == pytest.approx(float(np.linalg.norm(names["rnn"].weight_hh_l0.grad.numpy())), rel=1e-5)


def test_the_tutorials_lstm_cell_state_arrivals(tmp_path, monkeypatch):
    """The same code with nn.LSTM: c_t's two arrivals (f_{t+1} * c_t and tanh(c_t)) and their sum."""
    monkeypatch.chdir(tmp_path)
    code = _tutorial_block().replace("nn.RNN(", "nn.LSTM(").replace("rnn.html", "lstm.html")
    exec(compile(code, "tutorial.md", "exec"), {})  # noqa: S102
    data = payload((tmp_path / "lstm.html").read_text(encoding="utf-8"))
    rows = {}
    for step in data["backward"]["steps"]:
        node = data["nodes"][step["node"]]
        if node.get("tag") == "c" and len(step["arrivals"]) == 2:
            rows[node["step"]] = [a["norm"] for a in step["arrivals"]] + [step["received"]]
    assert sorted(rows) == [0, 1, 2]
    for t, printed in {2: [0.149, 0.073, 0.096], 1: [0.050, 0.025, 0.048], 0: [0.028, 0.006, 0.028]}.items():
        assert rows[t] == pytest.approx(printed, abs=6e-4)  # the table's three decimals
