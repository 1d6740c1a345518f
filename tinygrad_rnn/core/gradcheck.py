"""``gradcheck`` and ``gradgradcheck``: compare backward's gradients (and the gradients of
those gradients) with central finite differences.

The function's outputs are reduced to one scalar with fixed pseudo-random weights,
L = sum_k <w_k, out_k>, so one backward gives dL/dx for every input; each element
of every input is then nudged by +-eps to estimate the same derivative numerically.
Everything runs in float64, where eps = 1e-6 leaves ~1e-10 of rounding error.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .grad import grad
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message shows the worst element."""


def _as_inputs(inputs: Any) -> list:
    if isinstance(inputs, Tensor):
        return [inputs]
    return list(inputs)


def _to_float64(inputs: list) -> list:
    """Differentiable inputs in float64: float64 ones as they are (so parameters that ``fn``
    uses directly are the ones checked), others as float64 copies."""
    converted = []
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != "float64":
            copy = Tensor._wrap(x.data.astype("float64"), x.backend)
            converted.append(copy.requires_grad_(True))
        else:
            converted.append(x)
    return converted


def _scalar_objective(fn: Callable, inputs: list) -> Tensor:
    """sum_k <w_k, out_k> with fixed weights, so every output element is checked."""
    total = None
    for k, out in enumerate(_float_outputs(fn(*inputs))):
        term = (out * _fixed_weights(out, k)).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("gradcheck: fn returned no floating-point tensor to differentiate")
    return total


def _objective_value(fn: Callable, inputs: list) -> float:
    with no_grad():
        return _scalar_objective(fn, inputs).item()


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, directions: int | None = None) -> bool:
    """Check ``fn``'s backward against finite differences for every input that requires grad.

    ``fn(*inputs)`` returns a tensor or a tuple of tensors. Inputs that require grad are
    nudged in place when float64 (restored afterwards) and checked through float64
    copies otherwise; their ``.grad`` is left as it was. With ``directions=k`` (for large inputs) the check runs
    along ``k`` pseudo-random directions instead of element by element. Returns True, or
    raises ``GradcheckError`` naming the worst element with both values.
    """
    inputs = _to_float64(_as_inputs(inputs))
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors with requires_grad=True")
    earlier_grads = {i: inputs[i].grad for i in checked}  # the check leaves .grad as it found it
    for i in checked:
        inputs[i].grad = None
    try:
        _scalar_objective(fn, inputs).backward()
        analytic = {}
        for i in checked:
            x = inputs[i]
            analytic[i] = x.grad.data if x.grad is not None else x.backend.xp.zeros_like(x.data)
    finally:
        for i in checked:
            inputs[i].grad = earlier_grads[i]
    if directions:
        return _check_directions(fn, inputs, checked, analytic, eps, atol, rtol, directions)
    worst = None  # (excess over tolerance, input, element, analytic, numeric)
    for i in checked:
        flat = inputs[i].data.reshape(-1)  # a view: nudging it nudges the input
        grad_flat = analytic[i].reshape(-1)
        for j in range(flat.size):
            original = flat[j].item()
            flat[j] = original + eps
            plus = _objective_value(fn, inputs)
            flat[j] = original - eps
            minus = _objective_value(fn, inputs)
            flat[j] = original
            numeric = (plus - minus) / (2 * eps)
            got = float(grad_flat[j])
            excess = abs(got - numeric) - (atol + rtol * abs(numeric))
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, i, j, got, numeric)
    if worst is not None:
        _, i, j, got, numeric = worst
        position = _unravel(j, inputs[i].shape)
        raise GradcheckError(
            f"gradcheck: gradient of input {i} (shape {inputs[i].shape}) is wrong at index "
            f"{position}: analytic {got:.10g}, numeric {numeric:.10g} (|difference| "
            f"{abs(got - numeric):.3g} > atol {atol} + rtol {rtol} * |numeric|)")
    return True


def _check_directions(fn: Callable, inputs: list, checked: list, analytic: dict, eps: float,
                      atol: float, rtol: float, directions: int) -> bool:
    """Compare <grad, v> with (L(x + eps v) - L(x - eps v)) / 2eps for pseudo-random v."""
    originals = {i: inputs[i].data.copy() for i in checked}
    for k in range(directions):
        vectors, predicted = {}, 0.0
        for i in checked:
            xp = inputs[i].backend.xp
            v = xp.sign(xp.sin(xp.arange(inputs[i].numel(), dtype="float64") * (2.71 + k) + 1.3 * i))
            vectors[i] = v.reshape(inputs[i].shape)
            predicted += float((analytic[i] * vectors[i]).sum())
        values = []
        for sign in (1, -1):
            for i in checked:
                inputs[i].data[...] = originals[i] + sign * eps * vectors[i]
            values.append(_objective_value(fn, inputs))
        for i in checked:
            inputs[i].data[...] = originals[i]
        numeric = (values[0] - values[1]) / (2 * eps)
        if abs(predicted - numeric) > atol + rtol * abs(numeric):
            raise GradcheckError(
                f"gradcheck: directional derivative {k} disagrees: analytic {predicted:.10g}, "
                f"numeric {numeric:.10g}")
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Any, grad_outputs: Any = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Check ``fn``'s second derivatives against finite differences.

    The first derivatives ``d <fn(inputs), v> / d inputs`` are computed with
    ``create_graph=True`` (``v`` is ``grad_outputs``, fixed pseudo-random float64 tensors by
    default), which makes them a function of the inputs and of ``v`` with a graph of its
    own; ``gradcheck`` then differentiates that function by backward and by finite
    differences. Returns True, or raises ``GradcheckError``.
    """
    inputs = _to_float64(_as_inputs(inputs))
    wanted = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wanted:
        raise ValueError("gradgradcheck: no input requires grad; pass tensors with requires_grad=True")
    outputs = _float_outputs(fn(*inputs))
    if grad_outputs is None:
        grad_outputs = [_fixed_weights(out, k).requires_grad_(True) for k, out in enumerate(outputs)]
    grad_outputs = _to_float64(_as_inputs(grad_outputs))

    def first_derivatives(*args: Any) -> tuple:
        xs, vs = args[:len(inputs)], args[len(inputs):]
        with enable_grad():  # gradcheck evaluates under no_grad; these need a graph
            grads = grad(_float_outputs(fn(*xs)), [xs[i] for i in wanted], grad_outputs=list(vs),
                         create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor._wrap(xs[i].backend.xp.zeros_like(xs[i].data), xs[i].backend)
                     for g, i in zip(grads, wanted))

    return gradcheck(first_derivatives, list(inputs) + list(grad_outputs), eps, atol, rtol)


def _float_outputs(outputs: Any) -> list:
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return [o for o in outputs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _fixed_weights(out: Tensor, k: int) -> Tensor:
    """Pseudo-random float64 weights shaped like ``out``, the same every time."""
    xp = out.backend.xp
    weights = xp.sin(xp.arange(out.numel(), dtype="float64") * 1.618 + 0.5 + k).reshape(out.shape)
    return Tensor._wrap(weights, out.backend)


def _unravel(flat_index: int, shape: Sequence[int]) -> tuple:
    position = []
    for n in reversed(shape):
        position.append(flat_index % n)
        flat_index //= n
    return tuple(reversed(position))
