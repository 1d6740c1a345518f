"""Autograd basics: the tape, backward, gradcheck and a custom op.

What it teaches
---------------
1. Every op on tensors that require grad records a node (a ``tinygrad_rnn.Function``)
   on a *tape*. ``loss.grad_fn`` is the last node; each node knows its parents, the
   shapes of its outputs and what it saved for backward.
2. ``backward_order(loss.grad_fn)`` is the order in which ``backward()`` visits
   the nodes: every node before the nodes that produced its inputs. We print it
   *before* calling backward, because backward frees what the nodes saved.
3. ``backward()`` applies the chain rule node by node. We check the result three
   ways: against a derivative worked out by hand, against central finite
   differences (``tinygrad_rnn.core.gradcheck``, in float64), and by drawing the graph.
4. A new op is a ``Function`` subclass with a ``forward`` and a ``backward``; the
   example writes Softplus and gradchecks it.

Run
---
    python examples/autograd_basics.py               # writes examples_out/autograd_basics/
    python examples/autograd_basics.py --quick --out /tmp/ab

Figures: ``graph.svg`` (the tensor expression, shapes and dtypes on every node) and
``scalar_graph.svg`` (the scalar expression f = tanh(a*b + c)).
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from tinygrad_rnn.core.autograd import backward_order
from common import example_parser, start_run

SCRIPT = "autograd_basics"


# ---------------------------------------------------------------------------------------
# Looking at the tape
# ---------------------------------------------------------------------------------------
def describe_edge(edge) -> str:
    """Where one input of a node came from: another node, a leaf tensor, or a constant."""
    if edge is None:
        return "data (no grad)"
    source, index = edge
    if isinstance(source, tg.Function):
        return f"{source.name}" + (f"[{index}]" if source.num_outputs > 1 else "")
    return f"leaf {source.name or 'tensor'} {tuple(source.shape)}"


def print_tape(loss: tg.Tensor) -> list[str]:
    """Print the recorded nodes in the order backward will visit them; return their names.

    For each node: the op, the shape of what it produced, the shapes of the arrays it
    saved for its backward (``node.saved``), and where its inputs came from.
    Must run before ``loss.backward()``, which frees ``saved`` (the edges stay).
    """
    order = backward_order(loss.grad_fn)
    print(f"  {'#':>2}  {'op':<8} {'output shape':<13} {'shapes saved':<22} inputs from")
    for k, node in enumerate(order, start=1):
        shapes = ", ".join(str(tuple(s)) for s in viz.info(node).shapes)
        saved = [a for a in node.saved if a is not None]  # () when its backward needs no values (add, sum)
        saved_text = ", ".join(str(tuple(np.shape(a))) for a in saved) or "-"
        inputs = ", ".join(describe_edge(e) for e in node.parents)
        print(f"  {k:>2}  {node.name:<8} {shapes:<13} {saved_text:<22} {inputs}")
    return [node.name for node in order]


# ---------------------------------------------------------------------------------------
# 1. A scalar expression: f = tanh(a*b + c)
# ---------------------------------------------------------------------------------------
def scalar_expression(a: tg.Tensor, b: tg.Tensor, c: tg.Tensor) -> tg.Tensor:
    return (a * b + c).tanh()


def hand_derivatives(a: float, b: float, c: float) -> dict[str, float]:
    """The chain rule on paper: with u = a*b + c and f = tanh(u),
    df/du = 1 - tanh(u)^2, du/da = b, du/db = a, du/dc = 1."""
    dfdu = 1.0 - math.tanh(a * b + c) ** 2
    return {"a": dfdu * b, "b": dfdu * a, "c": dfdu}


def scalar_part(device: str, out: str) -> dict:
    print("== 1. scalar expression f = tanh(a*b + c) ==")
    values = {"a": 0.5, "b": -1.5, "c": 0.25}
    a, b, c = (tg.tensor(v, requires_grad=True, dtype="float64", device=device, name=k)
               for k, v in values.items())
    f = scalar_expression(a, b, c)
    f.name = "f"
    print(f"f = {f.item():.6f}   (grad_fn = {f.grad_fn})")
    print("tape in backward order (printed before backward, which frees it):")
    order = print_tape(f)
    viz.render(f, path=os.path.join(out, "scalar_graph.svg"), show=("shape", "dtype"))

    f.backward()
    grads = {"a": a.grad.item(), "b": b.grad.item(), "c": c.grad.item()}
    by_hand = hand_derivatives(**values)
    hand_error = max(abs(grads[k] - by_hand[k]) for k in grads)
    for k in grads:
        print(f"  df/d{k}: backward {grads[k]:+.10f}   by hand {by_hand[k]:+.10f}")
    print(f"  max |backward - by hand| = {hand_error:.2e}")
    ok = tg.gradcheck(scalar_expression, [a, b, c])  # central differences, float64
    print(f"  gradcheck (finite differences): {ok}")
    print(f"  after backward the nodes' saved values are gone: {f.grad_fn.saved}")
    return {"scalar_value": f.item(), "scalar_grad": grads, "scalar_hand_grad": by_hand,
            "scalar_hand_error": hand_error, "scalar_gradcheck": ok, "scalar_tape": order}


# ---------------------------------------------------------------------------------------
# 2. A small tensor expression: L = sum(sigmoid(x W + b))
# ---------------------------------------------------------------------------------------
def tensor_expression(x: tg.Tensor, w: tg.Tensor, b: tg.Tensor) -> tg.Tensor:
    return (x @ w + b).sigmoid().sum()


def tensor_hand_gradients(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With z = x W + b and s = sigmoid(z): dL/dz = s (1 - s), dL/dW = x^T dL/dz,
    dL/db = sum over rows of dL/dz (b was broadcast over the rows, so its gradient sums)."""
    s = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    dz = s * (1.0 - s)
    return x.T @ dz, dz.sum(axis=0)


