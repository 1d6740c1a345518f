"""Looking inside an LSTM: its input, forget and output gates, character by character.

What it teaches
---------------
The chapter's LSTM (section 5.2) decides at every step, per unit, how much to write,
keep and show:

    i_t = sigmoid(W_i [h_{t-1}, x_t] + b_i)      input gate: how much of the candidate to write
    f_t = sigmoid(W_f [h_{t-1}, x_t] + b_f)      forget gate: how much of C_{t-1} to keep
    C~_t = tanh(W_C [h_{t-1}, x_t] + b_C)        candidate cell
    o_t = sigmoid(W_o [h_{t-1}, x_t] + b_o)      output gate: how much of tanh(C_t) to show
    C_t = f_t * C_{t-1} + i_t * C~_t,   h_t = o_t * tanh(C_t)

``nn.LSTM`` computes exactly this, but only returns h and C. To see the gates we

1. train a small character-level model (Embedding -> LSTM -> Linear) on the bundled
   Shakespeare for a short while, so the gates have learnt something;
2. re-run a held-out line through the trained layer *by hand*, one step at a time,
   with the chapter's gate equations (as in ``tinygrad_rnn.nn.cells.lstm_step``) and the layer's own weights
   (``x_proj = x W_ih^T + b_ih + b_hh``, ``w_hh_t = W_hh^T``, PyTorch's names), under
   ``no_grad()``, keeping i_t, f_t and o_t;
3. check the hand-run hidden states equal the layer's output (so what we plot is what
   the model computes), and
4. draw each gate as a heat map: x = the characters read, y = the hidden units.

Run
---
    python examples/gate_activations.py          # ~1 minute on a CPU; examples_out/gate_activations/
    python examples/gate_activations.py --quick --out /tmp/gates

Figures: ``gates.png`` (three heat maps) and ``loss.png`` (the short training run).
"""
from __future__ import annotations

import os
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.data import SequenceBatcher, Vocabulary, load_corpus
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.utils import clip_grad_norm_
from common import example_parser, save_figure, start_run

SCRIPT = "gate_activations"
GATES = ("input", "forget", "output")


