"""The chapter's RNN, with U, W and V as plain tensors, and back-propagation through time.

What it teaches
---------------
The chapter (section 5.1) defines a recurrent network by three weight matrices shared
over all time steps:

    h_t = tanh(U x_t + W h_{t-1} + b)        hidden state
    o_t = V h_t + c                          output scores
    y^_t = softmax(o_t)                      prediction
    L = sum_t L_t,  L_t = -log y^_t[target_t]   cross-entropy, summed over time

Here they are written out by hand (no ``nn.RNN``) and unrolled over the 4 steps of the
classic "hell" -> "ello" next-character task. Then:

1. The unrolled graph is drawn one cluster per time step, and a second time with every
   op numbered in the order backward visits it: BPTT is nothing but backward on this
   unrolled graph, and it walks from the last time step back to the first.
2. The gradients dL/dU, dL/dW, dL/dV are checked against finite differences.
3. The key BPTT insight: because W is *shared*, dL/dW is the SUM over time steps of a
   per-step contribution,

       dL/dW = sum_t  delta_t^T h_{t-1},   delta_t = dL/dh_t * (1 - h_t^2),

   where dL/dh_t is the *total* gradient reaching h_t (from o_t and, through W, from
   h_{t+1}). We read dL/dh_t from the graph with ``h.retain_grad()``, compute every
   contribution in NumPy, and check that they add up to ``W.grad`` (and likewise U, V).

Run
---
    python examples/rnn_bptt.py                  # writes examples_out/rnn_bptt/
    python examples/rnn_bptt.py --quick --out /tmp/bptt

Figures: ``unrolled.svg`` (clusters t=0..3, recurrent edges in red), ``backward_order.svg``
(the same graph with ops numbered in backward's visiting order) and
``bptt_contributions.png`` (the size of each step's contribution to dL/dW, dL/dU, dL/dV
and of dL/dh_t).
"""
from __future__ import annotations

import os
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from tinygrad_rnn.core.autograd import backward_order
from tinygrad_rnn.nn import functional as F
from common import example_parser, save_figure, start_run

SCRIPT = "rnn_bptt"
DTYPE = "float64"  # float64 throughout, so finite differences are accurate


# ---------------------------------------------------------------------------------------
# The model: the chapter's equations, nothing more
# ---------------------------------------------------------------------------------------
def make_parameters(vocab: int, hidden: int, device: str) -> dict[str, tg.Tensor]:
    """U: input -> hidden, W: hidden -> hidden, V: hidden -> output, biases b and c."""
    def weight(*shape):
        return (tg.randn(*shape, dtype=DTYPE, device=device) * 0.5).requires_grad_(True)
    params = {"U": weight(hidden, vocab), "W": weight(hidden, hidden), "b": weight(hidden),
              "V": weight(vocab, hidden), "c": weight(vocab)}
    for name, p in params.items():
        p.name = name  # the graph pictures label leaves by name
    return params


def rnn_step(x_t: tg.Tensor, h_prev: tg.Tensor, U_t, W_t, b) -> tg.Tensor:
    """h_t = tanh(U x_t + W h_{t-1} + b).

    Vectors are rows here, shaped (batch, features), so "U x_t" is written x_t @ U^T;
    ``U_t`` and ``W_t`` are the transposes, made once and shared by every step.
    """
    return (x_t @ U_t + h_prev @ W_t + b).tanh()


def step_loss(h_t: tg.Tensor, y_t: tg.Tensor, V_t, c) -> tg.Tensor:
    """o_t = V h_t + c, L_t = -log softmax(o_t)[y_t]; y_t is one-hot, so L_t = -sum(y_t * log y^_t)."""
    o_t = viz.tag(h_t @ V_t + c, "o")
    return viz.tag(-(y_t * o_t.log_softmax(axis=-1)).sum(), "L_t")