def tensor_part(device: str, out: str, rows: int, features: int, units: int) -> dict:
    print(f"\n== 2. tensor expression L = sum(sigmoid(x W + b)), x: ({rows}, {features}) ==")
    x = tg.randn(rows, features, dtype="float64", device=device)          # data: no grad
    w = tg.randn(features, units, dtype="float64", device=device, requires_grad=True)
    b = tg.zeros(units, dtype="float64", device=device, requires_grad=True)
    x.name, w.name, b.name = "x", "W", "b"
    loss = tensor_expression(x, w, b)
    loss.name = "L"
    print("tape in backward order:")
    order = print_tape(loss)
    graph_path = viz.render(loss, path=os.path.join(out, "graph.svg"), show=("shape", "dtype"))
    print(f"  graph drawn to {graph_path}")

    loss.backward()
    dw, db = tensor_hand_gradients(x.numpy(), w.detach().numpy(), b.detach().numpy())
    hand_error = max(float(np.abs(w.grad.numpy() - dw).max()), float(np.abs(b.grad.numpy() - db).max()))
    ok = tg.gradcheck(lambda w, b: tensor_expression(x, w, b), [w, b])
    print(f"  L = {loss.item():.6f}; dL/dW has shape {w.grad.shape}, dL/db {b.grad.shape}")
    print(f"  max |backward - by hand| = {hand_error:.2e}; gradcheck: {ok}")
    return {"tensor_value": loss.item(), "tensor_hand_error": hand_error, "tensor_gradcheck": ok,
            "tensor_tape": order, "graph_svg": graph_path}


# ---------------------------------------------------------------------------------------
# 3. A custom op
# ---------------------------------------------------------------------------------------
class Softplus(tg.Function):
    """softplus(x) = log(1 + e^x); its derivative is sigmoid(x).

    ``forward`` and ``backward`` work on backend arrays (``self.xp`` is NumPy or CuPy),
    so the op runs on any device. ``backward`` gets dL/d(output) and returns dL/dx.
    """

    def forward(self, x):
        self.save_for_backward(x)                       # backward needs the input
        return self.xp.logaddexp(0, x)                  # log(e^0 + e^x), no overflow

    def backward(self, grad):
        (x,) = self.saved
        return grad * (0.5 + 0.5 * self.xp.tanh(0.5 * x))  # sigmoid(x), written stably


def custom_op_part(device: str, n: int) -> dict:
    print("\n== 3. a custom op: Softplus ==")
    x = (tg.randn(n, 3, dtype="float64", device=device) * 3.0).requires_grad_(True)  # spread-out inputs
    y = Softplus.apply(x)
    composed = (1.0 + x.exp()).log()                   # the same function from primitive ops
    value_error = float(np.abs(y.detach().numpy() - composed.detach().numpy()).max())
    y.sum().backward()
    sigmoid = 1.0 / (1.0 + np.exp(-x.detach().numpy()))
    grad_error = float(np.abs(x.grad.numpy() - sigmoid).max())
    ok = tg.gradcheck(Softplus.apply, [x])
    print(f"  |Softplus - log(1 + exp(x))| <= {value_error:.1e}; "
          f"|grad - sigmoid(x)| <= {grad_error:.1e}")
    print(f"  gradcheck(Softplus.apply): {ok}")
    return {"softplus_value_error": value_error, "softplus_grad_error": grad_error,
            "softplus_gradcheck": ok}


# ---------------------------------------------------------------------------------------
def parse_args(argv):
    parser = example_parser(__doc__, SCRIPT, quick_help="tiny sizes (for the tests)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = start_run(args)
    results = {}
    results.update(scalar_part(args.device, args.out))
    rows, features, units = (2, 3, 2) if args.quick else (2, 3, 4)
    results.update(tensor_part(args.device, args.out, rows, features, units))
    results.update(custom_op_part(args.device, 4 if args.quick else 50))
    results["gradcheck"] = bool(results["scalar_gradcheck"] and results["tensor_gradcheck"]
                                and results["softplus_gradcheck"])
    results["seconds"] = time.perf_counter() - start
    results["out"] = args.out
    print(f"\nall gradchecks passed: {results['gradcheck']}   "
          f"({results['seconds']:.2f} s; figures in {args.out})")
    return results


if __name__ == "__main__":
    main()
