"""The PyTorch tensor API a learner types: ``size()``/``dim()``, casts, ``masked_fill``, ``gather``
and ``index_select``, ``var``/``std``/``norm``/``logsumexp``, ``sin``/``cos``/``log1p``/``sign``,
``flip``/``roll``/``repeat``, ``t``/``contiguous``, ``mm``/``bmm``/``dot``, the top-level
``sum``/``max``/``min``/``argmax``/``argmin``, and ``einsum``.

Three kinds of evidence:
- PyTorch's own results: each case of ``tensor_api_cases.py`` is one expression run by
  torch (stored in ``fixtures/tensor_api.npz`` by ``make_tensor_api_fixtures.py``) and here;
  values, shapes, dtypes and gradients must agree, also at ties, zeros and infinities;
- finite differences: every new differentiable op passes gradcheck and gradgradcheck in
  float64, over several dims and shapes;
- errors: bad arguments raise errors that name the op.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tensor_api_cases import CASES, EINSUM, output_weights

REFERENCE = np.load(Path(__file__).parent / "fixtures" / "tensor_api.npz")


def stored_inputs(name: str, device: str) -> list:
    """The case's inputs as tensors: float64 leaves that require grad, int64 indices, bool masks."""
    arrays, i = [], 0
    while f"{name}/in{i}" in REFERENCE:
        arrays.append(REFERENCE[f"{name}/in{i}"])
        i += 1
    return [tg.tensor(a, device=device, requires_grad=a.dtype == np.float64) for a in arrays]


def as_outputs(result) -> list:
    return list(result) if isinstance(result, tuple) else [result]


def leaf(values, device):
    return tg.tensor(np.asarray(values, dtype=np.float64), dtype="float64", device=device, requires_grad=True)


def check(fn, *arrays, device, second_order=True):
    """gradcheck (and gradgradcheck) of ``fn`` at float64 leaves holding ``arrays``."""
    assert tg.gradcheck(fn, [leaf(a, device) for a in arrays]) is True
    if second_order:
        assert tg.gradgradcheck(fn, [leaf(a, device) for a in arrays]) is True


# ---- PyTorch's values and gradients -----------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_result_matches_pytorch(name, device):
    outputs = as_outputs(CASES[name].call(tg, *stored_inputs(name, device)))
    assert f"{name}/out{len(outputs)}" not in REFERENCE and f"{name}/out{len(outputs) - 1}" in REFERENCE
    for k, out in enumerate(outputs):
        expected = REFERENCE[f"{name}/out{k}"]
        assert (out.shape, out.dtype, out.device) == (expected.shape, expected.dtype, device)
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def _differentiable(name: str) -> bool:
    """Whether the case has a float input and a float output (casts and argmax have none)."""
    outputs = [key for key in REFERENCE.files if key.startswith(f"{name}/out")]
    return any(key.startswith(f"{name}/grad") for key in REFERENCE.files) and \
        any(REFERENCE[key].dtype == np.float64 for key in outputs)


# PyTorch divides the value by max(0, N - correction) = 0 (inf) but the gradient by N - correction = -1
# (finite); here the gradient of that inf is nan
GRADIENT_CASES = [name for name in CASES if _differentiable(name)
                  and name != "var_fewer_elements_than_correction_is_inf"]