def forward(params: dict, xs: list, ys: list, keep: list | None = None) -> tg.Tensor:
    """Unroll the RNN over the sequence and return L = sum_t L_t.

    Each step runs inside ``viz.scope(t=t)`` so every op it records carries the label
    ``t=N`` (the pictures cluster by it, and we read it back with ``viz.info(node).scope``). If
    ``keep`` is a list, the hidden states h_t are appended to it, with ``retain_grad()``
    so that backward leaves dL/dh_t in ``h_t.grad``.
    """
    U, W, b, V, c = (params[k] for k in "UWbVc")
    U_t, W_t, V_t = U.T, W.T, V.T                               # one transpose each, outside the loop
    h = tg.zeros(1, W.shape[0], dtype=DTYPE, device=W.device)   # h_{-1} = 0
    loss = None
    for t, (x_t, y_t) in enumerate(zip(xs, ys)):
        with viz.scope(t=t):
            h = viz.tag(rnn_step(x_t, h, U_t, W_t, b), "h")
            if keep is not None:
                keep.append(h.retain_grad())
            l_t = step_loss(h, y_t, V_t, c)
            loss = l_t if loss is None else loss + l_t
    return loss


def encode(text: str, device: str) -> tuple[list[str], list, list, list[int]]:
    """One-hot inputs x_t = text[t] and targets y_t = text[t+1] (next character)."""
    vocab = sorted(set(text))
    ids = [vocab.index(ch) for ch in text]
    eye = np.eye(len(vocab))
    row = lambda i: tg.tensor(eye[i][None, :], dtype=DTYPE, device=device)  # noqa: E731
    return vocab, [row(i) for i in ids[:-1]], [row(i) for i in ids[1:]], ids


# ---------------------------------------------------------------------------------------
# Watching backward walk back through time
# ---------------------------------------------------------------------------------------
def step_of(node) -> int | None:
    """The time step a node was recorded in (its ``t=N`` scope label), or None."""
    labels = [label for label in viz.info(node).scope if label.startswith("t=")]
    return int(labels[-1][2:]) if labels else None


def node_label(node) -> str:
    """``tanh<h>`` for a tagged node, ``permute(W)`` for an op applied directly to a named
    leaf, else the op's name."""
    if viz.info(node).name:
        return f"{node.name}<{viz.info(node).name}>"
    leaves = [edge[0].name for edge in node.parents
              if edge is not None and isinstance(edge[0], tg.Tensor) and edge[0].name]
    return f"{node.name}({','.join(leaves)})" if leaves and step_of(node) is None else node.name


def backward_visit_order(loss: tg.Tensor) -> list[tuple[str, int | None, str | None]]:
    """(label, time step, tag) of every node, in the order backward will visit them."""
    return [(node_label(node), step_of(node), viz.info(node).name) for node in backward_order(loss.grad_fn)]


def print_visit_order(visits: list) -> None:
    """Print the visiting order, one line per run of nodes from the same time step."""
    print("backward visits the ops in this order (each line: one stretch within a time step):")
    k = 0
    while k < len(visits):
        step = visits[k][1]
        run_end = k
        while run_end < len(visits) and visits[run_end][1] == step:
            run_end += 1
        names = [label for label, _, _ in visits[k:run_end]]
        where = f"t={step}" if step is not None else "outside steps"
        print(f"  [{k + 1:>2}-{run_end:>2}] {where:<13} " + " ".join(names))
        k = run_end
    print("  The transposes of U, W, V are made once, outside the steps, and used by every step;\n"
          "  backward reaches them only after every step has sent its gradient, and sums them:\n"
          "  that sum over t is BPTT's dL/dW = sum_t (step t's contribution).")


