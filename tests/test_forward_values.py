"""Forward values equal direct NumPy evaluation; dtypes are preserved as documented."""
from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import tinygrad_rnn as tg

SETTINGS = settings(max_examples=20, deadline=None)


def numpy_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---- elementwise values -----------------------------------------------------------------
ELEMENTWISE = {
    "neg": (operator.neg, np.negative),
    "exp": (tg.exp, np.exp),
    "log": (tg.log, np.log),
    "sqrt": (tg.sqrt, np.sqrt),
    "tanh": (tg.tanh, np.tanh),
    "sigmoid": (tg.sigmoid, numpy_sigmoid),
    "relu": (tg.relu, lambda x: np.maximum(x, 0.0)),
    "abs": (tg.abs, np.abs),
    "clip": (lambda x: x.clip(1.0, 2.0), lambda x: np.clip(x, 1.0, 2.0)),
    "square": (lambda x: x ** 2, np.square),
    "reflected_sub": (lambda x: 1 - x, lambda x: 1 - x),
    "reflected_div": (lambda x: 3 / x, lambda x: 3 / x),
    "reflected_pow": (lambda x: 2 ** x, lambda x: 2.0 ** x),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@SETTINGS
@given(values=arrays(np.float64, array_shapes(max_dims=3, max_side=5),
                     elements=st.floats(0.05, 3.0)))
def test_elementwise_forward_matches_numpy_on_positive_inputs(name, device, values):
    ours, reference = ELEMENTWISE[name]
    out = ours(tg.tensor(values, device=device))
    np.testing.assert_allclose(out.numpy(), reference(values), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["neg", "exp", "tanh", "sigmoid", "relu", "abs", "clip", "square"])
def test_elementwise_forward_matches_numpy_on_mixed_sign_inputs(name, device):
    ours, reference = ELEMENTWISE[name]
    values = np.random.default_rng(0).uniform(-3, 3, size=(4, 5))
    np.testing.assert_allclose(ours(tg.tensor(values, device=device)).numpy(), reference(values),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, tg.maximum, tg.minimum],
                         ids=["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_forward_matches_numpy_with_broadcasting(op, device):
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2.0, size=(3, 1)), rng.uniform(-2.0, 2.0, size=(4,))
    reference = {tg.maximum: np.maximum, tg.minimum: np.minimum}.get(op, op)
    out = op(tg.tensor(a, device=device), tg.tensor(b, device=device))
    np.testing.assert_allclose(out.numpy(), reference(a, b), rtol=1e-12)


def test_where_selects_values_elementwise(device):
    condition = np.array([[True, False, True]])
    a, b = np.arange(6.0).reshape(2, 3), np.array([-1.0, -2.0, -3.0])
    out = tg.where(tg.tensor(condition, device=device), tg.tensor(a, device=device),
                   tg.tensor(b, device=device))
    np.testing.assert_array_equal(out.numpy(), np.where(condition, a, b))


@pytest.mark.parametrize("x", [-8.0, -1.5, 0.0, 0.3, 4.0, 12.0])
def test_sigmoid_matches_the_logistic_formula_for_moderate_inputs(x, device):
    out = tg.sigmoid(tg.tensor([x], dtype="float64", device=device))
    np.testing.assert_allclose(out.numpy(), numpy_sigmoid(np.float64(x)), rtol=1e-12)


@pytest.mark.parametrize("x", [-2.0, 3.0, 12.0])
def test_sigmoid_in_float32_matches_the_logistic_formula_to_float32_precision(x, device):
    out = tg.sigmoid(tg.tensor([x], device=device))
    assert out.dtype == tg.float32
    np.testing.assert_allclose(out.numpy(), numpy_sigmoid(np.float64(x)), rtol=1e-6)


def test_sigmoid_keeps_relative_precision_for_negative_inputs(device):
    """sigmoid(x) ~ e^x for x << 0 is a normal float32 number down to x ~ -87; it must not
    round to 0 (log(sigmoid(x)) would be -inf) or lose digits to cancellation."""
    xs = np.array([-8.0, -16.0, -20.0, -40.0, -80.0])
    out = tg.sigmoid(tg.tensor(xs, dtype="float32", device=device))
    assert out.dtype == tg.float32
    np.testing.assert_allclose(out.numpy(), numpy_sigmoid(xs), rtol=1e-5)
    np.testing.assert_allclose(np.log(out.numpy()), -np.log1p(np.exp(-xs)), rtol=1e-5)


# ---- huge logits --------------------------------------------------------------------------
def test_sigmoid_of_huge_logits_is_exactly_zero_or_one_without_overflow(device):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = tg.sigmoid(tg.tensor([1000.0, -1000.0, 88.0, -88.0], device=device))
    values = out.numpy()
    assert out.dtype == tg.float32
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, [1.0, 0.0, 1.0, 0.0], atol=1e-30)