@pytest.mark.parametrize("name", GRADIENT_CASES)
def test_gradient_matches_pytorch(name, device):
    inputs = stored_inputs(name, device)
    outputs = as_outputs(CASES[name].call(tg, *inputs))
    objective = sum((out * tg.tensor(output_weights(out.shape, k), device=device)).sum()
                    for k, out in enumerate(outputs) if out.dtype == np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # the cases of nan and inf results
        objective.backward()
    for i, x in enumerate(inputs):
        if x.requires_grad:
            got = x.grad.numpy() if x.grad is not None else np.zeros(x.shape)
            np.testing.assert_allclose(got, REFERENCE[f"{name}/grad{i}"], rtol=1e-10, atol=1e-12)


# ---- size, dim, casts, contiguous --------------------------------------------------------------
def test_size_is_the_shape_and_size_of_a_dim_its_length(device):
    x = tg.zeros(2, 3, 4, device=device)
    assert x.size() == (2, 3, 4) and isinstance(x.size(), tuple)
    assert (x.size(0), x.size(-1), x.size(1)) == (2, 4, 3)
    assert (x.dim(), x.numel()) == (3, 24)
    assert (tg.tensor(1.0, device=device).size(), tg.tensor(1.0).dim()) == ((), 0)


@pytest.mark.parametrize("dim", [3, -4])
def test_size_of_a_dim_out_of_range_raises(dim):
    with pytest.raises(IndexError, match="size: dim"):
        tg.zeros(2, 3, 4).size(dim)


def test_int_and_bool_methods_cast_while_python_int_and_bool_convert(device):
    x = tg.tensor([2.7], device=device)
    assert x.int().dtype == np.int32 and x.long().dtype == np.int64 and x.bool().dtype == np.bool_
    assert int(x) == 2 and bool(x) is True and int(tg.tensor(0.0)) == 0


def test_contiguous_returns_self_when_already_contiguous(device):
    x = tg.ones(2, 3, device=device)
    assert x.contiguous() is x


def test_contiguous_of_a_transpose_is_a_row_major_copy_in_the_graph(device):
    x = leaf(np.arange(6.0).reshape(2, 3), device)
    y = x.t().contiguous()
    assert y.data.flags.c_contiguous and not np.shares_memory(y.numpy(), x.numpy())
    check(lambda t: t.t().contiguous(), np.arange(6.0).reshape(2, 3), device=device)


# ---- new elementwise ops -----------------------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda x: x.sin(), lambda x: tg.sin(x), lambda x: x.cos(), lambda x: tg.cos(x * 2.0),
    lambda x: (x * x).log1p(), lambda x: tg.log1p(x.abs()), lambda x: x.pow(3), lambda x: x.neg(),
], ids=["sin", "sin_functional", "cos", "cos_functional", "log1p", "log1p_functional", "pow", "neg"])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3)], ids=str)
def test_elementwise_gradient_matches_finite_differences(fn, shape, device):
    check(fn, np.random.default_rng(0).uniform(-2.0, 2.0, shape), device=device)


def test_sign_has_zero_gradient(device):
    x = leaf([-2.0, 0.5, 3.0], device)
    (x.sign() * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


def test_integer_inputs_of_sin_cos_log1p_give_float32(device):
    x = tg.tensor([0, 1, 2], device=device)
    assert {x.sin().dtype, x.cos().dtype, x.log1p().dtype} == {np.dtype(np.float32)}


@pytest.mark.parametrize("x_shape, mask_shape", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (2, 3, 4)), ((), (3,))],
                         ids=str)
def test_masked_fill_gradient_reaches_input_and_tensor_value(x_shape, mask_shape, device):
    rng = np.random.default_rng(1)
    mask = tg.tensor(rng.random(mask_shape) < 0.5, device=device)
    check(lambda x: x.masked_fill(mask, -1.0), rng.standard_normal(x_shape), device=device)
    check(lambda x, v: tg.masked_fill(x, mask, v), rng.standard_normal(x_shape), 0.5, device=device)


def test_masked_fill_keeps_the_input_dtype(device):
    x = tg.tensor([1, 2, 3], device=device)
    out = x.masked_fill(x > 1, 0.5)  # as PyTorch: the value is cast to the input's dtype
    assert out.dtype == np.int64 and out.tolist() == [1, 0, 0]


# ---- indexing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dim, index", [(0, [[2, 0, 2]]), (1, [[0, 3], [1, 1], [2, 0]]), (-1, [[3], [3], [0]])],
                         ids=str)
