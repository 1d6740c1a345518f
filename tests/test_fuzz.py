"""Property-based fuzzing: random programs of ops, checked against NumPy and finite differences.

Where ``test_ops_gradcheck.py`` checks one op at a time, these tests draw whole programs:
a binary op between two tensors of mutually broadcastable shapes, followed by one to
four unary ops (elementwise functions, softmax/log_softmax over a random axis, sum/mean
over random axes with or without keepdims, reshape, permute/transpose), each with
parameters that fit the shape the program has reached. Every program is run three ways:

- on tinygrad_rnn tensors, compared with the same program run on NumPy arrays;
- through ``tinygrad_rnn.core.gradcheck`` (central finite differences, float64);
- for the numerically "stable" ops, on logits up to +-1e4 in float32 and float64 with
  NumPy's floating-point errors turned into exceptions: no NaN/Inf may appear, forward
  or backward.

Kinks (relu and abs at 0, the clip bounds in front of exp) are where finite differences
and the one-sided derivatives legitimately disagree, so programs that put a value within
1e-3 of a kink are discarded with ``assume``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, mutually_broadcastable_shapes

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F

FUZZ = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
EXP_LIMIT = 2.5  # exp is applied to clip(x, -EXP_LIMIT, EXP_LIMIT), so values stay moderate
KINK_MARGIN = 1e-3  # finite differences (eps 1e-6) must not cross a kink


# ---- the ops a program is made of: each as (tensor version, NumPy version, kinks) ----------
def _sigmoid_np(a):
    return 1.0 / (1.0 + np.exp(-a))


def _softmax_np(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_np(a, axis):
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _square(t, how):
    return t * t if how == "mul" else t ** 2.0


# name -> (apply to a Tensor, apply to an ndarray); ``p`` is the step's drawn parameters
UNARY = {
    "tanh": (lambda t, p: t.tanh(), lambda a, p: np.tanh(a)),
    "sigmoid": (lambda t, p: tg.sigmoid(t), lambda a, p: _sigmoid_np(a)),
    "exp": (lambda t, p: t.clip(-EXP_LIMIT, EXP_LIMIT).exp(),
            lambda a, p: np.exp(np.clip(a, -EXP_LIMIT, EXP_LIMIT))),
    "relu": (lambda t, p: t.relu(), lambda a, p: np.maximum(a, 0.0)),
    "abs": (lambda t, p: abs(t), lambda a, p: np.abs(a)),
    "neg": (lambda t, p: -t, lambda a, p: -a),
    "square": (lambda t, p: _square(t, p), lambda a, p: a * a),
    "softmax": (lambda t, p: t.softmax(p), lambda a, p: _softmax_np(a, p)),
    "log_softmax": (lambda t, p: tg.log_softmax(t, dim=p), lambda a, p: _log_softmax_np(a, p)),
    "sum": (lambda t, p: t.sum(p[0], keepdims=p[1]), lambda a, p: a.sum(axis=p[0], keepdims=p[1])),
    "mean": (lambda t, p: t.mean(dim=p[0], keepdim=p[1]), lambda a, p: a.mean(axis=p[0], keepdims=p[1])),
    "reshape": (lambda t, p: t.reshape(p), lambda a, p: a.reshape(p)),
    "permute": (lambda t, p: t.permute(p), lambda a, p: a.transpose(p)),
    "transpose": (lambda t, p: t.transpose(*p), lambda a, p: np.swapaxes(a, *p)),
}
BINARY = {
    "add": (lambda a, b: a + b),
    "sub": (lambda a, b: a - b),
    "mul": (lambda a, b: a * b),
    "div": (lambda a, b: a / b),
}


def _kink_distance(name: str, value: np.ndarray) -> float:
    """How far the input of a kinked op is from its kink (inf for smooth ops)."""
    if value.size == 0:
        return math.inf
    if name in ("relu", "abs"):
        return float(np.abs(value).min())
    if name == "exp":  # the clip in front of it
        return float(np.abs(np.abs(value) - EXP_LIMIT).min())
    return math.inf


# ---- strategies ---------------------------------------------------------------------------
def _values(low: float, high: float):
    """Floats with magnitude in [low, high] and either sign (never 0, so x / y is safe)."""
    magnitude = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.one_of(magnitude, magnitude.map(lambda v: -v))


@st.composite
def axes(draw, ndim: int):
    """None, one axis, or a tuple of distinct axes; each given as positive or negative."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


