"""Vanishing gradients through time: how much of the loss's gradient reaches step t?

The chapter (5.2) motivates the LSTM with a sentence like "I grew up in France ... I speak
fluent French": the word that decides the answer is far back, and a vanilla RNN learns
such dependencies badly because the gradient that back-propagation through time (BPTT)
carries from the loss to an early step shrinks geometrically with the distance.

This script measures that directly. At initialisation (no training), an RNN (tanh), an
LSTM and a GRU layer each read T random input vectors; the loss depends on the *last*
output only (a linear read-out of h_{T-1}). ``viz.hidden_grad_norms(loss)`` then gives
||dL/dh_t|| for every t, i.e. how strongly the loss can "hear" the hidden state of step
t. Averaged over seeds (geometric mean, the right average on a log scale) and plotted on
one log-scale figure, and summarised as the ratio ||dL/dh_0|| / ||dL/dh_{T-1}||.

Why the curves fall (BPTT, one step back):

    RNN   h_t = tanh(U x_t + W h_{t-1} + b)
          dL/dh_{t-1} = W^T (tanh'(.) * dL/dh_t)         the same matrix at every step:
                                                          geometric decay (or growth)
    LSTM  C_t = f_t * C_{t-1} + i_t * C~_t
          dL/dC_{t-1} = f_t * dL/dC_t + ...               along the cell state the only
                                                          factor is the forget gate f_t

So the RNN has one knob, the scale of W, and it sits between vanishing (small W) and
exploding (large W) gradients; the LSTM can *learn* f_t ~ 1 to keep both the memory and
its gradient. A second figure shows the two knobs at initialisation: the RNN's recurrent
weight scale and the LSTM's forget-gate bias (sigma(b_f) is f_t's starting value).

What it measures with the defaults (T=100, hidden 32, 5 seeds): all three vanish at
PyTorch's initialisation, the RNN fastest: ||dL/dh_0|| / ||dL/dh_99|| ~ 1e-27 for the RNN,
~1e-21 for the LSTM, ~1e-20 for the GRU (x0.54, x0.61, x0.63 per step back). The LSTM's
forget gate starts at sigmoid(0) = 0.5, so at initialisation it forgets nearly as fast as
the RNN; its advantage is that b_f (learned, or initialised larger) moves the cell-state
path to ~1 without the gradient exploding, which W's scale cannot do for the RNN.
long_dependency.py shows what this does to learning.

A third picture is the unrolled graph of 20 steps of an RNN and an LSTM, one node per
step coloured by ||dL/dh_t|| on one shared scale (``viz.render(..., grad_flow=True)``).

Run:
    python examples/vanishing_gradients.py             # T=100, hidden 32, 5 seeds (~5-10 s)
    python examples/vanishing_gradients.py --quick     # T=20, hidden 16, 2 seeds
    python examples/vanishing_gradients.py --device cuda --out /tmp/vg

Writes into --out (default examples_out/vanishing_gradients/): grad_norms.png,
init_knobs.png, grad_flow_rnn_vs_lstm.svg.
"""
from __future__ import annotations

import os

# The matrices here are tiny; a multi-threaded BLAS only adds synchronisation, and on a busy
# machine OpenBLAS's threads made a 128x32 @ 32x128 product 100x slower. One thread unless
# you set these yourself (they must be set before NumPy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import nn, viz  # noqa: E402
from common import example_parser, save_figure

CELLS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
COLOURS = {"RNN": "#d7191c", "LSTM": "#2c7bb6", "GRU": "#1a9641"}


class LastStepReadout(nn.Module):
    """A recurrent layer and a linear read-out (the chapter's V) of its *last* output only."""

    def __init__(self, layer: type, input_size: int, hidden: int, device: str) -> None:
        super().__init__()
        # float64: the RNN's gradient at t=0 reaches ~1e-28; float32 would still hold it,
        # but a slightly longer sequence would underflow, and the point is to measure it.
        self.rnn = layer(input_size, hidden, device=device, dtype="float64")
        self.head = nn.Linear(hidden, 1, device=device, dtype="float64")

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        out, _ = self.rnn(x)                       # out: (T, N, hidden), every h_t
        return self.head(out[-1]).sum()            # loss = V h_{T-1}, summed over the batch


def build(cell: str, args: argparse.Namespace, seed: int, *, gain: float = 1.0,
          forget_bias: float = 0.0) -> LastStepReadout:
    """A freshly initialised model (PyTorch's init: U(-1/sqrt(H), 1/sqrt(H))), optionally with
    the recurrent weights W scaled by ``gain`` or the LSTM's forget-gate bias raised."""
    tg.manual_seed(seed)
    model = LastStepReadout(CELLS[cell], args.input_size, args.hidden, args.device)
    H = args.hidden
    with tg.no_grad():
        if gain != 1.0:
            model.rnn.weight_hh_l0.mul_(gain)
        if forget_bias:
            # gate rows are stacked (i, f, g, o): rows H..2H of the bias are the forget gate's b_f
            bias = model.rnn.bias_ih_l0
            shift = np.zeros(bias.shape)
            shift[H:2 * H] = forget_bias
            bias.add_(tg.tensor(shift, dtype="float64", device=args.device))
    return model


def grad_norm_curve(cell: str, args: argparse.Namespace, **knobs: float) -> np.ndarray:
    """||dL/dh_t|| for t = 0..T-1, geometric mean over ``args.seeds`` seeds starting at
    ``args.seed`` (fresh model and fresh random inputs each)."""
    logs = []
    for seed in range(args.seed, args.seed + args.seeds):
        model = build(cell, args, seed, **knobs)
        x = tg.randn(args.steps, args.batch, args.input_size, dtype="float64", device=args.device)
        loss = model(x)
        # one backward pass that records, for each step's tagged hidden state h_t, the norm of
        # the gradient arriving there (nothing is stored in .grad)
        norms = viz.hidden_grad_norms(loss)
        logs.append(np.log10(norms))
    return 10.0 ** np.mean(logs, axis=0)