def test_gather_gradient_matches_finite_differences(dim, index, device):
    index = tg.tensor(index, device=device)
    check(lambda x: x.gather(dim, index), np.random.default_rng(2).standard_normal((3, 4)), device=device)


@pytest.mark.parametrize("dim, index", [(0, [2, 0, 2, 2]), (1, [3, 1]), (-1, [0]), (0, 1)], ids=str)
def test_index_select_gradient_matches_finite_differences(dim, index, device):
    index = tg.tensor(index, device=device)
    check(lambda x: x.index_select(dim, index), np.random.default_rng(3).standard_normal((3, 4)), device=device)


# ---- reductions ----------------------------------------------------------------------------------
VAR_ARGUMENTS = {
    "all": ((), {}),
    "dim": ((1,), {}),
    "negative_dim_keepdim": ((-1,), {"keepdim": True}),
    "dims_tuple": (((0, 2),), {}),
    "unbiased_false": ((0, False), {}),
    "correction_0": ((), {"dim": 1, "correction": 0}),
    "correction_2": ((), {"dim": (1, 2), "correction": 2, "keepdim": True}),
}


@pytest.mark.parametrize("name", list(VAR_ARGUMENTS))
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_and_std_gradients_match_finite_differences(op, name, device):
    args, kwargs = VAR_ARGUMENTS[name]
    x = np.random.default_rng(4).standard_normal((2, 3, 4))
    check(lambda t: getattr(t, op)(*args, **kwargs), x, device=device)
    check(lambda t: getattr(tg, op)(t, *args, **kwargs), x, device=device, second_order=False)


NORMS = {
    "default": ((), {}),
    "fro_dim": (("fro", 1), {}),
    "fro_two_dims_keepdim": (("fro", (0, 2)), {"keepdim": True}),
    "p2_dim": ((2, -1), {}),
    "p3": ((3,), {}),
    "p1_dim": ((1, 0), {}),
    "inf_dim": ((math.inf, 1), {}),
    "minus_inf": ((-math.inf,), {}),
    "p_half": ((0.5, 2), {}),
}


@pytest.mark.parametrize("name", list(NORMS))
def test_norm_gradient_matches_finite_differences(name, device):
    args, kwargs = NORMS[name]
    rng = np.random.default_rng(5)
    x = (rng.permutation(24) + 1.0).reshape(2, 3, 4) * 0.1 * rng.choice([-1, 1], (2, 3, 4))  # distinct |x| > 0
    check(lambda t: t.norm(*args, **kwargs), x, device=device)


def test_norm_gradient_at_zero_is_zero_as_in_pytorch(device):
    for p in (2, 3, 1, math.inf):
        x = leaf(np.zeros((2, 3)), device)
        x.norm(p, dim=1).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))


def test_norm_dtype_casts_first(device):
    x = tg.tensor([3.0, 4.0], device=device)
    assert x.norm(dtype=tg.float64).dtype == np.float64 and x.norm().item() == 5.0


@pytest.mark.parametrize("dim, keepdim", [(1, False), (-1, True), ((0, 2), False), ((0, 1, 2), True)], ids=str)
def test_logsumexp_gradient_matches_finite_differences(dim, keepdim, device):
    x = np.random.default_rng(6).standard_normal((2, 3, 4))
    check(lambda t: t.logsumexp(dim, keepdim=keepdim), x, device=device)
    check(lambda t: tg.logsumexp(t * 30.0, dim), x, device=device, second_order=False)


def test_logsumexp_of_large_values_is_finite_with_softmax_gradient(device):
    x = leaf([[1000.0, 1001.0], [-1000.0, -1001.0]], device)
    out = x.logsumexp(1)
    out.sum().backward()
    assert np.isfinite(out.detach().numpy()).all()
    np.testing.assert_allclose(x.grad.numpy(), tg.softmax(x.detach(), 1).numpy(), rtol=1e-12)


