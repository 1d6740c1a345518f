"""Every primitive op's backward, and its backward's backward (``create_graph``), agrees
with central finite differences (float64).

Shapes for elementwise ops and reductions are drawn by hypothesis; values come from a
numpy generator seeded by a hypothesis-drawn seed, shaped so that each op is
differentiable at every drawn point (positive inputs for log/sqrt, values away from 0
for relu/abs, away from the bounds for clip, distinct values for max/min ...).
"""
from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, broadcastable_shapes, mutually_broadcastable_shapes

import tinygrad_rnn as tg

SETTINGS = settings(max_examples=20, deadline=None)
seeds = st.integers(0, 2**32 - 1)
small_shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


# ---- value generators: (numpy Generator, shape) -> float64 array ----------------------
def bounded(rng, shape):
    return rng.uniform(-3.0, 3.0, size=shape)


def positive(rng, shape):
    return rng.uniform(0.2, 3.0, size=shape)


def away_from_zero(rng, shape):
    return rng.uniform(0.1, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def away_from_unit_bounds(rng, shape):
    """Values in (-3, 3) at least 0.1 from -1 and 1 (the clip bounds used below)."""
    x = rng.uniform(-3.0, 3.0, size=shape)
    return np.where(np.abs(np.abs(x) - 1.0) < 0.1, x + 0.25, x)


def distinct(rng, shape):
    """Pairwise distinct values (spacing 0.3), so max/min have a unique winner."""
    n = math.prod(shape)
    return ((rng.permutation(n) - n / 2) * 0.3 + rng.uniform(-0.1, 0.1)).reshape(shape)


def odd_tenths(rng, shape):
    return (2 * rng.integers(-15, 15, size=shape) + 1) * 0.1


def even_tenths(rng, shape):
    return 2 * rng.integers(-15, 15, size=shape) * 0.1


def leaf(values, device):
    """A float64 leaf that requires grad."""
    return tg.tensor(np.asarray(values, dtype=np.float64), dtype="float64", device=device,
                     requires_grad=True)


def check(fn, *arrays, device):
    """gradcheck and gradgradcheck ``fn`` at float64 leaves holding ``arrays``: the backward
    formula, and the same formula recorded (create_graph) and differentiated again."""
    assert tg.gradcheck(fn, [leaf(a, device) for a in arrays]) is True
    assert tg.gradgradcheck(fn, [leaf(a, device) for a in arrays]) is True


# ---- elementwise functions of one tensor ------------------------------------------------
UNARY = {
    "neg": (lambda x: -x, bounded),
    "exp": (lambda x: x.exp(), bounded),
    "exp_functional": (tg.exp, bounded),
    "log": (lambda x: x.log(), positive),
    "log_functional": (tg.log, positive),
    "sqrt": (lambda x: x.sqrt(), positive),
    "tanh": (lambda x: x.tanh(), bounded),
    "sigmoid": (lambda x: x.sigmoid(), bounded),
    "sigmoid_functional": (tg.sigmoid, bounded),
    "relu": (lambda x: x.relu(), away_from_zero),
    "abs": (lambda x: x.abs(), away_from_zero),
    "abs_builtin": (lambda x: abs(x), away_from_zero),
    "clip": (lambda x: x.clip(-1.0, 1.0), away_from_unit_bounds),
    "clamp_min_only": (lambda x: x.clamp(min=-1.0), away_from_unit_bounds),
    "clip_max_only": (lambda x: tg.clip(x, max=1.0), away_from_unit_bounds),
    "pow_int_exponent": (lambda x: x ** 3, bounded),
    "pow_float_exponent": (lambda x: x ** 2.5, positive),
    "pow_negative_exponent": (lambda x: x ** -1.5, positive),
    "add_scalar": (lambda x: x + 1.5, bounded),
    "sub_scalar": (lambda x: x - 1.5, bounded),
    "mul_scalar": (lambda x: x * 0.5, bounded),
    "div_scalar": (lambda x: x / 4.0, bounded),
    "reflected_add": (lambda x: 1.5 + x, bounded),
    "reflected_sub": (lambda x: 2.0 - x, bounded),
    "reflected_mul": (lambda x: 0.5 * x, bounded),
    "reflected_div": (lambda x: 3 / x, away_from_zero),
    "reflected_pow": (lambda x: 2 ** x, bounded),
    "clone": (lambda x: x.clone(), bounded),
}


@pytest.mark.parametrize("name", list(UNARY))
@SETTINGS
@given(shape=small_shapes, seed=seeds)
def test_unary_op_gradient_matches_finite_differences(name, device, shape, seed):
    fn, values = UNARY[name]
    check(fn, values(np.random.default_rng(seed), shape), device=device)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_op_gradient_is_correct_on_a_0d_tensor(name, device):
    fn, values = UNARY[name]
    check(fn, values(np.random.default_rng(0), ()), device=device)


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "abs", "neg", "reflected_sub"])
def test_unary_op_applies_to_the_scalar_result_of_a_reduction(name, device):
    fn, _ = UNARY[name]
    check(lambda x: fn(x.sum()), np.array([0.3, -0.7, 0.2]), device=device)