@st.composite
def step_params(draw, name: str, shape: tuple):
    ndim = len(shape)
    if name == "square":
        return draw(st.sampled_from(["mul", "pow"]))
    if name in ("softmax", "log_softmax"):
        return draw(st.integers(-ndim, ndim - 1))
    if name in ("sum", "mean"):
        return draw(axes(ndim)), draw(st.booleans())
    if name == "reshape":
        size = math.prod(shape)
        return draw(st.sampled_from([(-1,), (size,), tuple(reversed(shape)), (1,) + shape,
                                     shape + (1,), (size, 1)]))
    if name == "permute":
        return tuple(draw(st.permutations(range(ndim))))
    if name == "transpose":
        return (draw(st.integers(-ndim, ndim - 1)), draw(st.integers(-ndim, ndim - 1)))
    return None


@dataclass
class Program:
    """``binary(x, y)`` (or ``binary(y, x)``) followed by ``steps`` of unary ops."""

    binary: str
    swap: bool
    x: np.ndarray
    y: np.ndarray
    steps: list = field(default_factory=list)

    def run(self, a, b, library):
        """Run on tensors (``library="tg"``) or arrays (``"np"``); also return every value."""
        first, second = (b, a) if self.swap else (a, b)
        value = BINARY[self.binary](first, second)
        values = [value]
        for name, params in self.steps:
            value = UNARY[name][0 if library == "tg" else 1](value, params)
            values.append(value)
        return value, values

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        first, second = ("y", "x") if self.swap else ("x", "y")
        text = f"{self.binary}({first} {self.x.shape}, {second} {self.y.shape})"
        for name, params in self.steps:
            text += f" -> {name}{'' if params is None else params}"
        return f"<Program {text}; x={self.x.tolist()}, y={self.y.tolist()}>"


@st.composite
def programs(draw):
    shapes = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    x_shape, y_shape = shapes.input_shapes
    binary = draw(st.sampled_from(sorted(BINARY)))
    swap = draw(st.booleans())
    x = draw(arrays(np.float64, x_shape, elements=_values(0.25, 2.0)))
    # the partner is a denominator when it comes second in a division: keep it away from 0
    y = draw(arrays(np.float64, y_shape, elements=_values(0.5, 2.0)))
    program = Program(binary, swap, x, y)
    value = program.run(x, y, "np")[0]
    for _ in range(draw(st.integers(1, 4))):
        names = ["tanh", "sigmoid", "exp", "relu", "abs", "neg", "square", "sum", "mean", "reshape"]
        if value.ndim >= 1:
            names += ["softmax", "log_softmax", "permute"]
        if value.ndim >= 2:
            names += ["transpose"]
        name = draw(st.sampled_from(names))
        params = draw(step_params(name, value.shape))
        program.steps.append((name, params))
        value = UNARY[name][1](value, params)
    return program


# ---- random programs of ops ------------------------------------------------------------------
@FUZZ
@given(program=programs())
def test_random_op_sequences_match_numpy_and_finite_differences(program, device):
    reference, values = program.run(program.x, program.y, "np")
    for (name, _), value in zip(program.steps, values):  # values[k] is the input of step k
        assume(_kink_distance(name, value) > KINK_MARGIN)
    peak = max(1.0, max(float(np.abs(v).max()) if v.size else 0.0 for v in values + [reference]))

    x = tg.tensor(program.x, device=device, requires_grad=True)
    y = tg.tensor(program.y, device=device, requires_grad=True)
    out, _ = program.run(x, y, "tg")
    assert out.shape == reference.shape
    assert out.dtype == tg.float64 and out.device == x.device
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-10, atol=1e-12 * peak)

    # rounding in the objective grows with the values' size, so atol grows with it
    assert tg.gradcheck(lambda a, b: program.run(a, b, "tg")[0], [x, y], atol=1e-5 * peak)


# ---- numerically stable ops stay finite on huge logits -----------------------------------
def _logits(dtype, shape_strategy):
    width = 32 if dtype == np.float32 else 64
    return arrays(dtype, shape_strategy, elements=st.floats(-1e4, 1e4, width=width))


STABLE = {
    "sigmoid": lambda x, axis: tg.sigmoid(x),
    "tanh": lambda x, axis: x.tanh(),
    "softmax": lambda x, axis: x.softmax(axis),
    "log_softmax": lambda x, axis: x.log_softmax(axis),
}


@FUZZ
@given(name=st.sampled_from(sorted(STABLE)), dtype=st.sampled_from([np.float32, np.float64]),
       data=st.data())