def test_max_and_min_of_two_tensors_are_elementwise(device):
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((3, 1)), rng.standard_normal((4,))
    check(lambda x, y: tg.max(x, y), a, b, device=device)
    check(lambda x, y: x.min(y), a, b, device=device)


def test_top_level_reductions_follow_pytorch_forms(device):
    x = tg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], device=device)
    assert tg.max(x).item() == 7.0 and tg.min(x).item() == 0.0 and tg.sum(x).item() == 18.0
    values, indices = tg.max(x, 1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert tg.min(x, dim=0, keepdim=True).indices.tolist() == [[0, 1, 0]]
    assert tg.argmax(x).item() == 3 and tg.argmin(x, 1).tolist() == [0, 1]


# ---- rearranging ---------------------------------------------------------------------------------
REARRANGE = {
    "flip_0": lambda x: x.flip(0),
    "flip_all": lambda x: x.flip(0, 1, 2),
    "flip_tuple_negative": lambda x: tg.flip(x, (-1,)),
    "roll_flat": lambda x: x.roll(7),
    "roll_dim": lambda x: x.roll(-1, 2),
    "roll_two_dims": lambda x: tg.roll(x, (1, 2), (0, -1)),
    "repeat": lambda x: x.repeat(2, 1, 3),
    "repeat_leading": lambda x: x.repeat((2, 1, 2, 1)),
    "repeat_ones": lambda x: x.repeat(1, 1, 1),
    "t_of_slice": lambda x: x[0].t(),
    "t_of_vector": lambda x: tg.t(x[0, 0]),
}


@pytest.mark.parametrize("name", list(REARRANGE))
def test_rearrange_gradient_matches_finite_differences(name, device):
    check(REARRANGE[name], np.random.default_rng(8).standard_normal((2, 3, 4)), device=device)


@pytest.mark.parametrize("name", ["flip_0", "roll_dim", "repeat_ones"])
def test_rearranged_result_owns_its_memory(name, device):
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4), device=device)
    out = REARRANGE[name](x)
    out.add_(100.0)
    np.testing.assert_array_equal(x.numpy(), np.arange(24.0).reshape(2, 3, 4))


# ---- products ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, shapes", [
    (tg.mm, [(2, 3), (3, 4)]),
    (lambda a, b: a.mm(b), [(1, 3), (3, 1)]),
    (tg.bmm, [(2, 3, 4), (2, 4, 5)]),
    (lambda a, b: a.bmm(b), [(1, 2, 2), (1, 2, 3)]),
    (tg.dot, [(4,), (4,)]),
    (lambda a, b: a.dot(b), [(1,), (1,)]),
], ids=["mm", "mm_method", "bmm", "bmm_method", "dot", "dot_method"])
def test_product_gradient_matches_finite_differences(fn, shapes, device):
    rng = np.random.default_rng(9)
    check(fn, *[rng.standard_normal(s) for s in shapes], device=device)


# ---- einsum --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(EINSUM))
def test_einsum_gradient_matches_finite_differences(name, device):
    equation, shapes = EINSUM[name]
    rng = np.random.default_rng(10)
    check(lambda *xs: tg.einsum(equation, *xs), *[rng.standard_normal(s) for s in shapes], device=device)


def test_einsum_gradient_is_itself_an_einsum(device):
    rng = np.random.default_rng(11)
    a, b = leaf(rng.standard_normal((2, 3)), device), leaf(rng.standard_normal((3, 4)), device)
    (grad_a,) = tg.grad(tg.einsum("ij,jk->ik", a, b).sum(), a, create_graph=True)
    assert grad_a.grad_fn.name == "einsum"
    np.testing.assert_allclose(grad_a.detach().numpy(), np.broadcast_to(b.detach().numpy().sum(1), (2, 3)))


def test_einsum_of_one_operand_owns_its_memory(device):
    x = tg.tensor(np.arange(9.0).reshape(3, 3), device=device)
    for equation in ("ij->ji", "ii->i", "ij->ij"):
        out = tg.einsum(equation, x)
        out.add_(100.0)
        np.testing.assert_array_equal(x.numpy(), np.arange(9.0).reshape(3, 3))