# ---- binary elementwise ops with broadcasting --------------------------------------------
BINARY = {
    "add": (operator.add, bounded, bounded),
    "sub": (operator.sub, bounded, bounded),
    "mul": (operator.mul, bounded, bounded),
    "div": (operator.truediv, bounded, away_from_zero),
    "pow_tensor_exponent": (operator.pow, positive, bounded),
    "maximum": (tg.maximum, odd_tenths, even_tenths),
    "minimum": (lambda a, b: a.minimum(b), odd_tenths, even_tenths),
    "add_method": (lambda a, b: a.add(b), bounded, bounded),
    "div_method": (lambda a, b: a.div(b), bounded, away_from_zero),
}


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
       seed=seeds)
def test_binary_op_gradient_matches_finite_differences_under_broadcasting(name, device, shapes,
                                                                          seed):
    fn, values_a, values_b = BINARY[name]
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    check(fn, values_a(rng, shape_a), values_b(rng, shape_b), device=device)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((3, 1), (4,)),
    ((2, 3, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((2, 1, 4), (1, 3, 1)),
    ((4,), (4,)),
], ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_gradient_sums_over_broadcast_axes(name, shape_a, shape_b, device):
    fn, values_a, values_b = BINARY[name]
    rng = np.random.default_rng(7)
    check(fn, values_a(rng, shape_a), values_b(rng, shape_b), device=device)


@SETTINGS
@given(shapes=broadcastable_shapes(shape=(3, 4), min_dims=0, max_dims=3), seed=seeds)
def test_gradient_of_a_broadcast_operand_has_that_operands_shape(device, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = leaf(bounded(rng, (3, 4)), device), leaf(bounded(rng, shapes), device)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 4)
    assert b.grad.shape == tuple(shapes)


def test_tensor_exponent_and_tensor_base_both_get_gradients(device):
    rng = np.random.default_rng(1)
    check(lambda base, exponent: base ** exponent, positive(rng, (2, 3)), bounded(rng, (2, 3)),
          device=device)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4),
       seed=seeds)
def test_where_sends_gradient_to_the_chosen_branch_under_broadcasting(device, shapes, seed):
    rng = np.random.default_rng(seed)
    shape_c, shape_a, shape_b = shapes.input_shapes
    condition = tg.tensor(rng.random(shape_c) < 0.5, device=device)
    check(lambda a, b: tg.where(condition, a, b), bounded(rng, shape_a), bounded(rng, shape_b),
          device=device)


def test_where_with_a_python_scalar_branch(device):
    rng = np.random.default_rng(2)
    values = away_from_zero(rng, (3, 4))
    check(lambda x: tg.where(x > 0.0, x, 0.0), values, device=device)
    check(lambda x: tg.where(x > 0.0, 1.0, x), values, device=device)


# ---- matmul ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape_a, shape_b", [
    ((3, 4), (4, 5)),            # matrix @ matrix
    ((1, 4), (4, 1)),            # size-1 axes
    ((2, 3, 4), (2, 4, 5)),      # batched
    ((2, 3, 4), (4, 5)),         # batched @ shared matrix
    ((3, 4), (2, 4, 5)),         # shared matrix @ batched
    ((2, 1, 3, 4), (5, 4, 2)),   # batch dims broadcast: (2, 1) with (5,) -> (2, 5)
    ((4,), (4, 5)),              # vector @ matrix
    ((3, 4), (4,)),              # matrix @ vector
    ((4,), (4,)),                # vector @ vector (a 0-d result)
    ((2, 3, 4), (4,)),           # batched matrix @ vector
    ((4,), (2, 4, 5)),           # vector @ batched matrix
], ids=str)
def test_matmul_gradient_matches_finite_differences(shape_a, shape_b, device):
    rng = np.random.default_rng(3)
    a, b = bounded(rng, shape_a), bounded(rng, shape_b)
    check(operator.matmul, a, b, device=device)
    check(tg.matmul, a, b, device=device)