# ---------------------------------------------------------------------------------------
# BPTT by hand: dL/dW as a sum over time steps
# ---------------------------------------------------------------------------------------
def per_step_contributions(hs: list, xs: list) -> dict[str, np.ndarray]:
    """Each parameter's gradient contribution from each time step, in NumPy.

    With a_t = U x_t + W h_{t-1} + b and h_t = tanh(a_t):
        delta_t = dL/da_t = dL/dh_t * (1 - h_t^2)     (dL/dh_t: total, from h_t.grad)
        dL/dW  contribution of step t = delta_t^T h_{t-1}
        dL/dU  contribution of step t = delta_t^T x_t
        dL/db  contribution of step t = sum over the batch of delta_t
    and for the output layer, with p_t = softmax(o_t):
        dL/dV  contribution of step t = (p_t - y_t)^T h_t
    Returns arrays shaped (T, *parameter shape).
    """
    H = [h.detach().numpy() for h in hs]
    G = [h.grad.numpy() for h in hs]                    # dL/dh_t, kept by retain_grad()
    X = [x.numpy() for x in xs]
    zero = np.zeros_like(H[0])
    out = {"W": [], "U": [], "b": [], "dL/dh": []}
    for t in range(len(H)):
        delta = G[t] * (1.0 - H[t] ** 2)
        h_prev = H[t - 1] if t > 0 else zero            # h_{-1} = 0: W gets nothing at t=0
        out["W"].append(delta.T @ h_prev)
        out["U"].append(delta.T @ X[t])
        out["b"].append(delta.sum(axis=0))
        out["dL/dh"].append(G[t])
    return {k: np.stack(v) for k, v in out.items()}


