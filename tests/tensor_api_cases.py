"""The tensor API cases that ``tests/make_tensor_api_fixtures.py`` runs with PyTorch and
``tests/test_tensor_api.py`` runs with tinygrad_rnn: one expression per case, written once.

Each case makes its inputs from a seeded NumPy generator (float64 values, int64 indices, bool
masks) and applies ``call(lib, *tensors)``, where ``lib`` is ``torch`` or ``tinygrad_rnn``:
the method names, argument names and top-level functions are the same in both libraries,
so the same expression is PyTorch's reference and our test. The fixture stores the inputs,
every output (a tensor, or a tuple such as max's (values, indices)) and the gradient of
``sum_k <w_k, out_k>`` for every float input, with the fixed weights of ``output_weights``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Case:
    inputs: Callable[[np.random.Generator], list]
    call: Callable[..., Any]


def output_weights(shape: tuple, k: int) -> np.ndarray:
    """The fixed weights of output ``k`` in the scalar whose gradient the fixture stores."""
    return np.sin(np.arange(int(np.prod(shape))) * 1.618 + 0.5 + k).reshape(shape)


# ---- inputs ------------------------------------------------------------------------------------
def normal(*shapes: tuple) -> Callable:
    return lambda rng: [rng.standard_normal(shape) for shape in shapes]


def distinct(shape: tuple) -> Callable:
    """Pairwise distinct values, so max/min/argmax have a unique winner."""
    n = int(np.prod(shape))
    return lambda rng: [((rng.permutation(n) - n / 2) * 0.3).reshape(shape)]


def fixed(*arrays: Any) -> Callable:
    return lambda rng: [np.array(a) for a in arrays]


def with_mask(shape: tuple, mask_shape: tuple, *extra: Any) -> Callable:
    return lambda rng: [rng.standard_normal(shape), rng.random(mask_shape) < 0.5, *[np.array(e) for e in extra]]


def with_index(shape: tuple, index: list) -> Callable:
    return lambda rng: [rng.standard_normal(shape), np.array(index, dtype=np.int64)]


TIES = [[3.0, -3.0, 1.0, 3.0], [0.5, -2.0, -2.0, 0.5], [0.0, 0.0, 0.0, 0.0]]

CASES = {
    # elementwise
    "sin": Case(normal((3, 4)), lambda lib, x: x.sin()),
    "cos": Case(normal((3, 4)), lambda lib, x: lib.cos(x)),
    "log1p": Case(lambda rng: [rng.uniform(-0.9, 3.0, (3, 4))], lambda lib, x: x.log1p()),
    "log1p_tiny": Case(fixed([1e-12, -1e-10, 3e-16]), lambda lib, x: lib.log1p(x)),
    "sign_with_zeros": Case(fixed([[-2.0, 0.0, 1.5], [0.0, 3.0, -0.5]]), lambda lib, x: x.sign()),
    "sign_functional": Case(normal((4,)), lambda lib, x: lib.sign(x)),
    "pow_method_scalar": Case(normal((3, 4)), lambda lib, x: x.pow(3)),
    "pow_method_tensor": Case(lambda rng: [rng.uniform(0.5, 2.0, (3, 4)), rng.standard_normal((4,))],
                              lambda lib, x, y: x.pow(y)),
    "neg_method": Case(normal((2, 3)), lambda lib, x: x.neg()),
    "masked_fill_scalar": Case(with_mask((3, 4), (3, 4)), lambda lib, x, m: x.masked_fill(m, -1.5)),
    "masked_fill_broadcast_mask": Case(with_mask((3, 4), (4,)), lambda lib, x, m: x.masked_fill(m, 0.25)),
    "masked_fill_mask_enlarges": Case(with_mask((3, 4), (2, 1, 4)), lambda lib, x, m: x.masked_fill(m, 2.0)),
    "masked_fill_tensor_value": Case(with_mask((3, 4), (3, 4), 0.75), lambda lib, x, m, v: x.masked_fill(m, v)),
    "masked_fill_functional_inf": Case(with_mask((2, 5), (2, 5)),
                                       lambda lib, x, m: lib.masked_fill(x, m, -math.inf).softmax(-1)),
    # casts
    "long": Case(fixed([-2.7, -0.5, 0.0, 0.5, 3.9]), lambda lib, x: x.long()),
    "int": Case(fixed([-2.7, -0.5, 0.0, 0.5, 3.9]), lambda lib, x: x.int()),
    "bool": Case(fixed([-2.7, 0.0, 0.5]), lambda lib, x: x.bool()),
    # indexing
    "gather_dim1": Case(lambda rng: [rng.standard_normal((3, 4)), np.array([[0, 3], [1, 1], [2, 0]])],
                        lambda lib, x, i: x.gather(1, i)),
    "gather_dim0_smaller_index": Case(lambda rng: [rng.standard_normal((3, 4)), np.array([[2, 0, 2]])],
                                      lambda lib, x, i: lib.gather(x, 0, i)),
    "gather_negative_dim_3d": Case(lambda rng: [rng.standard_normal((2, 3, 4)), rng.integers(0, 4, (2, 2, 5))],
                                   lambda lib, x, i: x.gather(-1, i)),
    "index_select_dim0_repeats": Case(with_index((3, 4), [2, 0, 2, 2]), lambda lib, x, i: x.index_select(0, i)),
    "index_select_dim1": Case(with_index((3, 4), [3, 1]), lambda lib, x, i: lib.index_select(x, 1, i)),
    "index_select_negative_dim_3d": Case(with_index((2, 3, 4), [1, 0, 1]), lambda lib, x, i: x.index_select(-2, i)),
    "index_select_0d_index": Case(with_index((3, 4), 1), lambda lib, x, i: x.index_select(0, i)),
    "index_select_empty_index": Case(with_index((3, 4), []), lambda lib, x, i: x.index_select(1, i)),
    # reductions
    "argmin_all": Case(distinct((3, 4)), lambda lib, x: x.argmin()),
    "argmin_dim": Case(distinct((3, 4)), lambda lib, x: lib.argmin(x, 1)),
    "argmin_dim_keepdim": Case(distinct((3, 4)), lambda lib, x: x.argmin(dim=0, keepdim=True)),
    "argmin_first_of_ties": Case(fixed(TIES), lambda lib, x: x.argmin(1)),
    "argmax_first_of_ties": Case(fixed(TIES), lambda lib, x: lib.argmax(x, dim=1)),
    "argmax_all_keepdim": Case(distinct((3, 4)), lambda lib, x: lib.argmax(x, keepdim=True)),
    "amax_dims_tuple": Case(distinct((2, 3, 4)), lambda lib, x: x.amax(dim=(0, 2))),
    "amax_dims_keepdim": Case(distinct((2, 3, 4)), lambda lib, x: lib.amax(x, (1, -1), keepdim=True)),
    "amin_ties_share_gradient": Case(fixed(TIES), lambda lib, x: x.amin(dim=1)),
    "amax_ties_share_gradient": Case(fixed(TIES), lambda lib, x: lib.amax(x, 1)),
    "max_functional_all": Case(distinct((3, 4)), lambda lib, x: lib.max(x)),
    "max_functional_dim": Case(distinct((3, 4)), lambda lib, x: lib.max(x, 1)),
    "max_functional_dim_keepdim": Case(distinct((3, 4)), lambda lib, x: lib.max(x, 0, True)),
    "max_functional_elementwise": Case(fixed([[1.0, 2.0, 3.0], [4.0, 0.0, -1.0]], [2.0, 2.0, 2.0]),
                                       lambda lib, x, y: lib.max(x, y)),
    "max_method_elementwise": Case(normal((3, 4), (4,)), lambda lib, x, y: x.max(y)),
    "min_functional_all": Case(distinct((3, 4)), lambda lib, x: lib.min(x)),
    "min_functional_dim": Case(distinct((3, 4)), lambda lib, x: lib.min(x, dim=1)),
    "min_functional_elementwise": Case(fixed([[1.0, 2.0, 3.0], [4.0, 0.0, -1.0]], [2.0, 2.0, 2.0]),
                                       lambda lib, x, y: lib.min(x, y)),
    "sum_functional_all": Case(normal((3, 4)), lambda lib, x: lib.sum(x)),
    "sum_functional_dim": Case(normal((3, 4)), lambda lib, x: lib.sum(x, 1)),
    "sum_functional_dims_keepdim": Case(normal((2, 3, 4)), lambda lib, x: lib.sum(x, (0, 2), True)),
    "var_default": Case(normal((3, 4)), lambda lib, x: x.var()),
    "var_dim": Case(normal((3, 4)), lambda lib, x: x.var(1)),
    "var_dims_keepdim": Case(normal((2, 3, 4)), lambda lib, x: x.var((0, 2), keepdim=True)),
    "var_unbiased_false_positional": Case(normal((3, 4)), lambda lib, x: x.var(0, False)),
    "var_unbiased_keepdim_positional": Case(normal((3, 4)), lambda lib, x: x.var(1, True, True)),
    "var_unbiased_only": Case(normal((3, 4)), lambda lib, x: x.var(False)),
    "var_correction_0": Case(normal((3, 4)), lambda lib, x: lib.var(x, 1, correction=0)),
    "var_correction_2": Case(normal((3, 4)), lambda lib, x: x.var(dim=0, correction=2)),
    "var_single_element_is_nan": Case(normal((1, 3)), lambda lib, x: x.var(0)),
    "var_fewer_elements_than_correction_is_inf": Case(normal((2, 3)), lambda lib, x: x.var(0, correction=3)),
    "std_default": Case(normal((3, 4)), lambda lib, x: x.std()),
    "std_dim_keepdim": Case(normal((3, 4)), lambda lib, x: lib.std(x, 1, keepdim=True)),
    "std_unbiased_false": Case(normal((2, 3, 4)), lambda lib, x: x.std((0, 1), False)),
    "std_correction_0": Case(normal((3, 4)), lambda lib, x: x.std(dim=-1, correction=0)),
    "norm_default": Case(normal((3, 4)), lambda lib, x: x.norm()),
    "norm_default_keepdim": Case(normal((3, 4)), lambda lib, x: x.norm(keepdim=True)),
    "norm_fro_two_dims": Case(normal((2, 3, 4)), lambda lib, x: x.norm(p="fro", dim=(0, 2))),
    "norm_2_dim": Case(normal((3, 4)), lambda lib, x: lib.norm(x, 2, 1)),
    "norm_1_dim_keepdim": Case(normal((3, 4)), lambda lib, x: x.norm(p=1, dim=0, keepdim=True)),
    "norm_3": Case(normal((3, 4)), lambda lib, x: x.norm(3, dim=1)),
    "norm_half": Case(lambda rng: [rng.uniform(0.5, 2.0, (3, 4))], lambda lib, x: x.norm(0.5)),
    "norm_inf_ties": Case(fixed(TIES), lambda lib, x: x.norm(math.inf, dim=1)),
    "norm_minus_inf": Case(normal((3, 4)), lambda lib, x: x.norm(-math.inf, dim=1)),
    "norm_0_counts_nonzero": Case(fixed(TIES), lambda lib, x: x.norm(0, dim=1)),
    "norm_2_of_zero_rows": Case(fixed(TIES), lambda lib, x: x.norm(dim=1)),
    "norm_1_of_zero_rows": Case(fixed(TIES), lambda lib, x: x.norm(1, dim=1)),
    "norm_3_of_zero_rows": Case(fixed(TIES), lambda lib, x: x.norm(3, dim=1)),
    "norm_dims_tuple_p2": Case(normal((2, 3, 4)), lambda lib, x: x.norm(2, (0, 1, 2))),
    "logsumexp_dim": Case(normal((3, 4)), lambda lib, x: x.logsumexp(1)),
    "logsumexp_dims_keepdim": Case(normal((2, 3, 4)), lambda lib, x: lib.logsumexp(x, (0, 2), keepdim=True)),
    "logsumexp_large_values": Case(fixed([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]]),
                                   lambda lib, x: x.logsumexp(-1)),
    "logsumexp_all_minus_inf": Case(fixed([[-math.inf, -math.inf], [0.0, -math.inf]]),
                                    lambda lib, x: x.logsumexp(1)),
    # rearranging
    "flip_one_dim": Case(normal((3, 4)), lambda lib, x: x.flip(0)),
    "flip_two_dims": Case(normal((2, 3, 4)), lambda lib, x: x.flip(0, -1)),
    "flip_functional": Case(normal((2, 3, 4)), lambda lib, x: lib.flip(x, (1,))),
    "roll_flat": Case(normal((3, 4)), lambda lib, x: x.roll(5)),
    "roll_two_dims": Case(normal((3, 4)), lambda lib, x: lib.roll(x, (1, -2), (0, 1))),
    "roll_more_than_length": Case(normal((3, 4)), lambda lib, x: x.roll(-7, 1)),
    "roll_by_zero": Case(normal((3, 4)), lambda lib, x: x.roll(0, 0)),
    "repeat_tiles": Case(normal((2, 3)), lambda lib, x: x.repeat(2, 3)),
    "repeat_new_leading_dims": Case(normal((2, 3)), lambda lib, x: x.repeat(2, 1, 2)),
    "repeat_tuple": Case(normal((3,)), lambda lib, x: x.repeat((2, 2))),
    "repeat_0d": Case(fixed(1.5), lambda lib, x: x.repeat(3)),
    "t_matrix": Case(normal((2, 3)), lambda lib, x: x.t()),
    "t_vector": Case(normal((3,)), lambda lib, x: lib.t(x)),
    "contiguous_of_transpose": Case(normal((2, 3)), lambda lib, x: x.t().contiguous()),
    # products
    "mm": Case(normal((2, 3), (3, 4)), lambda lib, a, b: lib.mm(a, b)),
    "mm_method": Case(normal((2, 3), (3, 4)), lambda lib, a, b: a.mm(b)),
    "bmm": Case(normal((2, 3, 4), (2, 4, 5)), lambda lib, a, b: lib.bmm(a, b)),
    "bmm_method": Case(normal((2, 3, 4), (2, 4, 5)), lambda lib, a, b: a.bmm(b)),
    "dot": Case(normal((4,), (4,)), lambda lib, a, b: lib.dot(a, b)),
    "dot_method": Case(normal((4,), (4,)), lambda lib, a, b: a.dot(b)),
}

EINSUM = {
    "matmul": ("ij,jk->ik", [(2, 3), (3, 4)]),
    "batched_matmul": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    "batched_matmul_transposed": ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)]),
    "outer": ("i,j->ij", [(3,), (4,)]),
    "dot": ("i,i->", [(4,), (4,)]),
    "transpose": ("ij->ji", [(2, 3)]),
    "trace": ("ii->", [(3, 3)]),
    "diagonal": ("ii->i", [(3, 3)]),
    "row_sums": ("ij->i", [(2, 3)]),
    "total": ("ij->", [(2, 3)]),
    "hadamard": ("ij,ij->ij", [(2, 3), (2, 3)]),
    "bilinear": ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    "permute_3d": ("ijk->kij", [(2, 3, 4)]),
    "diagonal_then_sum": ("iij->j", [(3, 3, 2)]),
    "repeated_in_both": ("ii,ij->j", [(3, 3), (3, 2)]),
    "implicit_matmul": ("ij,jk", [(2, 3), (3, 4)]),
    "implicit_transpose": ("ji", [(2, 3)]),
    "implicit_trace": ("ii", [(3, 3)]),
    "implicit_uppercase_first": ("bA", [(2, 3)]),
    "spaces": (" ij , jk -> ik ", [(2, 3), (3, 4)]),
    "uppercase": ("Ab,bC->AC", [(2, 3), (3, 4)]),
    "ellipsis_batched_matmul": ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    "ellipsis_transpose": ("...ij->...ji", [(2, 3, 4)]),
    "ellipsis_leading": ("i...->...", [(2, 3, 4)]),
    "ellipsis_implicit": ("...ij,jk", [(4, 2, 3), (3, 5)]),
    "ellipsis_summed": ("...ij->j", [(4, 2, 3)]),
    "broadcast_size_one_label": ("ij,j->i", [(2, 3), (1,)]),
    "broadcast_size_one_both_sides": ("bij,bjk->bik", [(1, 2, 3), (4, 3, 2)]),
}
for _name, (_equation, _shapes) in EINSUM.items():
    CASES[f"einsum_{_name}"] = Case(normal(*_shapes), lambda lib, *xs, eq=_equation: lib.einsum(eq, *xs))
CASES["einsum_operands_as_list"] = Case(normal((2, 3), (3, 4)), lambda lib, a, b: lib.einsum("ij,jk->ik", [a, b]))