def test_matmul_gradient_with_only_one_operand_requiring_grad(device):
    rng = np.random.default_rng(4)
    constant = tg.tensor(bounded(rng, (4, 5)), dtype="float64", device=device)
    check(lambda a: a @ constant, bounded(rng, (2, 3, 4)), device=device)
    check(lambda b: constant.T @ b, bounded(rng, (4, 2)), device=device)


# ---- reductions ---------------------------------------------------------------------------
@st.composite
def shapes_and_axes(draw):
    """A shape and an axis argument for it: None, an int (maybe negative) or a tuple."""
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return shape, tuple(a - ndim if draw(st.booleans()) else a for a in axes)


REDUCTIONS = {
    "sum": (lambda x, axis, keep: x.sum(axis, keepdims=keep), bounded),
    "mean": (lambda x, axis, keep: x.mean(axis, keepdims=keep), bounded),
    "amax": (lambda x, axis, keep: x.amax(axis, keepdims=keep), distinct),
    "amin": (lambda x, axis, keep: x.amin(axis, keepdims=keep), distinct),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@SETTINGS
@given(shape_axis=shapes_and_axes(), keepdims=st.booleans(), seed=seeds)
def test_reduction_gradient_matches_finite_differences(name, device, shape_axis, keepdims, seed):
    reduce, values = REDUCTIONS[name]
    shape, axis = shape_axis
    check(lambda x: reduce(x, axis, keepdims), values(np.random.default_rng(seed), shape),
          device=device)


@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("dim, keepdim", [(1, True), (-1, False), ((0, 2), True), ([0, -1], False)],
                         ids=str)
def test_reduction_accepts_pytorch_dim_and_keepdim(name, dim, keepdim, device):
    _, values = REDUCTIONS[name]
    x = values(np.random.default_rng(5), (2, 3, 4))
    method = {"sum": tg.Tensor.sum, "mean": tg.Tensor.mean, "amax": tg.Tensor.amax,
              "amin": tg.Tensor.amin}[name]
    axis = tuple(dim) if isinstance(dim, list) else dim
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdim)
    out = method(leaf(x, device), dim=dim, keepdim=keepdim)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    check(lambda t: method(t, dim=dim, keepdim=keepdim), x, device=device)


def test_reduction_functional_forms_match_methods(device):
    x = distinct(np.random.default_rng(6), (3, 4))
    check(lambda t: tg.mean(t, 0), x, device=device)
    check(lambda t: tg.Tensor.sum(t, dim=1), x, device=device)


@pytest.mark.parametrize("values, reduce, expected", [
    ([1.0, 3.0, 3.0], lambda x: x.max(), [0.0, 0.5, 0.5]),
    ([1.0, 3.0, 1.0], lambda x: x.min(), [0.5, 0.0, 0.5]),
    ([1.0, 3.0, 3.0], lambda x: x.maximum(tg.tensor([1.0, 3.0, 2.0], dtype="float64")),
     [0.5, 0.5, 1.0]),
    ([1.0, 3.0, 3.0], lambda x: x.minimum(tg.tensor([1.0, 4.0, 3.0], dtype="float64")),
     [0.5, 1.0, 0.5]),
], ids=["max", "min", "maximum", "minimum"])
def test_tied_extremes_share_the_gradient_equally(values, reduce, expected):
    x = tg.tensor(values, dtype="float64", requires_grad=True)
    reduce(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim, keepdim", [(0, False), (1, True), (-1, False)], ids=str)
def test_max_and_min_along_a_dim_give_values_and_indices_as_pytorch(name, dim, keepdim, device):
    x = distinct(np.random.default_rng(7), (3, 4))
    result = getattr(leaf(x, device), name)(dim, keepdim=keepdim)
    values, indices = result  # a named tuple, as torch.return_types.max
    assert result.values is values and result.indices is indices
    np.testing.assert_array_equal(values.numpy(), getattr(np, name)(x, axis=dim, keepdims=keepdim))
    arg = getattr(np, "arg" + name)(x, axis=dim)
    np.testing.assert_array_equal(indices.numpy(), np.expand_dims(arg, dim) if keepdim else arg)
    assert indices.dtype == np.int64
    check(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim).values, x, device=device)


def test_max_along_a_dim_sends_the_gradient_to_the_first_maximum_only():
    # PyTorch routes the gradient of max(dim) through the returned index (no sharing of ties)
    x = tg.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], dtype="float64", requires_grad=True)
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_max_over_several_dims_points_to_amax():
    x = tg.tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))


