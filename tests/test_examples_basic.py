"""The teaching examples run (``--quick``), write their figures, and show what they claim."""
from __future__ import annotations

import importlib
import os
import xml.etree.ElementTree as ElementTree

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)


def run(name: str, out) -> dict:
    module = importlib.import_module(name)
    return module.main(["--quick", "--out", str(out)])


def assert_png(path) -> None:
    assert os.path.isfile(path), f"{path} was not written"
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_MAGIC, f"{path} is not a PNG"


def assert_svg(path) -> None:
    assert os.path.isfile(path), f"{path} was not written"
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg"), f"{path}: root element is {root.tag}, not svg"


def test_autograd_basics(tmp_path):
    result = run("autograd_basics", tmp_path)
    assert_svg(tmp_path / "graph.svg")
    assert_svg(tmp_path / "scalar_graph.svg")
    assert result["gradcheck"] is True
    assert result["scalar_gradcheck"] and result["tensor_gradcheck"] and result["softplus_gradcheck"]
    assert result["scalar_hand_error"] < 1e-12          # backward equals the chain rule on paper
    assert result["tensor_hand_error"] < 1e-12
    assert result["scalar_tape"] == ["tanh", "add", "mul"]  # backward order: last op first
    assert result["softplus_grad_error"] < 1e-12


def test_rnn_bptt(tmp_path):
    result = run("rnn_bptt", tmp_path)
    for name in ("unrolled.svg", "backward_order.svg"):
        assert_svg(tmp_path / name)
    assert_png(tmp_path / "bptt_contributions.png")
    assert result["gradcheck"] is True
    assert result["bptt_sum_ok"] is True                  # dL/dW = sum over t of the step terms
    assert result["max_abs_diff"] < 1e-10
    assert result["h_visit_order"] == [3, 2, 1, 0]        # backward walks back through time
    assert result["contribution_norms_W"][0] == 0.0       # h_{-1} = 0: no W term at t = 0
    assert result["hidden_grad_norms_viz_diff"] < 1e-10


def test_sine_wave(tmp_path):
    result = run("sine_wave", tmp_path)
    assert_png(tmp_path / "loss.png")
    assert_png(tmp_path / "prediction.png")
    assert result["final_mse"] < result["signal_variance"] / 4
    assert result["losses"][-1] < result["losses"][0]


def test_gate_activations(tmp_path):
    result = run("gate_activations", tmp_path)
    assert_png(tmp_path / "gates.png")
    assert_png(tmp_path / "loss.png")
    assert result["consistent"] is True                   # hand-run gates reproduce nn.LSTM
    assert result["h_max_abs_diff"] < 1e-5
    for name in ("input", "forget", "output"):
        low, mean, high = (result[k][name] for k in ("min_gates", "mean_gates", "max_gates"))
        assert 0.0 < low <= mean <= high < 1.0            # sigmoids: strictly inside (0, 1)


def test_higher_order(tmp_path):
    result = run("higher_order", tmp_path)
    assert_png(tmp_path / "newton_convergence.png")
    assert_png(tmp_path / "tanh_derivatives.png")
    assert_svg(tmp_path / "tanh_third_derivative.svg")
    assert ">d3<" in (tmp_path / "tanh_third_derivative.svg").read_text()  # the named value is drawn
    assert result["newton_final_slope"] < 1e-10           # Newton stopped at a stationary point ...
    assert abs(result["newton_x"][-1] - result["x_star"]) < 1e-12   # ... the root of f' it aimed at
    assert result["curvature_error"] < 1e-10              # the library's f'' equals 12x^2 - 6
    digits = result["newton_digits"]
    assert all(after > 1.8 * before for before, after in zip(digits[-4:], digits[-3:]))  # quadratic
    assert result["descent_steps"] > 5 * (len(result["newton_x"]) - 1)  # gradient descent: linear
    assert sorted(result["tanh_errors"]) == [1, 2, 3, 4, 5]
    assert max(result["tanh_errors"].values()) < 1e-10    # repeated grad equals the closed forms
    assert result["tanh_gradgradcheck"] is True
    counts = [result["op_counts"][n] for n in sorted(result["op_counts"])]
    assert counts == sorted(set(counts))                  # each derivative's graph is bigger
    assert result["hvp_relative_error"] < 1e-6            # double backward equals finite differences
