"""PyTorch parity of tinygrad_rnn.nn's recurrent layers and cells, against stored fixtures.

``tests/fixtures/rnn_parity.npz`` holds, per case, the parameters, inputs, outputs, loss
weights and gradients that PyTorch computed in float64 (see ``tests/make_rnn_fixtures.py``,
which regenerates it in a separate torch venv). Torch is not needed here: each case is
rebuilt in tinygrad_rnn from its stored JSON config, loaded with the stored parameters,
run forward, and backpropagated through the same scalar loss::

    layers:  sum(out * w_out) + sum(h_n * w_h) [+ sum(c_n * w_c)]
    cells:   sum(h1 * w_h) [+ sum(c1 * w_c)]
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "rnn_parity.npz")
RTOL, ATOL = 1e-6, 1e-9
LSTMS = ("LSTM", "LSTMCell")


def _load() -> dict[str, np.ndarray]:
    with np.load(FIXTURE, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


DATA = _load()
CASES = sorted(k[: -len("/config")] for k in DATA if k.endswith("/config"))


def _case(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    prefix = name + "/"
    arrays = {k[len(prefix):]: v for k, v in DATA.items() if k.startswith(prefix)}
    cfg = json.loads(str(arrays.pop("config")))
    return cfg, arrays


def _close(actual, expected: np.ndarray, what: str) -> None:
    assert actual is not None, f"{what}: missing (None)"
    a = actual.numpy() if hasattr(actual, "numpy") else np.asarray(actual)
    assert a.shape == expected.shape, f"{what}: shape {a.shape}, expected {expected.shape}"
    assert a.dtype == np.float64, f"{what}: dtype {a.dtype}, expected float64"
    np.testing.assert_allclose(a, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def _run(name: str):
    """Build, load and run the case; return (cfg, arrays, model, inputs, outputs, loss)."""
    cfg, arr = _case(name)
    model = getattr(nn, cfg["module"])(**cfg["args"]).double()
    params = {k[len("param/"):]: v for k, v in arr.items() if k.startswith("param/")}
    model.load_state_dict(params)

    inputs = {k: tg.tensor(arr[k], requires_grad=True) for k in ("x", "h0", "c0") if k in arr}
    x = inputs["x"]
    if "h0" in inputs:
        state = (inputs["h0"], inputs["c0"]) if cfg["module"] in LSTMS else inputs["h0"]
        res = model(x, state)
    else:
        res = model(x)

    if cfg["kind"] == "layer":
        out, hs = res
        if cfg["module"] in LSTMS:
            h_n, c_n = hs
            outputs = {"out": out, "h_n": h_n, "c_n": c_n}
        else:
            outputs = {"out": out, "h_n": hs}
        weights = {"out": "w_out", "h_n": "w_h", "c_n": "w_c"}
    else:
        if cfg["module"] in LSTMS:
            h1, c1 = res
            outputs = {"h1": h1, "c1": c1}
        else:
            outputs = {"h1": res}
        weights = {"h1": "w_h", "c1": "w_c"}

    loss = None
    for key, t in outputs.items():
        term = (t * tg.tensor(arr[weights[key]])).sum()
        loss = term if loss is None else loss + term
    return cfg, arr, model, inputs, outputs, loss


def test_fixture_file_is_complete():
    assert os.path.getsize(FIXTURE) < 1 << 20
    modules = {_case(c)[0]["module"] for c in CASES}
    assert modules == {"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"}
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", CASES)
def test_parameter_names_and_shapes(name):
    cfg, arr = _case(name)
    model = getattr(nn, cfg["module"])(**cfg["args"]).double()
    got = {k: tuple(p.shape) for k, p in model.named_parameters()}
    want = {k[len("param/"):]: v.shape for k, v in arr.items() if k.startswith("param/")}
    assert got == want


@pytest.mark.parametrize("name", CASES)
def test_forward(name):
    cfg, arr, model, inputs, outputs, loss = _run(name)
    assert set(outputs) == {k for k in ("out", "h_n", "c_n", "h1", "c1") if k in arr}
    for key, t in outputs.items():
        _close(t, arr[key], f"{name}: {key}")


@pytest.mark.parametrize("name", CASES)
def test_backward(name):
    cfg, arr, model, inputs, outputs, loss = _run(name)
    loss.backward()
    for key, t in inputs.items():
        _close(t.grad, arr[f"grad/{key}"], f"{name}: grad/{key}")
    named = dict(model.named_parameters())
    want = {k[len("grad/param/"):]: v for k, v in arr.items() if k.startswith("grad/param/")}
    assert set(named) == set(want)
    for pname, g in want.items():
        _close(named[pname].grad, g, f"{name}: grad/param/{pname}")