def test_softmax_of_huge_logits_is_finite_and_correct(device):
    logits = [[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 0.0]]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = tg.softmax(tg.tensor(logits, device=device), -1)
    assert out.dtype == tg.float32
    np.testing.assert_allclose(out.numpy(), [[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0]], atol=1e-7)


def test_log_softmax_of_huge_logits_is_finite_and_correct(device):
    logits = [[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0]]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = tg.log_softmax(tg.tensor(logits, device=device), dim=1)
    assert out.dtype == tg.float32
    values = out.numpy()
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, [[0, -1000, -2000], [-np.log(3)] * 3], rtol=1e-6)


@pytest.mark.parametrize("fn", [tg.sigmoid, tg.softmax, tg.log_softmax])
def test_gradients_through_huge_logits_are_finite(fn, device):
    x = tg.tensor([[1000.0, 0.0, -1000.0]], device=device, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        (fn(x) * tg.tensor([[1.0, 2.0, 3.0]], device=device)).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


@SETTINGS
@given(logits=arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=5),
                     elements=st.floats(-50, 50)))
def test_softmax_is_a_distribution_and_log_softmax_is_its_log(device, logits):
    x = tg.tensor(logits, device=device)
    probabilities = x.softmax(-1).numpy()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-12)
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(probabilities, shifted / shifted.sum(-1, keepdims=True),
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(x.log_softmax(-1).numpy(), np.log(probabilities), rtol=1e-9,
                               atol=1e-9)


# ---- matmul and reductions ---------------------------------------------------------------
@pytest.mark.parametrize("shape_a, shape_b", [
    ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
], ids=str)
def test_matmul_matches_numpy(shape_a, shape_b, device):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    out = tg.tensor(a, device=device) @ tg.tensor(b, device=device)
    expected = a @ b
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_matmul_of_known_matrices():
    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = tg.tensor([[5.0, 6.0], [7.0, 8.0]])
    np.testing.assert_array_equal((a @ b).numpy(), [[19.0, 22.0], [43.0, 50.0]])


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_matches_numpy(name, axis, keepdims, device):
    values = np.random.default_rng(3).standard_normal((2, 3, 4))
    out = getattr(tg.tensor(values, device=device), name)(axis, keepdims=keepdims)
    expected = getattr(np, name)(values, axis=axis, keepdims=keepdims)  # np.amax is np.max
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_argmax_returns_positions(device):
    x = tg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], device=device)
    np.testing.assert_array_equal(x.argmax(1).numpy(), [1, 0])
    np.testing.assert_array_equal(x.argmax(dim=0).numpy(), [1, 0, 1])
    assert x.argmax().item() == 3


# ---- one_hot ------------------------------------------------------------------------------
def test_one_hot_is_int64_by_default(device):
    out = tg.one_hot(tg.tensor([0, 2, 1], device=device), 4)
    assert out.dtype == tg.int64
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[[0, 2, 1]])


def test_one_hot_infers_the_number_of_classes(device):
    assert tg.one_hot(tg.tensor([[0, 3], [1, 1]], device=device)).shape == (2, 2, 4)


def test_one_hot_takes_a_dtype(device):
    out = tg.one_hot(tg.tensor([1, 0], device=device), 3, dtype=tg.float32)
    assert out.dtype == tg.float32
    np.testing.assert_array_equal(out.numpy(), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert out.requires_grad is False


@pytest.mark.parametrize("indices", [[0, 3], [-1, 1]], ids=["too_large", "negative"])
def test_one_hot_rejects_an_index_outside_the_classes(indices, device):
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        tg.one_hot(tg.tensor(indices, device=device), 3)


def test_one_hot_rejects_float_indices(device):
    with pytest.raises(TypeError, match="integers"):
        tg.one_hot(tg.tensor([0.0, 1.0], device=device), 2)


# ---- comparisons ------------------------------------------------------------------------
@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge, operator.eq,
                                operator.ne], ids=lambda op: op.__name__)
