"""Higher-order gradients: Newton's method, the derivatives of tanh, their graphs, and a
Hessian-vector product.

What it teaches
---------------
``tg.grad(y, x, create_graph=True)`` returns dy/dx as a tensor *with a graph of its own*:
every op's backward formula runs on tensors, so the backward pass is recorded like any
other computation, and dy/dx can be differentiated again.

1. Newton's method on f(x) = x^4 - 3x^2 + x: x <- x - f'(x) / f''(x), with f' and f''
   from the library (f'' checked against 12x^2 - 6 by hand). The number of correct
   digits roughly doubles every step (quadratic convergence); gradient descent, which
   knows only f', gains a fixed number of digits per step (linear convergence).
2. The first five derivatives of tanh on a grid, each by differentiating the previous
   one, against their closed forms in t = tanh(x) (d/dx tanh = 1 - t^2, ...).
3. The graph of the third derivative of tanh at one point: each derivative's graph holds
   the previous one plus a backward formula for each of its ops, so the graphs grow
   (4, 7, 19, ... ops); the picture shows the third.
4. A Hessian-vector product of a small GRU's loss by double backward,
   Hv = d/dp (grad L(p) . v), checked against central differences of the gradient,
   (grad L(p + eps v) - grad L(p - eps v)) / (2 eps), in float64. H itself (n x n) is
   never formed.

Run
---
    python examples/higher_order.py                # writes examples_out/higher_order/
    python examples/higher_order.py --quick --out /tmp/ho

Figures: ``newton_convergence.png`` (|x_k - x*| per step, Newton against gradient
descent), ``tanh_derivatives.png`` (tanh and its derivatives 1 to 5, the library's values
as lines and the closed forms as dots) and ``tanh_third_derivative.svg`` (the graph that
computes the third derivative of tanh).
"""
from __future__ import annotations

import math
import os
import time
from typing import Callable, NamedTuple

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn import functional as F
from common import example_parser, save_figure, start_run

SCRIPT = "higher_order"
DTYPE = "float64"  # float64 throughout: the checks below compare to 1e-10 and better
START = 2.0           # Newton and gradient descent both start at x_0 = 2
LEARNING_RATE = 0.05  # gradient descent's step: stable near x*, where lr f''(x*) = 0.47 < 2
TOLERANCE = 1e-12     # both stop once |f'(x_k)| <= TOLERANCE


def leaf(values, device: str, name: str | None = None) -> tg.Tensor:
    """A float64 tensor we differentiate with respect to."""
    return tg.tensor(values, dtype=DTYPE, device=device, requires_grad=True, name=name)


def repeated_derivatives(y: tg.Tensor, x: tg.Tensor, order: int) -> list[tg.Tensor]:
    """[dy/dx, d2y/dx2, ..., d^order y/dx^order] for y computed elementwise from x.

    Each derivative is the gradient of the previous one. ``create_graph=True`` records
    the backward pass, so what it returns is again a function of x with a graph. The
    vector-Jacobian product with v = ones is the derivative at each point, because the
    Jacobian of an elementwise function is diagonal: dy_i/dx_j = 0 for i != j.
    """
    derivatives = []
    for _ in range(order):
        (y,) = tg.grad(y, x, grad_outputs=tg.ones_like(y), create_graph=True)
        derivatives.append(y)
    return derivatives


# ---------------------------------------------------------------------------------------
# 1. Newton's method with f'' from the library
# ---------------------------------------------------------------------------------------
def quartic(x: tg.Tensor) -> tg.Tensor:
    """f(x) = x^4 - 3x^2 + x: two minima (near -1.30 and 1.13) and a maximum near 0.17."""
    return x ** 4 - 3 * x ** 2 + x


def quartic_second_derivative(x: float) -> float:
    """By hand: f'(x) = 4x^3 - 6x + 1, f''(x) = 12x^2 - 6."""
    return 12 * x ** 2 - 6


def stationary_points() -> np.ndarray:
    """The roots of f'(x) = 4x^3 - 6x + 1 = 0 from NumPy: the reference Newton should reach."""
    return np.roots([4.0, 0.0, -6.0, 1.0]).real


class Iterate(NamedTuple):
    x: float
    slope: float      # f'(x)
    curvature: float  # f''(x)


def slope_and_curvature(fn: Callable[[tg.Tensor], tg.Tensor], x_value: float, device: str) -> Iterate:
    """f'(x) and f''(x) at one point: two grads, the first one recorded (create_graph)."""
    x = leaf(x_value, device)
    slope, curvature = repeated_derivatives(fn(x), x, order=2)
    return Iterate(x_value, slope.item(), curvature.item())