# ---- softmax family ------------------------------------------------------------------------
@st.composite
def shapes_and_one_axis(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SETTINGS
@given(shape_axis=shapes_and_one_axis(), seed=seeds)
def test_softmax_family_gradient_matches_finite_differences(name, device, shape_axis, seed):
    shape, axis = shape_axis
    check(lambda x: getattr(x, name)(axis), bounded(np.random.default_rng(seed), shape),
          device=device)


@pytest.mark.parametrize("fn", [
    lambda x: x.softmax(dim=0), lambda x: x.log_softmax(dim=1),
    lambda x: tg.softmax(x, 1), lambda x: tg.log_softmax(x, dim=0), lambda x: x.softmax(),
], ids=["softmax_dim", "log_softmax_dim", "softmax_functional", "log_softmax_functional",
        "softmax_default_last_axis"])
def test_softmax_family_accepts_dim_and_functional_forms(fn, device):
    check(fn, bounded(np.random.default_rng(8), (3, 4)), device=device)


# ---- shape ops --------------------------------------------------------------------------
SHAPE_OPS = {
    "reshape_flat": ((2, 3, 4), lambda x: x.reshape(-1)),
    "reshape_varargs": ((2, 3, 4), lambda x: x.reshape(6, 4)),
    "reshape_tuple_with_minus_one": ((2, 3, 4), lambda x: x.reshape((4, -1))),
    "view": ((2, 3, 4), lambda x: x.view(3, 8)),
    "flatten": ((2, 3, 4), lambda x: x.flatten()),
    "transpose_two_axes": ((2, 3, 4), lambda x: x.transpose(0, 2)),
    "transpose_negative_axes": ((2, 3, 4), lambda x: x.transpose(-1, -2)),
    "transpose_reverse_all": ((2, 3, 4), lambda x: x.transpose()),
    "T": ((3, 4), lambda x: x.T),
    "T_3d": ((2, 3, 4), lambda x: x.T),
    "permute_varargs": ((2, 3, 4), lambda x: x.permute(2, 0, 1)),
    "permute_tuple": ((2, 3, 4), lambda x: x.permute((1, 2, 0))),
    "permute_negative": ((2, 3, 4), lambda x: x.permute(-1, 0, 1)),
    "expand_new_leading_axis": ((3, 1), lambda x: x.expand(2, 3, 4)),
    "expand_minus_one_keeps_axis": ((3, 1), lambda x: x.expand(-1, 4)),
    "expand_tuple": ((1, 4), lambda x: x.expand((3, 4))),
    "broadcast_to": ((2, 1, 4), lambda x: x.broadcast_to((3, 2, 5, 4))),
    "squeeze_all": ((1, 3, 1, 2), lambda x: x.squeeze()),
    "squeeze_axis": ((1, 3, 1, 2), lambda x: x.squeeze(2)),
    "squeeze_negative_axis": ((3, 2, 1), lambda x: x.squeeze(-1)),
    "squeeze_dim": ((1, 3), lambda x: x.squeeze(dim=0)),
    "squeeze_axis_tuple": ((1, 3, 1), lambda x: x.squeeze((0, 2))),
    "unsqueeze_front": ((3, 2), lambda x: x.unsqueeze(0)),
    "unsqueeze_negative": ((3, 2), lambda x: x.unsqueeze(-1)),
    "unsqueeze_dim": ((3, 2), lambda x: x.unsqueeze(dim=1)),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_op_gradient_matches_finite_differences(name, device):
    shape, fn = SHAPE_OPS[name]
    check(fn, bounded(np.random.default_rng(9), shape), device=device)


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_op_output_matches_numpy(name, device):
    shape, fn = SHAPE_OPS[name]
    x = bounded(np.random.default_rng(9), shape)
    expected = {
        "reshape_flat": lambda a: a.reshape(-1),
        "reshape_varargs": lambda a: a.reshape(6, 4),
        "reshape_tuple_with_minus_one": lambda a: a.reshape(4, -1),
        "view": lambda a: a.reshape(3, 8),
        "flatten": lambda a: a.reshape(-1),
        "transpose_two_axes": lambda a: a.swapaxes(0, 2),
        "transpose_negative_axes": lambda a: a.swapaxes(-1, -2),
        "transpose_reverse_all": lambda a: a.T,
        "T": lambda a: a.T,
        "T_3d": lambda a: a.T,
        "permute_varargs": lambda a: a.transpose(2, 0, 1),
        "permute_tuple": lambda a: a.transpose(1, 2, 0),
        "permute_negative": lambda a: a.transpose(2, 0, 1),
        "expand_new_leading_axis": lambda a: np.broadcast_to(a, (2, 3, 4)),
        "expand_minus_one_keeps_axis": lambda a: np.broadcast_to(a, (3, 4)),
        "expand_tuple": lambda a: np.broadcast_to(a, (3, 4)),
        "broadcast_to": lambda a: np.broadcast_to(a, (3, 2, 5, 4)),
        "squeeze_all": lambda a: a.squeeze(),
        "squeeze_axis": lambda a: a.squeeze(2),
        "squeeze_negative_axis": lambda a: a.squeeze(-1),
        "squeeze_dim": lambda a: a.squeeze(0),
        "squeeze_axis_tuple": lambda a: a.squeeze((0, 2)),
        "unsqueeze_front": lambda a: a[None],
        "unsqueeze_negative": lambda a: a[..., None],
        "unsqueeze_dim": lambda a: a[:, None],
    }[name](x)
    out = fn(leaf(x, device))
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)


def test_squeeze_of_an_axis_longer_than_one_leaves_the_shape_alone(device):
    x = leaf(np.zeros((2, 3)), device)
    assert x.squeeze(0).shape == (2, 3)


# ---- indexing -----------------------------------------------------------------------------
INDICES = {
    "int": 1,
    "negative_int": -1,
    "slice": np.s_[1:3],
    "slice_with_step": np.s_[::2],
    "negative_step": np.s_[::-1],
    "negative_step_inner_axis": np.s_[:, ::-2],
    "int_and_slice": np.s_[-1, 1:],
    "two_ints": np.s_[2, 3],
    "none_and_ellipsis": np.s_[None, ..., 1],
    "trailing_none": np.s_[..., None],
    "ellipsis_middle": np.s_[0, ..., ::-1],
    "int_list_with_repeats": [0, 2, 0, 0],
    "int_list_inner_axis_with_repeats": np.s_[:, [1, 1, 3]],
    "int_arrays_pairs_with_repeats": ([0, 0, 2], [1, 1, 3]),
    "int_array_and_slice": np.s_[[2, 2], 1:],
    "numpy_int_array": np.array([[0, 1], [1, 1]]),
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem_gradient_matches_finite_differences(name, device):
    index = INDICES[name]
    check(lambda x: x[index], bounded(np.random.default_rng(10), (3, 4)), device=device)


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem_output_matches_numpy(name, device):
    index = INDICES[name]
    x = bounded(np.random.default_rng(10), (3, 4))
    np.testing.assert_array_equal(leaf(x, device)[index].detach().numpy(), x[index])


def test_getitem_with_an_integer_tensor_index_accumulates_repeated_positions(device):
    x = leaf(np.arange(4.0), device)
    index = tg.tensor([3, 0, 3, 3], device=device)
    x[index].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0, 3.0])
    check(lambda t: t[index] * t[index], np.arange(1.0, 5.0), device=device)


