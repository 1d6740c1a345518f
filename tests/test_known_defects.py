"""Regression tests for the fifteen defects found by differential testing against PyTorch.

Each section names the defect's *class* (what kind of mistake it was) and pins the
PyTorch result of the original repro. The random programs in ``test_random_programs.py``
are the tests that find the kind; these keep each instance fixed.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.core.autograd import backward_order
from tinygrad_rnn.nn import functional as F


def leaf(values, device="cpu"):
    return tg.tensor(values, dtype="float64", device=device, requires_grad=True)


def grad_of(x):
    return x.grad.numpy()


# ---- 1. 0-d results are NumPy scalars: sums of gradients must stay arrays ---------------------------
@pytest.mark.parametrize("program, expected", [
    (lambda x: (lambda s: s + s + s)(x.sum()), [3.0, 3.0]),
    (lambda x: (lambda m: m + m + m + m)(x.mean()), [2.0, 2.0]),
    (lambda x: (lambda l: l * l + l)((x * x).sum()), [22.0, 44.0]),
    (lambda x: (lambda e: e * e * e)(x[1]), [0.0, 12.0]),
    (lambda x: (lambda u: u[0] + u[0] + u[1] * u[0])(x.unbind(0)), [4.0, 1.0]),
    (lambda x: (lambda q: q + q * q)(x.reshape(1, 2)[:, 1:].squeeze()), [0.0, 5.0]),
], ids=["sum", "mean", "loss_reused", "index", "unbind", "squeeze"])
def test_a_0d_intermediate_used_three_or_more_times_gets_every_gradient(program, expected, device):
    x = leaf([1.0, 2.0], device)
    program(x).backward()
    np.testing.assert_allclose(grad_of(x), expected)


def test_a_0d_gradient_handed_from_node_to_node_stays_an_array():
    # found by the random programs: clip's backward gave CopySlices a NumPy scalar, whose
    # reshape(-1) is a copy, so zeroing the overwritten region through it did nothing
    x = leaf(0.07501)
    square = x * x
    square.unsqueeze(0).fill_(0.25)  # overwrites square through a view: no dependence on x
    square.clamp_(-0.5, 0.5)
    square.backward()
    assert x.grad.item() == 0.0


def test_micrographs_first_test_expression_gives_46():
    a = tg.tensor(-4.0, dtype="float64", requires_grad=True)
    z = 2 * a + 2 + a
    q = z.relu() + z * a
    h = (z * z).relu()
    y = h + q + q * a
    y.backward()
    assert y.item() == -20.0 and a.grad.item() == 46.0


# ---- 2. a 0-d parameter's gradient stays an array (optimizers update state in place) --------------
def test_sgd_with_momentum_on_a_0d_parameter_matches_pytorch(device):
    p = tg.tensor(1.0, dtype="float64", device=device, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        (p * p).backward()
        opt.step()
    assert p.item() == pytest.approx(0.062, abs=1e-12)  # torch: 0.0620


def test_the_gradient_of_a_0d_leaf_is_an_array_after_accumulating_twice(device):
    p = tg.tensor(2.0, dtype="float64", device=device, requires_grad=True)
    (p * 3).backward()
    (p * 4).backward()
    assert p.grad.item() == 7.0 and p.grad.data.shape == () and hasattr(p.grad.data, "ndim")


# ---- 3. copy_ from a leaf keeps the source in the graph -----------------------------------------
def test_copy_from_a_leaf_sends_the_gradient_to_the_leaf(device):
    x = leaf([1.0], device)
    v = tg.zeros(1, dtype="float64", device=device)
    v.copy_(x)
    v.sum().backward()
    assert not v.is_leaf and v.grad is None
    np.testing.assert_array_equal(grad_of(x), [1.0])


# ---- 4. in-place under no_grad keeps history; overwriting ops are differentiable -----------------
def test_in_place_under_no_grad_changes_values_and_keeps_history(device):
    x = leaf([1.0, 2.0], device)
    y = x * 3
    with tg.no_grad():
        y.add_(1)
    (y * y).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [24.0, 42.0])


@pytest.mark.parametrize("overwrite", [lambda y: y.fill_(0.5), lambda y: y.zero_(),
                                       lambda y: y.copy_(tg.tensor([7.0, 8.0], dtype="float64"))],
                         ids=["fill_", "zero_", "copy_constant"])
def test_overwriting_a_non_leaf_keeps_it_in_the_graph_with_zero_gradient(overwrite):
    x = leaf([1.0, 2.0])
    y = x * 3
    overwrite(y)
    assert y.requires_grad and not y.is_leaf
    y.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0])


# ---- 5. in-place through views changes the base's history (or raises) -----------------------------
def test_in_place_on_a_view_reaches_the_base(device):
    x = leaf([1.0, 1.0, 1.0], device)
    a = x * 1
    a[0:1].mul_(2)
    a.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [2.0, 1.0, 1.0])


def test_a_view_taken_before_an_in_place_change_of_its_base_sees_it(device):
    x = leaf([1.0, 1.0, 1.0], device)
    a = x * 1
    v = a[0:2]
    a.mul_(2)
    np.testing.assert_array_equal(v.numpy(), [2.0, 2.0])
    v.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [2.0, 2.0, 0.0])


def test_setitem_writes_through_a_view_and_is_differentiable():
    x, w = leaf([1.0, 2.0, 3.0]), leaf([5.0])
    a = x * 2
    a[1:2] = w * 10
    a.sum().backward()
    np.testing.assert_array_equal(a.detach().numpy(), [2.0, 50.0, 6.0])
    np.testing.assert_array_equal(grad_of(x), [2.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad_of(w), [10.0])


def test_in_place_on_a_view_of_a_leaf_that_requires_grad_raises():
    x = leaf([1.0, 1.0])
    with pytest.raises(RuntimeError, match="mul_.*view of a leaf"):
        x[0:1].mul_(2)
    with tg.no_grad():  # allowed without recording: an optimizer-style update
        x[0:1].mul_(2)
    np.testing.assert_array_equal(x.detach().numpy(), [2.0, 1.0])


@pytest.mark.parametrize("pieces", [lambda a: a.split(2), lambda a: a.chunk(2), lambda a: a.unbind(0)],
                         ids=["split", "chunk", "unbind"])
def test_in_place_on_one_of_several_views_raises(pieces):
    a = leaf([1.0, 2.0, 3.0, 4.0]) * 1
    with pytest.raises(RuntimeError, match="add_.*one of several views"):
        pieces(a)[0].add_(1)


# ---- 6. an integer index is a view -------------------------------------------------------------
def test_an_integer_index_is_a_view_that_sees_in_place_changes(device):
    x = tg.tensor([1.0, 2.0], device=device)
    v = x[0]
    x.mul_(5)
    assert v.item() == 5.0 and v.shape == ()


# ---- 7. the saved output of a reduction is version-checked -------------------------------------
@pytest.mark.parametrize("reduce", [lambda x: x.amax(1), lambda x: x.max(), lambda x: x.amin(0)],
                         ids=["amax_dim", "max_all", "amin_dim"])
def test_changing_a_max_result_in_place_makes_backward_raise(reduce):
    x = leaf([[1.0, 3.0], [2.0, 0.0]])
    m = reduce(x)
    m.add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        m.sum().backward()


def test_max_along_a_dim_may_be_changed_in_place_like_pytorch():
    x = leaf([[1.0, 3.0], [2.0, 0.0]])
    m = x.max(1).values  # its gradient goes through the indices, nothing saved of the values
    m.add_(1)
    m.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0.0, 1.0], [1.0, 0.0]])


# ---- 8. x ** 0 ------------------------------------------------------------------------------------
def test_the_gradient_of_x_to_the_0_is_0_also_at_0():
    x = leaf([0.0, 1.0, -2.0])
    with np.errstate(all="raise"):  # and no warning from the masked 0^-1
        (x ** 0).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0, 0.0])


# ---- 9. BCE with logits at exactly 0 ---------------------------------------------------------------
def test_bce_with_logits_gradient_at_logit_0_is_sigmoid_minus_target():
    x = leaf([0.0, 0.0, 2.0])
    t = tg.tensor([1.0, 0.0, 1.0], dtype="float64")
    F.binary_cross_entropy_with_logits(x, t, reduction="sum").backward()
    np.testing.assert_allclose(grad_of(x), [-0.5, 0.5, 1 / (1 + np.exp(-2.0)) - 1.0])


# ---- 10. retain_grad twice -----------------------------------------------------------------------
def test_retain_grad_called_twice_keeps_one_gradient():
    y = leaf([1.0, 2.0]) * 2
    y.retain_grad()
    y.retain_grad()
    y.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


# ---- 11. no false "modified in place" errors: save only what a wanted gradient needs --------------
@pytest.mark.parametrize("program, expected", [
    (lambda x: (lambda y: (y.add_(1), y)[1])(x ** 2), [2.0, 4.0]),
    (lambda x: (lambda y, z: (y.add_(1), z)[1])(*(lambda y: (y, y * 3.0))(x * 1)), [3.0, 3.0]),
    (lambda x: (lambda y: y.add_(y, alpha=0.5))(x * 1), [1.5, 1.5]),
    (lambda x: (lambda y: (y.mul_(tg.tensor([5.0, 6.0], dtype="float64")), y)[1])(x + 1), [5.0, 6.0]),
], ids=["pow_constant_exponent", "mul_constant", "add_self_alpha", "mul_by_tensor"])
def test_in_place_after_an_op_that_did_not_need_the_value_is_fine(program, expected):
    x = leaf([1.0, 2.0])
    program(x).sum().backward()
    np.testing.assert_array_equal(grad_of(x), expected)


def test_a_fancy_index_copy_does_not_share_the_version_counter():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    f = y[:, [0]]
    z = f * f
    y.add_(1)
    z.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[2.0, 0.0], [6.0, 0.0]])


def test_multiplying_a_tensor_in_place_by_itself_raises_like_pytorch():
    y = leaf([1.0, 2.0]) + 1
    y.mul_(y)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


# ---- 12. cross_entropy with every target ignored ----------------------------------------------------
def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradients():
    scores = leaf(np.random.default_rng(0).standard_normal((3, 4)))
    loss = F.cross_entropy(scores, tg.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(grad_of(scores), np.zeros((3, 4)))


# ---- 13. bool tensors with Python numbers ----------------------------------------------------------
def test_a_bool_tensor_with_a_python_int_is_an_int_tensor():
    mask = tg.tensor([True, False])
    doubled = mask * 2
    assert doubled.dtype == np.int64 and doubled.tolist() == [2, 0]
    with np.errstate(divide="ignore"):  # NumPy warns of the division by zero; the value is right
        ratio = 2 / mask
    assert ratio.dtype == np.float32 and ratio.tolist() == [2.0, float("inf")]


# ---- 14. PyTorch's type promotion --------------------------------------------------------------------
@pytest.mark.parametrize("make, dtype", [
    (lambda: tg.tensor([1, 2]).exp(), "float32"),
    (lambda: tg.tensor([1, 2]).log(), "float32"),
    (lambda: tg.tensor([1, 4]).sqrt(), "float32"),
    (lambda: tg.tensor([True]).tanh(), "float32"),
    (lambda: tg.tensor([True]).sigmoid(), "float32"),
    (lambda: tg.tensor(2.0, dtype="float64") * tg.ones(3), "float32"),
    (lambda: tg.ones(3) * np.float64(2.0), "float32"),
    (lambda: tg.tensor([1, 2], dtype="int32") * tg.tensor(2, dtype="int64"), "int32"),
    (lambda: tg.tensor([1, 2], dtype="int32") * 2.5, "float32"),
    (lambda: tg.tensor([1, 2], dtype="int16") * tg.tensor(3.5, dtype="float64"), "float64"),
    (lambda: tg.tensor(2, dtype="int64") * tg.tensor(2.0, dtype="float64"), "float64"),
    (lambda: tg.cat([tg.ones(2, dtype="int32"), tg.ones(2)]), "float32"),
    (lambda: tg.tensor([True, False]).sum(), "int64"),
    (lambda: tg.tensor([1, 2], dtype="int32").sum(), "int64"),
    (lambda: tg.tensor([1, 2]) / tg.tensor([2, 2]), "float32"),
], ids=["exp_int", "log_int", "sqrt_int", "tanh_bool", "sigmoid_bool", "0d_float64_with_float32",
        "numpy_scalar", "0d_int64_with_int32", "int_with_python_float", "int_with_0d_float64",
        "two_0d", "cat_int_float", "sum_bool", "sum_int32", "int_true_division"])
def test_result_dtypes_follow_pytorch(make, dtype):
    assert make().dtype == np.dtype(dtype)


@pytest.mark.parametrize("make, error, words", [
    (lambda: tg.tensor([1, 2]).mean(), TypeError, "mean.*floating-point.*int64"),
    (lambda: tg.tensor([True]) - tg.tensor([True]), TypeError, "sub.*bool"),
    (lambda: tg.tensor([True]) - 1, TypeError, "sub.*bool"),
    (lambda: -tg.tensor([True]), TypeError, "neg.*bool"),
    (lambda: tg.ones(2, 2) @ tg.ones(2, 2, dtype="float64"), TypeError, "matmul.*float32 and float64"),
    (lambda: tg.tensor([1, 2]).add_(1.5), TypeError, "add_.*float32.*int64"),
    (lambda: tg.tensor([1, 2]) ** -1, ValueError, "negative integer powers"),
    (lambda: tg.tensor([1, 2]).softmax(), TypeError, "softmax.*int64"),
], ids=["mean_int", "sub_bool_bool", "sub_bool_int", "neg_bool", "matmul_mixed", "add_float_into_int",
        "int_negative_power", "softmax_int"])
def test_operations_pytorch_refuses_raise_a_clear_error(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_a_0d_float64_tensor_used_with_float32_still_receives_its_gradient():
    scale = tg.tensor(2.0, dtype="float64", requires_grad=True)
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = scale * x
    assert out.dtype == np.float32
    out.sum().backward()
    assert scale.grad.dtype == np.float64 and scale.grad.item() == 6.0


# ---- 15. learner pitfalls -------------------------------------------------------------------------------
def test_in_place_operators_update_parameters_in_the_classic_loop(device):
    p = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    (p * p).sum().backward()
    alias = p
    with tg.no_grad():
        for q in [p]:
            q -= 0.25 * q.grad
    assert alias is p
    np.testing.assert_allclose(p.numpy(), [0.5, 1.0])
    for operator_result, expected in [((lambda t: t.__iadd__(1.0)), 1.5), ((lambda t: t.__imul__(2.0)), 3.0),
                                      ((lambda t: t.__itruediv__(3.0)), 1.0)]:
        with tg.no_grad():
            assert operator_result(p) is p
        assert p.numpy()[0] == pytest.approx(expected)


def test_augmented_assignment_on_a_leaf_that_requires_grad_raises_while_recording():
    p = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        p += 1


def test_max_with_a_dim_unpacks_into_values_and_indices():
    values, indices = tg.tensor([[1.0, 3.0], [4.0, 2.0]]).max(dim=1)
    assert values.tolist() == [3.0, 4.0] and indices.tolist() == [1, 0]
    assert tg.tensor([[1.0, 3.0], [4.0, 2.0]]).max().item() == 4.0


@pytest.mark.parametrize("left", [np.array([1.0, 2.0, 3.0]), np.float64(2.0), np.float32(2.0), np.int64(2)],
                         ids=["array", "float64_scalar", "float32_scalar", "int64_scalar"])
@pytest.mark.parametrize("symbol", ["+", "-", "*", "/", "**"])
def test_numpy_operands_on_the_left_give_tensors_in_the_graph(left, symbol):
    x = leaf([1.0, 2.0, 3.0])
    out = eval(f"left {symbol} x")  # noqa: S307 (the operator under test)
    assert isinstance(out, tg.Tensor) and out.requires_grad
    out.sum().backward()
    expected = eval(f"left {symbol} np.array([1.0, 2.0, 3.0])")  # noqa: S307
    np.testing.assert_allclose(out.detach().numpy(), expected)
    assert np.all(np.isfinite(grad_of(x)))


def test_clip_grad_norm_is_reachable_as_nn_utils_without_importing_it():
    import tinygrad_rnn
    assert tinygrad_rnn.nn.utils.clip_grad_norm_ is nn.utils.clip_grad_norm_


@pytest.mark.parametrize("same_shape", [lambda x: x.reshape(2, 3), lambda x: x.view(2, 3),
                                        lambda x: x.expand(2, 3), lambda x: x.squeeze(),
                                        lambda x: x.reshape(-1, 3)],
                         ids=["reshape", "view", "expand", "squeeze", "reshape_minus_one"])
def test_shape_ops_to_the_same_shape_return_a_new_view(same_shape):
    x = leaf(np.ones((2, 3)))
    y = same_shape(x)
    assert y is not x and y.grad_fn is not None and y.shape == (2, 3)
    with tg.no_grad():
        x.mul_(3)
    assert y.numpy()[0, 0] == 3.0  # a view: it shares x's memory


# ---- the graph after backward (PyTorch's semantics) -------------------------------------------------
def test_a_second_backward_through_a_graph_that_saved_nothing_runs_again():
    x = leaf([1.0, 2.0])
    y = (x + 1).sum()
    y.backward()
    y.backward()  # nothing was saved, so nothing was freed
    np.testing.assert_array_equal(grad_of(x), [2.0, 2.0])


def test_a_second_backward_through_freed_saved_values_still_says_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_the_graph_stays_walkable_after_backward():
    x = leaf([1.0, 2.0])
    y = (x.tanh() * 2).sum()
    y.backward()
    assert [node.name for node in backward_order(y.grad_fn)] == ["sum", "mul", "tanh"]