def orders(ratio: float) -> str:
    return f"{ratio:.1e} ({math.log10(ratio):+.1f} orders of magnitude)"


def plot_knobs(rnn_curves: dict, lstm_curves: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    shades = plt.get_cmap("viridis")
    for axes, curves, title, fmt in (
            (left, rnn_curves, "vanilla RNN: recurrent weights W x gain", "gain {:g}"),
            (right, lstm_curves, "LSTM: forget-gate bias b_f  (f_t starts near sigmoid(b_f))",
             "b_f = {:g}  (sigmoid = {:.2f})")):
        for k, (knob, norms) in enumerate(curves.items()):
            label = fmt.format(knob, 1 / (1 + math.exp(-knob)))
            axes.semilogy(range(len(norms)), norms, color=shades(k / max(len(curves) - 1, 1)),
                          label=label, linewidth=2)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("time step t (the loss reads step T-1)")
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(fontsize=8)
    left.set_ylabel("||dL/dh_t||  (geometric mean over seeds)")
    figure.suptitle("The knobs at initialisation: the RNN goes from vanishing to exploding; "
                    "the LSTM's gradient can stay flat", fontsize=10)
    save_figure(figure, path)


def render_graph(args: argparse.Namespace, path: str, steps: int = 20) -> str:
    """RNN and LSTM over ``steps`` steps drawn together, one node per step, coloured by
    ||dL/dh_t|| on one shared scale; each model in its own scope so their steps stay apart."""
    losses, params = [], {}
    for cell in ("RNN", "LSTM"):
        model = build(cell, args, seed=0)
        with viz.scope(cell):
            loss = model(tg.randn(steps, args.batch, args.input_size, dtype="float64",
                                  device=args.device))
        loss.name = f"{cell} loss"
        losses.append(loss)
        params.update({f"{cell}.{name}": p for name, p in model.named_parameters()})
    return viz.render(*losses, path=path, params=params, collapse="timestep", steps=(6, 4),
                      grad_flow=True)


def main(argv: list[str] | None = None) -> dict:
    parser = example_parser(__doc__, "vanishing_gradients", quick_help="T=20, hidden 16, 2 seeds (a few seconds)")
    args = parser.parse_args(argv)
    args.steps, args.hidden, args.seeds = (20, 16, 2) if args.quick else (100, 32, 5)
    args.input_size, args.batch = 8, 4
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    print(f"T={args.steps} steps, input {args.input_size}, hidden {args.hidden}, batch {args.batch}, "
          f"{args.seeds} seeds, PyTorch's default initialisation, loss = V h_(T-1)")

    # ---- 1. the three cells at their default initialisation --------------------------------
    curves = {cell: grad_norm_curve(cell, args) for cell in CELLS}
    ratio = {cell: float(c[0] / c[-1]) for cell, c in curves.items()}
    per_step = {cell: r ** (1.0 / (args.steps - 1)) for cell, r in ratio.items()}
    print("\n||dL/dh_0|| / ||dL/dh_T-1||, and the average factor per step back:")
    for cell in CELLS:
        print(f"  {cell:5s} {orders(ratio[cell]):42s} x{per_step[cell]:.3f} per step")
    labelled = {f"{cell}: ||dL/dh_0|| / ||dL/dh_{args.steps - 1}|| = 1e{math.log10(ratio[cell]):.1f}": c
                for cell, c in curves.items()}
    figure = viz.plot_grad_norms(labelled, os.path.join(args.out, "grad_norms.png"),
                                 title=f"gradient reaching h_t from a loss on step {args.steps - 1} "
                                       f"(init, hidden {args.hidden}, {args.seeds} seeds)")

    # ---- 2. the knobs: RNN weight scale (vanishing <-> exploding), LSTM forget-gate bias ----
    gains, biases = (1.0, 2.0, 3.0, 4.0), (0.0, 1.0, 3.0, 5.0)
    rnn_gain = {g: grad_norm_curve("RNN", args, gain=g) for g in gains}
    lstm_bias = {b: grad_norm_curve("LSTM", args, forget_bias=b) for b in biases}
    print("\nthe same ratio as the knobs turn:")
    for g, c in rnn_gain.items():
        print(f"  RNN,  W x {g:g}:      {orders(c[0] / c[-1])}")
    for b, c in lstm_bias.items():
        print(f"  LSTM, b_f = {b:g}:     {orders(c[0] / c[-1])}")
    knobs_path = os.path.join(args.out, "init_knobs.png")
    plot_knobs(rnn_gain, lstm_bias, knobs_path)

    # ---- 3. the unrolled graph, coloured by gradient norm ----------------------------------
    graph = render_graph(args, os.path.join(args.out, "grad_flow_rnn_vs_lstm.svg"))
    seconds = time.perf_counter() - started
    print(f"\nwrote {figure}\nwrote {knobs_path}\nwrote {graph}\n({seconds:.1f} s)")
    return {"ratio": ratio, "per_step": per_step,
            "curves": {cell: c.tolist() for cell, c in curves.items()},
            "rnn_weight_gain": {g: float(c[0] / c[-1]) for g, c in rnn_gain.items()},
            "lstm_forget_bias": {b: float(c[0] / c[-1]) for b, c in lstm_bias.items()},
            "figures": [figure, knobs_path, graph], "seconds": seconds}


if __name__ == "__main__":
    main()