def test_getitem_with_a_repeated_row_list_accumulates_gradient_per_row(device):
    x = leaf(np.ones((3, 2)), device)
    weights = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype="float64", device=device)
    (x[[0, 0, 2]] * weights).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[4.0, 6.0], [0.0, 0.0], [5.0, 6.0]])


def test_getitem_with_a_boolean_mask_tensor(device):
    values = bounded(np.random.default_rng(11), (3, 4))
    mask = tg.tensor(values > 0, device=device)
    check(lambda x: x[mask], values, device=device)
    x = leaf(values, device)
    x[mask].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (values > 0).astype(np.float64))


def test_getitem_with_a_comparison_result_as_mask(device):
    values = away_from_zero(np.random.default_rng(12), (5,))
    check(lambda x: x[x > 0.0] * 2.0, values, device=device)


# ---- joining and splitting ----------------------------------------------------------------
@pytest.mark.parametrize("axis, shapes", [
    (0, [(1, 3), (2, 3), (3, 3)]),
    (1, [(2, 1), (2, 4)]),
    (-1, [(2, 3, 1), (2, 3, 2), (2, 3, 1)]),
], ids=["axis0", "axis1", "negative_axis"])
def test_cat_gradient_matches_finite_differences(axis, shapes, device):
    rng = np.random.default_rng(13)
    check(lambda *ts: tg.cat(ts, axis), *[bounded(rng, s) for s in shapes], device=device)