def test_comparison_returns_a_bool_tensor_outside_the_graph(op, device):
    a = np.array([1.0, 2.0, 3.0])
    x = tg.tensor(a, device=device, requires_grad=True)
    for other, reference_other in ((2.0, 2.0), (tg.tensor([3.0, 2.0, 1.0], device=device),
                                                np.array([3.0, 2.0, 1.0]))):
        out = op(x, other)
        assert out.dtype == tg.bool_
        assert out.requires_grad is False
        assert out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), op(a, reference_other))


# ---- dtypes -------------------------------------------------------------------------------
DTYPE_OPS = {
    "mul_python_float": lambda x: x * 0.5,
    "add_python_float": lambda x: x + 1.0,
    "reflected_sub_int": lambda x: 1 - x,
    "reflected_sub_float": lambda x: 2.5 - x,
    "reflected_div": lambda x: 3.0 / x,
    "div_python_float": lambda x: x / 3.0,
    "pow_int": lambda x: x ** 2,
    "pow_float": lambda x: x ** 1.5,
    "reflected_pow": lambda x: 2 ** x,
    "pow_tensor": lambda x: x ** x,
    "mean": lambda x: x.mean(),
    "mean_axis": lambda x: x.mean(axis=0),
    "sum": lambda x: x.sum(),
    "max": lambda x: x.max(axis=1).values,
    "amax": lambda x: x.amax(axis=1),
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "sqrt": lambda x: x.sqrt(),
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "relu": lambda x: x.relu(),
    "abs": lambda x: x.abs(),
    "clip": lambda x: x.clip(0.5, 1.5),
    "maximum_python_float": lambda x: x.maximum(1.2),
    "minimum_python_float": lambda x: tg.minimum(x, 1.2),
    "where_python_float": lambda x: tg.where(x > 1.0, x, 0.0),
    "softmax": lambda x: x.softmax(-1),
    "log_softmax": lambda x: x.log_softmax(-1),
    "matmul": lambda x: x @ x.T,
    "getitem_repeated": lambda x: x[[0, 0, 1]],
    "cat": lambda x: tg.cat([x, x * 2.0], 1),
    "split": lambda x: x.split(1, 1)[0] * 3.0,
}


@pytest.mark.parametrize("name", list(DTYPE_OPS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_dtype_is_preserved_in_output_and_gradient(name, dtype, device):
    x = tg.tensor([[0.7, 1.3], [1.1, 0.4]], dtype=dtype, device=device, requires_grad=True)
    out = DTYPE_OPS[name](x)
    assert out.dtype == np.dtype(dtype)
    out.sum().backward()
    assert x.grad.dtype == np.dtype(dtype)


def test_a_float32_leaf_mixed_with_float64_gets_a_float32_gradient(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    w = tg.tensor(np.array([0.5, 0.25]), device=device, requires_grad=True)
    out = x * w
    assert out.dtype == tg.float64  # NumPy's promotion between two arrays
    out.sum().backward()
    assert x.grad.dtype == tg.float32 and w.grad.dtype == tg.float64
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.25])


def test_scalar_times_an_int_tensor_gives_a_float(device):
    assert (tg.tensor([1, 2], device=device) * 0.5).dtype.kind == "f"


@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], tg.float32),
    ([[1, 2], [3, 4.5]], tg.float32),
    (1.5, tg.float32),
    ([1, 2, 3], tg.int64),
    (7, tg.int64),
    ([True, False], tg.bool_),
    (np.array([1.0, 2.0]), tg.float64),
    (np.array([1.0, 2.0], dtype=np.float32), tg.float32),
    (np.array([1, 2], dtype=np.int32), tg.int32),
    (np.float64(2.0), tg.float64),
], ids=["float_list", "mixed_nested_list", "python_float", "int_list", "python_int",
        "bool_list", "numpy_float64", "numpy_float32", "numpy_int32", "numpy_float64_scalar"])
def test_tensor_construction_follows_pytorch_dtype_defaults(data, dtype, device):
    assert tg.tensor(data, device=device).dtype == dtype


def test_explicit_dtype_overrides_the_default(device):
    assert tg.tensor([1, 2], dtype="float64", device=device).dtype == tg.float64
    assert tg.tensor(np.zeros(2), dtype=tg.float32, device=device).dtype == tg.float32


def test_casting_methods_change_the_dtype_and_pass_the_gradient_back(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.double()
    assert y.dtype == tg.float64 and x.float() is x
    assert x.to(tg.float64).dtype == tg.float64 and x.astype("float64").dtype == tg.float64
    (y * 3.0).sum().backward()
    assert x.grad.dtype == tg.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