# ---------------------------------------------------------------------------------------
# A character model
# ---------------------------------------------------------------------------------------
class CharModel(nn.Module):
    """ids (T, N) -> embedding vectors x_t -> LSTM -> V h_t + c = scores over the characters."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: tg.Tensor, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


def train(model: CharModel, batcher: SequenceBatcher, steps: int, lr: float, clip: float) -> list[float]:
    """Truncated BPTT over the corpus: next-character cross-entropy, Adam, clipping."""
    opt = optim.Adam(model.parameters(), lr=lr)
    params = list(model.parameters())
    state, losses = None, []
    for step in range(steps):
        if batcher.position == 0:
            state = None                                  # a new pass starts from a zero state
        inputs, targets = batcher.next_batch()            # (seq_len, batch) ids, targets shifted by one
        scores, (h, c) = model(inputs, state)             # (seq_len, batch, vocab)
        loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(params, clip)
        opt.step()
        state = (h.detach(), c.detach())
        losses.append(loss.item())
    return losses


# ---------------------------------------------------------------------------------------
# Running the trained LSTM by hand and keeping its gates
# ---------------------------------------------------------------------------------------
@tg.no_grad()
def run_with_gates(lstm: nn.LSTM, x: tg.Tensor) -> dict[str, np.ndarray]:
    """Unroll layer 0 of ``lstm`` over x (T, 1, H_in) with the cell's equations; keep every gate.

    Returns arrays shaped (T, H): "input", "forget", "output" gates, "candidate",
    "c" (cell state) and "h" (hidden state).
    """
    w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0       # U (4H, H_in) and W (4H, H): rows i, f, g, o
    x_proj = x @ w_ih.T + lstm.bias_ih_l0 + lstm.bias_hh_l0  # U x_t + b for every t at once
    w_hh_t = w_hh.T                                          # transposed once, as the layer does
    H = lstm.hidden_size
    h = tg.zeros(1, H, dtype=x.dtype, device=x.device)       # h_{-1} = 0
    c = tg.zeros(1, H, dtype=x.dtype, device=x.device)       # C_{-1} = 0
    kept = {name: [] for name in (*GATES, "candidate", "c", "h")}
    for t in range(x.shape[0]):
        i, f, g, o = (x_proj[t] + h @ w_hh_t).chunk(4, axis=-1)  # W_* [h_{t-1}, x_t] + b_*, four gates
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()  # i_t, f_t, C~_t, o_t
        c = f * c + i * g                                    # C_t = f_t * C_{t-1} + i_t * C~_t
        h = o * c.tanh()                                     # h_t = o_t * tanh(C_t)
        for name, value in zip(("input", "forget", "candidate", "output", "c", "h"), (i, f, g, o, c, h)):
            kept[name].append(value.numpy()[0])
    return {name: np.stack(values) for name, values in kept.items()}


def shown(ch: str) -> str:
    """A character as an axis label: visible stand-ins for space and newline."""
    return {" ": "\u2423", "\n": "\u21b5"}.get(ch, ch)


def kind_of(ch: str) -> str:
    if ch == " ":
        return "space"
    if ch == "\n":
        return "newline"
    return "letter" if ch.isalpha() else "other"


def plot_gates(gates: dict, text: str, path: str) -> str:
    """Three heat maps (input, forget, output): x = time step (the character read), y = unit.

    The units are drawn in one order for all three panels, sorted by their mean forget gate
    (units that keep their memory on top), so the rows line up and structure shows.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T, H = gates["input"].shape
    order = np.argsort(-gates["forget"].mean(axis=0), kind="stable")
    width = max(8.0, 0.16 * T + 2)
    fig, axes = plt.subplots(3, 1, figsize=(width, 2.0 + 0.06 * H * 3), sharex=True,
                             constrained_layout=True)
    for ax, name in zip(axes, GATES):
        image = ax.imshow(gates[name][:, order].T, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0,
                          interpolation="nearest")
        ax.set_ylabel("unit (sorted)")
        ax.set_title(f"{name} gate (mean {gates[name].mean():.2f})", fontsize=10, loc="left")
    axes[-1].set_xticks(range(T), [shown(ch) for ch in text], fontsize=7, family="monospace")
    axes[-1].set_xlabel("time step (the character read at that step); units sorted by mean forget gate, "
                        "most remembering on top")
    fig.colorbar(image, ax=axes, shrink=0.8, label="gate value (0 = closed, 1 = open)")
    fig.suptitle(f"LSTM gate activations while reading: {text.strip()[:60]!r}...", fontsize=11)
    save_figure(fig, path)
    return path