def test_cat_accepts_dim_and_a_constant_input(device):
    rng = np.random.default_rng(14)
    constant = tg.tensor(bounded(rng, (2, 2)), dtype="float64", device=device)
    check(lambda a: tg.cat([a, constant, a], dim=1), bounded(rng, (2, 3)), device=device)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack_gradient_matches_finite_differences(axis, device):
    rng = np.random.default_rng(15)
    check(lambda *ts: tg.stack(ts, axis), *[bounded(rng, (2, 3)) for _ in range(3)],
          device=device)


def test_stack_accepts_dim(device):
    rng = np.random.default_rng(16)
    check(lambda a, b: tg.stack([a, b], dim=1), bounded(rng, (2, 3)), bounded(rng, (2, 3)),
          device=device)


@pytest.mark.parametrize("split, axis", [
    (2, 0),             # uneven: 5 -> 2, 2, 1
    (1, 0),
    ([1, 3, 1], 0),
    ([2, 1], -1),
    (3, 1),
], ids=str)
def test_split_gradient_matches_finite_differences(split, axis, device):
    check(lambda x: x.split(split, axis), bounded(np.random.default_rng(17), (5, 3)),
          device=device)


def test_split_accepts_dim_and_functional_form(device):
    x = bounded(np.random.default_rng(18), (2, 5))
    check(lambda t: t.split(2, dim=1), x, device=device)
    check(lambda t: tg.split(t, [3, 2], 1), x, device=device)


@pytest.mark.parametrize("chunks, axis", [(3, 0), (2, 0), (5, 0), (2, 1), (4, -1)], ids=str)
def test_chunk_gradient_matches_finite_differences(chunks, axis, device):
    check(lambda x: x.chunk(chunks, axis), bounded(np.random.default_rng(19), (5, 3)),
          device=device)


def test_chunk_of_uneven_length_follows_pytorch_sizes(device):
    pieces = leaf(np.arange(5.0), device).chunk(3)
    assert [p.shape for p in pieces] == [(2,), (2,), (1,)]
    assert [p.shape for p in tg.chunk(leaf(np.zeros((2, 6)), device), 4, dim=1)] == [(2, 2)] * 3


@pytest.mark.parametrize("pick", [
    lambda x: x.split(2)[1],
    lambda x: x.split([1, 3, 1])[2] * 3.0,
    lambda x: x.chunk(3)[0] + x.chunk(3)[2].sum(),
    lambda x: tg.chunk(x, 2, dim=1)[1],
], ids=["middle_split_piece", "last_section", "first_and_last_chunk", "second_chunk_dim1"])
def test_using_only_some_split_pieces_gives_correct_gradient(pick, device):
    check(pick, bounded(np.random.default_rng(20), (5, 4)), device=device)


def test_unused_split_pieces_receive_zero_gradient(device):
    x = leaf(np.ones((5, 2)), device)
    _, middle, _ = x.split(2)
    middle.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [0, 0], [1, 1], [1, 1], [0, 0]])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unbind_gradient_matches_finite_differences(axis, device):
    check(lambda x: x.unbind(axis), bounded(np.random.default_rng(21), (2, 3, 4)), device=device)


def test_unbind_with_some_slices_unused(device):
    x = bounded(np.random.default_rng(22), (4, 3))
    check(lambda t: t.unbind(dim=0)[1] * t.unbind(0)[3], x, device=device)
    check(lambda t: tg.unbind(t, 1)[0], x, device=device)


# ---- composites -----------------------------------------------------------------------------
def test_a_composite_expression_of_many_ops_passes_gradcheck(device):
    rng = np.random.default_rng(23)

    def f(x, w, b):
        h = (x @ w + b).tanh()
        gates = h.split(2, axis=1)
        mixed = gates[0].sigmoid() * gates[1] - h[:, ::-1][:, :2].relu()
        return mixed.log_softmax(-1).mean(0) + (h ** 2).sum(dim=0, keepdim=False)[:2]

    check(f, bounded(rng, (3, 4)), bounded(rng, (4, 4)) * 0.5, bounded(rng, (4,)), device=device)


def test_gradcheck_with_directions_passes_for_a_larger_matmul(device):
    rng = np.random.default_rng(24)
    a, b = leaf(bounded(rng, (16, 32)), device), leaf(bounded(rng, (32, 8)), device)
    assert tg.gradcheck(lambda a, b: (a @ b).tanh(), [a, b], directions=8) is True
