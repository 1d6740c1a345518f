"""Regenerate ``tests/fixtures/rnn_parity.npz``: PyTorch reference values for the recurrent layers.

Usage (torch is NOT a dependency of the project or its tests; it lives in its own venv)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/make_rnn_fixtures.py

What it stores
--------------
For every configuration (a *case*) it builds the PyTorch module (``nn.RNN``, ``nn.LSTM``,
``nn.GRU``, ``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell``) in float64, overwrites every
parameter with values drawn from a NumPy generator seeded per case (so the fixtures do not
depend on torch's own RNG or init scheme), draws the input ``x`` and, when the case says so,
the initial state, runs the forward pass and then backpropagates the scalar loss

    layers:  loss = sum(out * w_out) + sum(h_n * w_h) [+ sum(c_n * w_c) for LSTM]
    cells:   loss = sum(h1 * w_h) [+ sum(c1 * w_c) for LSTMCell]

with fixed random weights ``w_*``. All arrays go into ONE compressed npz, keys prefixed by the
case name::

    <case>/config                 0-d unicode array holding json.dumps(cfg) (loads without pickle)
    <case>/param/<name>           parameter values, PyTorch names (weight_ih_l0, ..._reverse)
    <case>/x, <case>/h0, <case>/c0        inputs (h0/c0 only when the case passes a state)
    <case>/out, <case>/h_n, <case>/c_n    layer outputs      (c_n: LSTM only)
    <case>/h1, <case>/c1                  cell outputs       (c1: LSTMCell only)
    <case>/w_out, <case>/w_h, <case>/w_c  loss weights
    <case>/grad/x, <case>/grad/h0, <case>/grad/c0, <case>/grad/param/<name>   gradients

``cfg`` is ``{"module": "LSTM", "kind": "layer"|"cell", "args": {constructor kwargs},
"state": bool, "batched": bool, "torch_version": str}``; the test rebuilds the module as
``getattr(tinygrad_rnn.nn, cfg["module"])(**cfg["args"])``.
"""
from __future__ import annotations

import json
import os
import zlib

import numpy as np
import torch

IN, HID, L, N = 5, 6, 4, 3  # input size, hidden size, sequence length, batch size
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "rnn_parity.npz")


def layer_cases() -> dict[str, dict]:
    """name -> cfg for nn.RNN / nn.LSTM / nn.GRU."""
    cases: dict[str, dict] = {}

    def add(name, module, state=True, batched=True, **kw):
        args = dict(input_size=IN, hidden_size=HID, num_layers=1, bias=True, batch_first=False,
                    bidirectional=False)
        if module == "RNN":
            args["nonlinearity"] = "tanh"
        args.update(kw)
        cases[f"{module.lower()}_{name}"] = dict(module=module, kind="layer", args=args,
                                                 state=state, batched=batched)

    for m in ("RNN", "LSTM", "GRU"):
        add("1layer", m, state=False)
        add("1layer_state", m)
        add("2layer_state", m, num_layers=2)
        add("bidir_state", m, bidirectional=True)
        add("2layer_bidir_state", m, num_layers=2, bidirectional=True)
        add("2layer_bidir", m, state=False, num_layers=2, bidirectional=True)
        add("batch_first_state", m, batch_first=True)
        add("batch_first_bidir_state", m, batch_first=True, bidirectional=True)
        add("batch_first_unbatched_state", m, batched=False, batch_first=True)  # batch_first ignored
        add("unbatched", m, state=False, batched=False)
        add("unbatched_state", m, batched=False)
        add("unbatched_2layer_bidir_state", m, batched=False, num_layers=2, bidirectional=True)
        add("nobias_2layer_state", m, bias=False, num_layers=2)
    add("relu_1layer", "RNN", state=False, nonlinearity="relu")
    add("relu_1layer_state", "RNN", nonlinearity="relu")
    add("relu_2layer_state", "RNN", nonlinearity="relu", num_layers=2)
    add("relu_2layer_bidir_state", "RNN", nonlinearity="relu", num_layers=2, bidirectional=True)
    add("relu_unbatched_state", "RNN", batched=False, nonlinearity="relu")
    return cases