def plot_loss(losses: list[float], path: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.8, alpha=0.5, label="per batch")
    window = max(1, len(losses) // 20)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(len(smooth)) + window - 1, smooth, lw=2, label=f"mean of {window}")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy (nats / character)")
    ax.set_title("short training of the character LSTM")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return path


def held_out_line(text: str, start: int, length: int) -> str:
    """``length`` characters of ``text`` from the first line start at or after ``start``."""
    begin = text.index("\n", start) + 1
    return text[begin:begin + length]


# ---------------------------------------------------------------------------------------
def parse_args(argv):
    parser = example_parser(__doc__, SCRIPT, quick_help="tiny sizes (for the tests)")
    parser.add_argument("--hidden", type=int, default=None, help="LSTM hidden size (48; quick 12)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (500; quick 20)")
    parser.add_argument("--seq-len", type=int, default=50, help="truncated BPTT length")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--length", type=int, default=None, help="characters to plot (80; quick 30)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    hidden = args.hidden or (12 if args.quick else 48)
    steps = args.steps or (20 if args.quick else 500)
    length = args.length or (30 if args.quick else 80)
    start = start_run(args)

    corpus = load_corpus()
    vocab = Vocabulary.from_text(corpus)
    split = int(0.95 * len(corpus))                       # train on the first 95%, probe the rest
    batcher = SequenceBatcher(vocab.encode(corpus[:split]), args.batch, args.seq_len, device=args.device)
    model = CharModel(len(vocab), embed_size=hidden, hidden_size=hidden).to(args.device)
    print(f"corpus: {len(corpus)} characters, {len(vocab)} distinct; model: Embedding -> "
          f"LSTM({hidden}) -> Linear; {steps} steps of {args.batch} x {args.seq_len} characters")
    losses = train(model, batcher, steps, args.lr, args.clip)
    head = np.mean(losses[:10])
    tail = np.mean(losses[-10:])
    print(f"training cross-entropy: {head:.3f} (first 10 steps) -> {tail:.3f} (last 10 steps); "
          f"uniform guessing would be ln {len(vocab)} = {np.log(len(vocab)):.3f}")
    train_seconds = time.perf_counter() - start

    # ---- the probe: a held-out line, run by hand and by the layer ----
    text = held_out_line(corpus, split, length)
    ids = tg.tensor(vocab.encode(text), dtype="int64", device=args.device).reshape(-1, 1)   # (T, 1)
    with tg.no_grad():
        x = model.embed(ids)                                  # (T, 1, H_in): the LSTM's input
        layer_out, (h_n, c_n) = model.lstm(x)                 # (T, 1, H)
    gates = run_with_gates(model.lstm, x)
    h_diff = float(np.abs(gates["h"] - layer_out.numpy()[:, 0]).max())
    c_diff = float(np.abs(gates["c"][-1] - c_n.numpy()[0, 0]).max())
    consistent = bool(np.allclose(gates["h"], layer_out.numpy()[:, 0], atol=1e-5)
                      and np.allclose(gates["c"][-1], c_n.numpy()[0, 0], atol=1e-5))
    assert consistent, f"hand-run LSTM differs from nn.LSTM: |h| {h_diff:.2e}, |c| {c_diff:.2e}"
    print(f"probe text ({len(text)} characters): {text!r}")
    print(f"hand-run h_t vs nn.LSTM output: max |difference| {h_diff:.1e}; final C: {c_diff:.1e} "
          f"-> consistent: {consistent}")

    means = {name: float(gates[name].mean()) for name in GATES}
    lows = {name: float(gates[name].min()) for name in GATES}
    highs = {name: float(gates[name].max()) for name in GATES}
    saturated = {name: float(((gates[name] < 0.05) | (gates[name] > 0.95)).mean()) for name in GATES}
    for name in GATES:
        print(f"  {name:>6} gate: mean {means[name]:.3f}, range [{lows[name]:.2g}, {highs[name]:.6g}], "
              f"{100 * saturated[name]:.0f}% of values below 0.05 or above 0.95")
    kinds = np.array([kind_of(ch) for ch in text])
    print("  mean gate value by the kind of character just read:")
    by_kind = {}
    for kind in ("letter", "space", "newline", "other"):
        if (kinds == kind).any():
            by_kind[kind] = {name: float(gates[name][kinds == kind].mean()) for name in GATES}
            print(f"    {kind:>7} ({(kinds == kind).sum():>2}): " +
                  ", ".join(f"{name} {value:.3f}" for name, value in by_kind[kind].items()))

    gates_png = plot_gates(gates, text, os.path.join(args.out, "gates.png"))
    loss_png = plot_loss(losses, os.path.join(args.out, "loss.png"))
    seconds = time.perf_counter() - start
    print(f"trained in {train_seconds:.1f} s, {seconds:.1f} s in all; figures in {args.out}")
    return {"mean_gates": means, "min_gates": lows, "max_gates": highs, "saturated": saturated,
            "gates_by_kind": by_kind,
            "consistent": consistent, "h_max_abs_diff": h_diff, "c_max_abs_diff": c_diff,
            "loss_first": float(head), "loss_last": float(tail), "text": text,
            "figures": [gates_png, loss_png], "seconds": seconds, "out": args.out}


if __name__ == "__main__":
    main()