def output_contributions(hs: list, ys: list, V: tg.Tensor, c: tg.Tensor) -> np.ndarray:
    """(p_t - y_t)^T h_t for every t: the output layer's per-step gradient."""
    result = []
    for h, y in zip(hs, ys):
        o = h.detach().numpy() @ V.detach().numpy().T + c.detach().numpy()
        p = np.exp(o - o.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        result.append((p - y.numpy()).T @ h.detach().numpy())
    return np.stack(result)


def plot_contributions(contrib: dict, path: str) -> str:
    """Bars: ||contribution of step t|| for W, U, V, and the line ||dL/dh_t||."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = contrib["W"].shape[0]
    steps = np.arange(T)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.27
    for k, name in enumerate(("W", "U", "V")):
        norms = [np.linalg.norm(contrib[name][t]) for t in steps]
        ax.bar(steps + (k - 1) * width, norms, width, label=f"dL/d{name} from step t")
    ax.set_xticks(steps, ["0\n(no W bar: $h_{-1} = 0$)"] + [str(t) for t in steps[1:]])
    ax.set_xlabel("time step t")
    ax.set_ylabel("Frobenius norm")
    ax.set_title("each step's share of the gradient\n(dL/dW = sum of the blue bars' matrices)")
    ax.legend(fontsize=8)
    ax2.plot(steps, [np.linalg.norm(contrib["dL/dh"][t]) for t in steps], "o-", color="C3")
    ax2.set_xticks(steps)
    ax2.set_xlabel("time step t")
    ax2.set_ylabel("||dL/dh_t||")
    ax2.set_title("gradient reaching each hidden state\n(own loss + what flows back through W)")
    ax2.grid(alpha=0.3)
    save_figure(fig, path)
    return path


# ---------------------------------------------------------------------------------------
def parse_args(argv):
    parser = example_parser(__doc__, SCRIPT, quick_help="tiny sizes (for the tests)")
    parser.add_argument("--text", default="hello", help="inputs text[:-1], targets text[1:]")
    parser.add_argument("--hidden", type=int, default=None, help="hidden size (default 8, quick 3)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = start_run(args)
    hidden = args.hidden or (3 if args.quick else 8)
    vocab, xs, ys, ids = encode(args.text, args.device)
    T = len(xs)
    params = make_parameters(len(vocab), hidden, args.device)
    print(f"text {args.text!r}: vocabulary {vocab}, T = {T} steps, hidden size {hidden}")
    for name, p in params.items():
        print(f"  {name}: {p.shape}")

    hs: list = []
    loss = forward(params, xs, ys, keep=hs)
    loss.name = "L"
    # the same loss with the library's cross-entropy, as a sanity check of step_loss
    with tg.no_grad():
        targets = [tg.tensor(ids[t + 1:t + 2], device=args.device) for t in range(T)]
        reference = sum(F.cross_entropy(h @ params["V"].T + params["c"], y, reduction="sum").item()
                        for h, y in zip(hs, targets))
    print(f"L = {loss.item():.6f}  (F.cross_entropy gives {reference:.6f})")

    # ---- pictures and visiting order: before backward, which frees the graph ----
    unrolled = viz.render(loss, path=os.path.join(args.out, "unrolled.svg"), params=params,
                          group="timestep")
    backward_svg = viz.render(loss, path=os.path.join(args.out, "backward_order.svg"), params=params,
                              group="timestep", backward_order=True)
    visits = backward_visit_order(loss)
    print_visit_order(visits)
    steps_seen = [step for _, step, _ in visits if step is not None]
    first_visit = {t: steps_seen.index(t) for t in range(T)}
    # the last step's h is reached before the first step's: backward walks back through time
    h_order = [step for name, step, tag in visits if tag == "h"]
    print(f"hidden states h_t in backward's order: {['h_%d' % t for t in h_order]}")
    norms_before = viz.hidden_grad_norms(loss)           # ||dL/dh_t|| by an observing pass

    loss.backward()

    # ---- 1. finite differences ----
    U, W, b, V, c = (params[k] for k in "UWbVc")
    ok = tg.gradcheck(lambda U, W, b, V, c: forward(dict(U=U, W=W, b=b, V=V, c=c), xs, ys),
                      [U, W, b, V, c])
    print(f"gradcheck of dL/dU, dL/dW, dL/db, dL/dV, dL/dc against finite differences: {ok}")

    # ---- 2. dL/dW = sum over time of per-step contributions ----
    contrib = per_step_contributions(hs, xs)
    contrib["V"] = output_contributions(hs, ys, V, c)
    diffs = {name: float(np.abs(contrib[name].sum(axis=0) - params[name].grad.numpy()).max())
             for name in ("W", "U", "b", "V")}
    print("per-step contributions to dL/dW (Frobenius norms):",
          ", ".join(f"t={t}: {np.linalg.norm(contrib['W'][t]):.4f}" for t in range(T)))
    print(f"  |sum_t contribution_t - W.grad|max = {diffs['W']:.2e}")
    print("  same check for U, b, V:", ", ".join(f"{k} {v:.2e}" for k, v in diffs.items() if k != "W"))
    hidden_norms = [float(np.linalg.norm(h.grad.numpy())) for h in hs]
    norm_diff = float(np.abs(np.asarray(norms_before) - hidden_norms).max())
    print("||dL/dh_t||:", ", ".join(f"{n:.4f}" for n in hidden_norms),
          f"(viz.hidden_grad_norms agrees to {norm_diff:.1e})")
    figure = plot_contributions(contrib, os.path.join(args.out, "bptt_contributions.png"))

    max_diff = max(diffs.values())
    seconds = time.perf_counter() - start
    print(f"BPTT sum check passed: {max_diff < 1e-10}   ({seconds:.2f} s; figures in {args.out})")
    return {"loss": loss.item(), "gradcheck": ok, "max_abs_diff": max_diff, "diffs": diffs,
            "bptt_sum_ok": max_diff < 1e-10,
            "contribution_norms_W": [float(np.linalg.norm(m)) for m in contrib["W"]],
            "hidden_grad_norms": hidden_norms, "hidden_grad_norms_viz_diff": norm_diff,
            "visit_steps": steps_seen, "h_visit_order": h_order, "first_visit": first_visit,
            "figures": [unrolled, backward_svg, figure], "seconds": seconds, "out": args.out}


if __name__ == "__main__":
    main()