def test_stable_elementwise_and_softmax_ops_never_produce_nan_or_inf(name, dtype, data):
    logits = data.draw(_logits(dtype, array_shapes(min_dims=1, max_dims=3, max_side=5)), label="logits")
    axis = data.draw(st.integers(-logits.ndim, logits.ndim - 1), label="axis")
    weights = np.linspace(-1.0, 2.0, logits.size).reshape(logits.shape).astype(dtype)
    x = tg.tensor(logits, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no Inf/NaN made on the way
        out = STABLE[name](x, axis)
        (out * tg.tensor(weights)).sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(out.numpy())), out
    assert np.all(np.isfinite(x.grad.numpy())), x.grad


@FUZZ
@given(dtype=st.sampled_from([np.float32, np.float64]), reduction=st.sampled_from(["mean", "sum", "none"]),
       data=st.data())
def test_cross_entropy_of_huge_logits_is_finite_forward_and_backward(dtype, reduction, data):
    batch, classes = data.draw(st.integers(1, 5), label="batch"), data.draw(st.integers(1, 6), label="classes")
    logits = data.draw(_logits(dtype, (batch, classes)), label="logits")
    target = data.draw(arrays(np.int64, (batch,), elements=st.integers(0, classes - 1)), label="target")
    x = tg.tensor(logits, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.cross_entropy(x, tg.tensor(target), reduction=reduction)
        loss.sum().backward()
    assert loss.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(loss.numpy())), loss
    assert np.all(np.isfinite(x.grad.numpy())), x.grad
    # the loss is the gap between the best logit and the target's: never negative
    assert np.all(loss.numpy() >= -1e-3 * np.abs(logits).max(initial=1.0))


@FUZZ
@given(dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_bce_with_logits_of_huge_logits_is_finite_forward_and_backward(dtype, data):
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, max_side=5), label="shape")
    logits = data.draw(_logits(dtype, shape), label="logits")
    target = data.draw(arrays(dtype, shape, elements=st.floats(0.0, 1.0, width=32)), label="target")
    x = tg.tensor(logits, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        losses = F.binary_cross_entropy_with_logits(x, tg.tensor(target), reduction="none")
        losses.sum().backward()
    assert losses.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(losses.numpy())), losses
    assert np.all(np.isfinite(x.grad.numpy())), x.grad
    # d loss / dx = sigmoid(x) - t lies in [-1, 1]
    assert np.all(np.abs(x.grad.numpy()) <= 1.0 + 1e-6)


# ---- reductions over random axes --------------------------------------------------------------
@FUZZ
@given(name=st.sampled_from(["sum", "mean"]), keepdims=st.booleans(), data=st.data())
def test_reductions_over_random_axes_match_numpy_and_finite_differences(name, keepdims, data, device):
    shape = data.draw(array_shapes(min_dims=0, max_dims=4, max_side=3), label="shape")
    axis = data.draw(axes(len(shape)), label="axis")
    values = data.draw(arrays(np.float64, shape, elements=st.floats(-3, 3)), label="values")
    x = tg.tensor(values, device=device, requires_grad=True)
    reduce = (lambda t: t.sum(axis, keepdims)) if name == "sum" else (lambda t: t.mean(axis, keepdims))
    out = reduce(x)
    expected = getattr(np, name)(values, axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(reduce, [x])


# ---- binary ops under random broadcasting -----------------------------------------------------
@FUZZ
@given(name=st.sampled_from(sorted(BINARY)), needs=st.sampled_from([(True, True), (True, False), (False, True)]),
       data=st.data())
def test_binary_ops_under_random_broadcasting_match_numpy_and_finite_differences(name, needs, data, device):
    shapes = data.draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
                       label="shapes")
    a_shape, b_shape = shapes.input_shapes
    a_values = data.draw(arrays(np.float64, a_shape, elements=st.floats(-3, 3)), label="a")
    b_values = data.draw(arrays(np.float64, b_shape, elements=_values(0.5, 3.0)), label="b")  # b may divide
    a = tg.tensor(a_values, device=device, requires_grad=needs[0])
    b = tg.tensor(b_values, device=device, requires_grad=needs[1])
    out = BINARY[name](a, b)
    expected = BINARY[name](a_values, b_values)
    assert out.shape == shapes.result_shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    out.backward(tg.tensor(np.ones(shapes.result_shape), device=device))
    for tensor, shape, needed in ((a, a_shape, needs[0]), (b, b_shape, needs[1])):
        assert (tensor.grad is not None) == needed
        if needed:
            assert tensor.grad.shape == shape  # summed back over the broadcast axes
            tensor.grad = None
    assert tg.gradcheck(BINARY[name], [a, b])