def test_einsum_promotes_dtypes_like_other_ops(device):
    a = tg.ones(2, 3, device=device)
    b = tg.ones(3, dtype=tg.float64, device=device)
    assert tg.einsum("ij,j->i", a, b).dtype == np.float64


# ---- errors name the op ---------------------------------------------------------------------------
ERRORS = {
    "t_of_3d": (lambda: tg.zeros(2, 3, 4).t(), ValueError, "^t: "),
    "mm_of_vector": (lambda: tg.mm(tg.zeros(3), tg.zeros(3, 2)), ValueError, "^mm: .*matrices"),
    "mm_inner_mismatch": (lambda: tg.zeros(2, 3).mm(tg.zeros(4, 5)), ValueError, r"^mm: .*\(2, 3\) and \(4, 5\)"),
    "mm_of_a_list": (lambda: tg.mm(tg.zeros(2, 2), [[1.0, 0.0]]), TypeError, "^mm: "),
    "bmm_of_matrix": (lambda: tg.bmm(tg.zeros(2, 3), tg.zeros(3, 2)), ValueError, "^bmm: "),
    "bmm_batch_mismatch": (lambda: tg.bmm(tg.zeros(2, 2, 3), tg.zeros(3, 3, 5)), ValueError, "^bmm: "),
    "dot_of_matrices": (lambda: tg.dot(tg.zeros(2, 2), tg.zeros(2, 2)), ValueError, "^dot: "),
    "dot_lengths": (lambda: tg.zeros(2).dot(tg.zeros(3)), ValueError, "^dot: .*2 and 3"),
    "masked_fill_float_mask": (lambda: tg.zeros(3).masked_fill(tg.zeros(3), 1.0), TypeError, "^masked_fill: "),
    "masked_fill_vector_value": (lambda: tg.zeros(3).masked_fill(tg.zeros(3) > 0, tg.zeros(3)), ValueError,
                                 "^masked_fill: .*0-d"),
    "masked_fill_mask_shape": (lambda: tg.zeros(3).masked_fill(tg.zeros(2) > 0, 1.0), ValueError,
                               r"^masked_fill: .*\(3,\), \(2,\)"),
    "index_select_matrix_index": (lambda: tg.zeros(3).index_select(0, tg.tensor([[0]])), ValueError,
                                  "^index_select: .*vector"),
    "index_select_float_index": (lambda: tg.zeros(3).index_select(0, tg.tensor([0.0])), TypeError,
                                 "^index_select: "),
    "index_select_out_of_range": (lambda: tg.zeros(3).index_select(0, tg.tensor([0, 3])), IndexError,
                                  "^index_select: .*from 0 to 3"),
    "index_select_bad_dim": (lambda: tg.zeros(3).index_select(1, tg.tensor([0])), ValueError, "^index_select: "),
    "var_of_integers": (lambda: tg.tensor([1, 2]).var(), TypeError, "^var: "),
    "std_of_integers": (lambda: tg.tensor([1, 2]).std(), TypeError, "^std: "),
    "var_unbiased_and_correction": (lambda: tg.zeros(3).var(0, True, correction=1), TypeError, "^var: "),
    "norm_of_integers": (lambda: tg.tensor([1, 2]).norm(), TypeError, "^norm: "),
    "norm_nuclear": (lambda: tg.zeros(2, 2).norm("nuc"), ValueError, "^norm: .*nuc"),
    "norm_fro_three_dims": (lambda: tg.zeros(2, 2, 2).norm("fro", (0, 1, 2)), ValueError, "^norm: "),
    "logsumexp_bad_dim": (lambda: tg.zeros(2, 3).logsumexp(2), ValueError, "^logsumexp: "),
    "flip_repeated_dim": (lambda: tg.zeros(2, 3).flip(0, -2), ValueError, "^flip: "),
    "flip_bad_dim": (lambda: tg.zeros(2, 3).flip(2), ValueError, "^flip: "),
    "roll_unpaired": (lambda: tg.zeros(2, 3).roll((1, 2), 0), ValueError, "^roll: "),
    "roll_flat_two_shifts": (lambda: tg.zeros(2, 3).roll((1, 2)), ValueError, "^roll: "),
    "repeat_too_few": (lambda: tg.zeros(2, 3).repeat(2), ValueError, "^repeat: "),
    "repeat_negative": (lambda: tg.zeros(2).repeat(-1), ValueError, "^repeat: "),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_arguments_raise_an_error_naming_the_op(name):
    call, error, pattern = ERRORS[name]
    with pytest.raises(error, match=pattern):
        call()


EINSUM_ERRORS = {
    "invalid_character": ("ij,j1->i", [(2, 3), (3,)], ValueError, "invalid subscript '1' at index 4"),
    "two_arrows": ("ij->j->i", [(2, 3)], ValueError, "at most one '->'"),
    "too_few_operands": ("ij,jk->ik", [(2, 3)], ValueError, "names 2 operand"),
    "too_many_operands": ("ij->i", [(2, 3), (3,)], ValueError, "names 1 operand"),
    "wrong_number_of_dims": ("ijk,jk->ik", [(2, 3), (3, 4)], ValueError, r"operand 0 has shape \(2, 3\)"),
    "sizes_differ": ("ij,jk->ik", [(2, 3), (4, 5)], ValueError,
                     r"subscript 'j' has size 4 in operand 1 \(shape \(4, 5\)\) but 3"),
    "repeated_letter_sizes_differ": ("ii->i", [(2, 3)], ValueError, "repeated in operand 0"),
    "ellipsis_sizes_differ": ("...i,...i->...", [(2, 3), (4, 3)], ValueError, "an ellipsis dimension"),
    "output_letter_not_in_inputs": ("ij->iz", [(2, 3)], ValueError, "output subscript 'z' does not appear"),
    "output_letter_repeated": ("ij->ii", [(2, 3)], ValueError, "output subscript 'i' appears more than once"),
    "broken_ellipsis": ("..ij->ij", [(2, 3)], ValueError, "'...' ellipsis"),
}


@pytest.mark.parametrize("name", list(EINSUM_ERRORS))
def test_malformed_einsum_raises_an_error_naming_einsum(name):
    equation, shapes, error, pattern = EINSUM_ERRORS[name]
    with pytest.raises(error, match="^einsum: .*" + pattern):
        tg.einsum(equation, *[tg.zeros(*s) for s in shapes])


@pytest.mark.parametrize("args", [(), (tg.zeros(2),), ("i", np.zeros(2))], ids=["nothing", "no_equation", "array"])
def test_einsum_needs_an_equation_and_tensors(args):
    with pytest.raises(TypeError, match="^einsum: "):
        tg.einsum(*args) if args else tg.einsum("i")


# ---- the public surface ---------------------------------------------------------------------------
TOP_LEVEL = ["sum", "max", "min", "argmax", "argmin", "amax", "amin", "einsum", "sin", "cos", "log1p", "sign",
             "flip", "roll", "logsumexp", "std", "var", "norm", "masked_fill", "gather", "index_select", "mm",
             "bmm", "dot", "t", "pow", "neg"]
METHODS = ["size", "dim", "numel", "contiguous", "t", "pow", "neg", "long", "int", "bool", "masked_fill", "gather",
           "index_select", "argmin", "amax", "amin", "std", "var", "norm", "logsumexp", "sin", "cos", "log1p",
           "sign", "flip", "roll", "repeat", "mm", "bmm", "dot"]


def test_top_level_functions_are_exported():
    assert all(callable(getattr(tg, name)) and name in tg.__all__ for name in TOP_LEVEL)


def test_tensor_methods_exist():
    assert all(callable(getattr(tg.Tensor, name)) for name in METHODS)