def newton(fn: Callable[[tg.Tensor], tg.Tensor], device: str, max_steps: int = 50) -> list[Iterate]:
    """x_{k+1} = x_k - f'(x_k) / f''(x_k) until |f'| <= TOLERANCE.

    x_{k+1} is the stationary point of the parabola that has f's value, slope and curvature
    at x_k; Newton finds stationary points, and f''(x*) > 0 says this one is a minimum.
    """
    iterates = [slope_and_curvature(fn, START, device)]
    while abs(iterates[-1].slope) > TOLERANCE and len(iterates) <= max_steps:
        current = iterates[-1]
        iterates.append(slope_and_curvature(fn, current.x - current.slope / current.curvature, device))
    return iterates


def gradient_descent(fn: Callable[[tg.Tensor], tg.Tensor], device: str, max_steps: int = 1000) -> list[float]:
    """x_{k+1} = x_k - lr f'(x_k) until |f'| <= TOLERANCE; returns every x_k."""
    xs = [START]
    while len(xs) <= max_steps:
        x = leaf(xs[-1], device)
        (slope,) = tg.grad(fn(x), x)  # the first derivative only: no graph of it needed
        if abs(slope.item()) <= TOLERANCE:
            break
        xs.append(xs[-1] - LEARNING_RATE * slope.item())
    return xs


def correct_digits(x: float, reference: float) -> float:
    """-log10 of the relative error; 16 (all of float64's digits) when it is 0."""
    error = abs(x - reference) / abs(reference)
    return 16.0 if error == 0 else -math.log10(error)