def cell_cases() -> dict[str, dict]:
    """name -> cfg for nn.RNNCell / nn.LSTMCell / nn.GRUCell."""
    cases: dict[str, dict] = {}
    variants = {"rnncell_tanh": ("RNNCell", {"nonlinearity": "tanh"}),
                "rnncell_relu": ("RNNCell", {"nonlinearity": "relu"}),
                "lstmcell": ("LSTMCell", {}),
                "grucell": ("GRUCell", {})}
    for prefix, (module, extra) in variants.items():
        for name, state, batched, bias in (("state", True, True, True),
                                           ("default", False, True, True),
                                           ("unbatched_state", True, False, True),
                                           ("unbatched", False, False, True),
                                           ("nobias_state", True, True, False)):
            args = dict(input_size=IN, hidden_size=HID, bias=bias, **extra)
            cases[f"{prefix}_{name}"] = dict(module=module, kind="cell", args=args,
                                             state=state, batched=batched)
    return cases


def make_case(name: str, cfg: dict) -> dict[str, np.ndarray]:
    # Per-case seed from the name: adding or reordering cases leaves the others unchanged.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    args = cfg["args"]
    module = getattr(torch.nn, cfg["module"])(**args).double()
    is_lstm = cfg["module"] in ("LSTM", "LSTMCell")
    k = 1.0 / np.sqrt(HID)
    params: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for pname, p in module.named_parameters():
            p.copy_(torch.from_numpy(rng.uniform(-k, k, size=tuple(p.shape))))
            params[pname] = p

    if cfg["kind"] == "layer":
        d = 2 if args["bidirectional"] else 1
        nl = args["num_layers"]
        if not cfg["batched"]:
            x_shape, h_shape = (L, IN), (d * nl, HID)
        elif args["batch_first"]:
            x_shape, h_shape = (N, L, IN), (d * nl, N, HID)
        else:
            x_shape, h_shape = (L, N, IN), (d * nl, N, HID)
    else:
        x_shape = (N, IN) if cfg["batched"] else (IN,)
        h_shape = (N, HID) if cfg["batched"] else (HID,)

    arrays: dict[str, np.ndarray] = {}
    x = torch.from_numpy(rng.standard_normal(x_shape)).requires_grad_(True)
    arrays["x"] = x.detach().numpy()
    h0 = c0 = None
    if cfg["state"]:
        h0 = torch.from_numpy(0.5 * rng.standard_normal(h_shape)).requires_grad_(True)
        arrays["h0"] = h0.detach().numpy()
        if is_lstm:
            c0 = torch.from_numpy(0.5 * rng.standard_normal(h_shape)).requires_grad_(True)
            arrays["c0"] = c0.detach().numpy()

    state = None if h0 is None else ((h0, c0) if is_lstm else h0)
    if cfg["kind"] == "layer":
        out, hs = module(x, state) if state is not None else module(x)
        h_n, c_n = hs if is_lstm else (hs, None)
        outputs = {"out": out, "h_n": h_n, "c_n": c_n}
        weights = {"out": "w_out", "h_n": "w_h", "c_n": "w_c"}
    else:
        res = module(x, state) if state is not None else module(x)
        h1, c1 = res if is_lstm else (res, None)
        outputs = {"h1": h1, "c1": c1}
        weights = {"h1": "w_h", "c1": "w_c"}

    loss = torch.zeros((), dtype=torch.float64)
    for key, t in outputs.items():
        if t is None:
            continue
        w = torch.from_numpy(rng.standard_normal(tuple(t.shape)))
        arrays[key] = t.detach().numpy().copy()
        arrays[weights[key]] = w.numpy()
        loss = loss + (t * w).sum()
    loss.backward()

    arrays["grad/x"] = x.grad.numpy()
    if h0 is not None:
        arrays["grad/h0"] = h0.grad.numpy()
    if c0 is not None:
        arrays["grad/c0"] = c0.grad.numpy()
    for pname, p in params.items():
        arrays[f"param/{pname}"] = p.detach().numpy().copy()
        arrays[f"grad/param/{pname}"] = p.grad.numpy().copy()

    cfg = dict(cfg, torch_version=torch.__version__)
    out = {f"{name}/{k}": np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}
    out[f"{name}/config"] = np.array(json.dumps(cfg, sort_keys=True))
    return out


def main() -> None:
    torch.set_default_dtype(torch.float64)
    allcases = {**layer_cases(), **cell_cases()}
    data: dict[str, np.ndarray] = {}
    for name, cfg in allcases.items():
        data.update(make_case(name, cfg))
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    np.savez_compressed(OUT_PATH, **data)
    print(f"wrote {len(allcases)} cases, {len(data)} arrays, "
          f"{os.path.getsize(OUT_PATH)} bytes to {OUT_PATH}")


if __name__ == "__main__":
    main()