def plot_convergence(newton_errors: list[float], descent_errors: list[float], path: str) -> str:
    """|x_k - x*| against k on a log scale: a straight line is linear convergence (a fixed
    number of digits per step), a line bending down ever faster is quadratic."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 1e-17  # an error of exactly 0 is drawn here (log scale)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.semilogy([max(e, floor) for e in newton_errors], "o-", label="Newton: $x - f'/f''$")
    ax.semilogy([max(e, floor) for e in descent_errors], ".-",
                label=f"gradient descent: $x - {LEARNING_RATE:g} f'$")
    ax.set_xlabel("step k")
    ax.set_ylabel("$|x_k - x^*|$")
    ax.set_title(f"$f(x) = x^4 - 3x^2 + x$ from $x_0 = {START:g}$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def newton_part(device: str, out: str) -> dict:
    print(f"== 1. Newton's method on f(x) = x^4 - 3x^2 + x, from x_0 = {START:g} ==")
    iterates = newton(quartic, device)
    x_star = min(stationary_points(), key=lambda root: abs(root - iterates[-1].x))
    print(f"x* = {x_star:.16f} (a root of f'(x) = 4x^3 - 6x + 1, from np.roots)")
    header = ("k", "x_k", "f'(x_k)", "f''(x_k)", "12x_k^2 - 6", "|x_k - x*|", "digits")
    print("  {:>2}  {:<19} {:>10}  {:>18}  {:>18}  {:>10}  {:>6}".format(*header))
    curvature_error = 0.0
    for k, it in enumerate(iterates):
        by_hand = quartic_second_derivative(it.x)
        curvature_error = max(curvature_error, abs(it.curvature - by_hand))
        print(f"  {k:>2}  {it.x:<19.16f} {it.slope:>+10.2e}  {it.curvature:>18.14f}  {by_hand:>18.14f}  "
              f"{abs(it.x - x_star):>10.1e}  {correct_digits(it.x, x_star):>6.1f}")
    print("  (f' and f'' from the library, 12x_k^2 - 6 by hand)")
    print(f"  max |f''_library - (12x^2 - 6)| = {curvature_error:.1e}; "
          f"f''(x*) = {iterates[-1].curvature:.3f} > 0: a minimum")

    descent = gradient_descent(quartic, device)
    same_steps = descent[len(iterates) - 1]
    print(f"gradient descent (lr {LEARNING_RATE:g}) after the same {len(iterates) - 1} steps: "
          f"|x - x*| = {abs(same_steps - x_star):.1e}; it needs {len(descent) - 1} steps to reach "
          f"|f'| <= {TOLERANCE:g}")
    # near x*, x_{k+1} - x* ~ (1 - lr f''(x*)) (x_k - x*): a constant factor per step
    factor = abs(1 - LEARNING_RATE * iterates[-1].curvature)
    print(f"  its error shrinks by the factor |1 - lr f''(x*)| = {factor:.3f} per step (linear convergence);")
    print("  Newton's error is roughly squared at each step, so its correct digits double "
          "(quadratic convergence)")
    figure = plot_convergence([abs(it.x - x_star) for it in iterates],
                              [abs(x - x_star) for x in descent],
                              os.path.join(out, "newton_convergence.png"))
    return {"newton_x": [it.x for it in iterates], "newton_final_slope": abs(iterates[-1].slope),
            "newton_digits": [correct_digits(it.x, x_star) for it in iterates], "x_star": float(x_star),
            "curvature_error": curvature_error, "descent_steps": len(descent) - 1,
            "descent_error_at_newton_steps": abs(same_steps - x_star), "newton_figure": figure}


# ---------------------------------------------------------------------------------------
# 2. The derivatives of tanh, one grad at a time
# ---------------------------------------------------------------------------------------
# Closed forms in t = tanh(x), each from the previous one by the chain rule
# d/dx p(t) = p'(t) dt/dx = p'(t) (1 - t^2):
TANH_DERIVATIVES: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda t: 1 - t ** 2,
    2: lambda t: -2 * t * (1 - t ** 2),
    3: lambda t: (1 - t ** 2) * (6 * t ** 2 - 2),
    4: lambda t: (1 - t ** 2) * (16 * t - 24 * t ** 3),
    5: lambda t: (1 - t ** 2) * (16 - 120 * t ** 2 + 120 * t ** 4),
}


def plot_tanh_derivatives(grid: np.ndarray, library: list[np.ndarray], closed_forms: list[np.ndarray],
                          path: str) -> str:
    """One panel per derivative (their scales differ: max |tanh'| = 1, max |tanh^(5)| = 16)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), sharex=True)
    panels = [(r"$\tanh(x)$", np.tanh(grid), None)]
    panels += [(rf"$\tanh^{{({n})}}(x)$", lib, exact)
               for n, (lib, exact) in enumerate(zip(library, closed_forms), start=1)]
    every = max(1, len(grid) // 25)  # dots sparse enough to see the line under them
    for ax, (title, values, exact) in zip(axes.flat, panels):
        ax.plot(grid, values, color="C0", label="library (repeated tg.grad)")
        if exact is not None:
            ax.plot(grid[::every], exact[::every], "o", color="C3", markersize=3, label="closed form in t")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_title(title, fontsize=10)
    for ax in axes[1]:
        ax.set_xlabel("x")
    handles, labels = axes.flat[1].get_legend_handles_labels()
    axes.flat[0].legend(handles, labels, fontsize=8, loc="lower right")  # tanh's empty corner
    return save_figure(fig, path)


def tanh_part(device: str, out: str, points: int, order: int) -> dict:
    print(f"\n== 2. the derivatives of tanh, orders 1 to {order}, on {points} points in [-3, 3] ==")
    grid = np.linspace(-3.0, 3.0, points)
    x = leaf(grid, device)
    derivatives = [d.detach().numpy() for d in repeated_derivatives(x.tanh(), x, order)]
    t = np.tanh(grid)
    closed_forms = [TANH_DERIVATIVES[n](t) for n in range(1, order + 1)]
    errors = {}
    for n, (library, exact) in enumerate(zip(derivatives, closed_forms), start=1):
        errors[n] = float(np.abs(library - exact).max())
        print(f"  order {n}: max |library - closed form| = {errors[n]:.1e}   "
              f"(max |tanh^({n})| = {np.abs(exact).max():.3f})")
    figure = plot_tanh_derivatives(grid, derivatives, closed_forms, os.path.join(out, "tanh_derivatives.png"))
    ok = tg.gradgradcheck(tg.tanh, [leaf(grid[:: max(1, points // 8)], device)])
    print(f"  gradgradcheck(tanh) (second derivative against finite differences): {ok}")
    return {"tanh_errors": errors, "tanh_gradgradcheck": ok, "tanh_figure": figure}


# ---------------------------------------------------------------------------------------
# 3. The graph of the third derivative
# ---------------------------------------------------------------------------------------
def count_ops(tensor: tg.Tensor) -> int:
    """The number of op nodes in the graph that produced ``tensor`` (leaves not counted)."""
    seen: set = set()
    stack = [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if not isinstance(node, tg.Function) or node in seen:  # a leaf, a constant, or done
            continue
        seen.add(node)
        stack.extend(edge[0] for edge in node.parents if edge is not None)  # edge = (source, index)
    return len(seen)


def graph_part(device: str, out: str, order: int) -> dict:
    point = 0.5
    print(f"\n== 3. the graphs of the derivatives of tanh at x = {point:g} ==")
    x = leaf(point, device, name="x")  # 0-d, so the picture shows the structure, not shapes
    t = x.tanh()
    viz.name(t=t)
    derivatives = repeated_derivatives(t, x, order)
    counts = {n: count_ops(d) for n, d in enumerate(derivatives, start=1)}
    for n, count in counts.items():
        print(f"  tanh^({n})({point:g}) = {derivatives[n - 1].item():+.12f}   graph: {count:>3} ops")
    third = derivatives[2]
    viz.name(d3=third)
    path = viz.render(third, path=os.path.join(out, "tanh_third_derivative.svg"), show=())
    print(f"  the graph of the third derivative drawn to {path}")
    return {"op_counts": counts, "graph_svg": path}


# ---------------------------------------------------------------------------------------
# 4. A Hessian-vector product of a GRU's loss
# ---------------------------------------------------------------------------------------
def hessian_vector_product(loss_fn: Callable[[], tg.Tensor], params: list[tg.Tensor],
                           direction: list[tg.Tensor]) -> list[tg.Tensor]:
    """H v by double backward: g = dL/dp (recorded), then d(g . v)/dp = H v (H is symmetric).

    Two backward passes, whatever the number of parameters n; H itself (n x n) is never formed.
    """
    grads = tg.grad(loss_fn(), params, create_graph=True)
    g_dot_v = sum((g * v).sum() for g, v in zip(grads, direction))  # a scalar, a function of p
    return list(tg.grad(g_dot_v, params))


def gradient_at_shift(loss_fn: Callable[[], tg.Tensor], params: list[tg.Tensor],
                      direction: list[tg.Tensor], step: float) -> np.ndarray:
    """dL/dp at p + step * v, flattened into one vector (the parameters are put back)."""
    with tg.no_grad():
        for p, v in zip(params, direction):
            p.add_(step * v)
    try:
        grads = tg.grad(loss_fn(), params)
    finally:
        with tg.no_grad():
            for p, v in zip(params, direction):
                p.sub_(step * v)
    return flatten(grads)


def flatten(tensors: list[tg.Tensor]) -> np.ndarray:
    """All parameters' entries as one vector, so the check below is a single norm."""
    return np.concatenate([t.detach().numpy().reshape(-1) for t in tensors])


def hvp_part(device: str, seq_len: int, eps: float = 1e-5) -> dict:
    batch, features, hidden = 3, 2, 4
    gru = nn.GRU(features, hidden).double().to(device)
    head = nn.Linear(hidden, 1).double().to(device)
    params = list(gru.parameters()) + list(head.parameters())
    n = sum(p.numel() for p in params)
    print(f"\n== 4. a Hessian-vector product: GRU({features}, {hidden}) + Linear({hidden}, 1), "
          f"{seq_len} steps, {n} parameters ==")
    x = tg.randn(seq_len, batch, features, dtype=DTYPE, device=device)
    target = tg.randn(batch, 1, dtype=DTYPE, device=device)

    def loss_fn() -> tg.Tensor:
        out, _ = gru(x)                                   # out: (seq_len, batch, hidden)
        return F.mse_loss(head(out[-1]), target)          # predict from the last step

    direction = [tg.randn(*p.shape, dtype=DTYPE, device=device) for p in params]
    hv = flatten(hessian_vector_product(loss_fn, params, direction))
    # central differences of the gradient along v: error O(eps^2) from the third
    # derivatives, plus rounding of about 1e-16 / eps
    numeric = (gradient_at_shift(loss_fn, params, direction, eps)
               - gradient_at_shift(loss_fn, params, direction, -eps)) / (2 * eps)
    relative_error = float(np.linalg.norm(hv - numeric) / np.linalg.norm(numeric))
    curvature = float(hv @ flatten(direction))
    print(f"  L = {loss_fn().item():.6f};  ||Hv|| = {np.linalg.norm(hv):.6f};  "
          f"v^T H v = {curvature:+.6f} (the curvature along v)")
    print(f"  ||Hv - finite differences|| / ||finite differences|| = {relative_error:.1e}   (eps = {eps:g})")
    print(f"  (two backward passes; the {n} x {n} Hessian was never formed)")
    return {"parameters": n, "hvp_relative_error": relative_error, "hvp_curvature": curvature}


# ---------------------------------------------------------------------------------------
def parse_args(argv):
    parser = example_parser(__doc__, SCRIPT, quick_help="fewer grid points, shorter sequence (for the tests)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = start_run(args)
    order = 5
    results = {}
    results.update(newton_part(args.device, args.out))
    results.update(tanh_part(args.device, args.out, points=61 if args.quick else 301, order=order))
    results.update(graph_part(args.device, args.out, order))
    results.update(hvp_part(args.device, seq_len=3 if args.quick else 8))
    results["seconds"] = time.perf_counter() - start
    results["out"] = args.out
    print(f"\n({results['seconds']:.2f} s; figures in {args.out})")
    return results


if __name__ == "__main__":
    main()
