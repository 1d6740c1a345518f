"""Specification of nn's feed-forward layers, nn.functional's losses and nn.init."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn import init


def _f64(array, requires_grad=False):
    return tg.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_cross_entropy(logits, target, axis=1):
    """Per-element -log softmax(logits)[target] with the class axis ``axis``."""
    logp = _np_log_softmax(logits, axis)
    return -np.take_along_axis(logp, np.expand_dims(target, axis), axis=axis).squeeze(axis)


# ---- Linear ---------------------------------------------------------------------------------
def test_linear_forward_equals_x_wt_plus_b():
    layer = nn.Linear(5, 3)
    x = tg.randn(4, 5)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_linear_accepts_any_leading_shape():
    layer = nn.Linear(5, 3)
    x = tg.randn(2, 6, 5)
    out = layer(x)
    assert out.shape == (2, 6, 3)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_linear_parameter_shapes_follow_pytorch():
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32


def test_linear_init_within_pytorch_bound():
    tg.manual_seed(0)
    layer = nn.Linear(64, 200)
    bound = 1.0 / math.sqrt(64)
    for p in (layer.weight, layer.bias):
        values = p.numpy()
        assert values.min() >= -bound and values.max() <= bound
    w = layer.weight.numpy()
    assert w.max() > 0.9 * bound and w.min() < -0.9 * bound  # spans the interval, not narrower
    assert abs(w.mean()) < 0.05 * bound


def test_linear_wrong_input_size_raises_value_error_naming_both_sizes():
    layer = nn.Linear(5, 3)
    with pytest.raises(ValueError) as info:
        layer(tg.randn(4, 7))
    assert "5" in str(info.value) and "7" in str(info.value)


def test_linear_gradients_match_numpy():
    layer = nn.Linear(3, 2).double()
    x = _f64(np.random.default_rng(0).normal(size=(4, 3)), requires_grad=True)
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)))
    np.testing.assert_allclose(layer.bias.grad.numpy(), [4.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), np.tile(layer.weight.numpy().sum(0), (4, 1)))


# ---- Embedding ------------------------------------------------------------------------------
def test_embedding_lookup_equals_weight_rows():
    emb = nn.Embedding(10, 4)
    ids = tg.tensor([[1, 7, 3], [0, 9, 1]])
    out = emb(ids)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[ids.numpy()])


def test_embedding_repeated_ids_accumulate_gradient():
    emb = nn.Embedding(5, 3).double()
    ids = tg.tensor([2, 0, 2, 2, 4])
    upstream = np.arange(15, dtype=np.float64).reshape(5, 3)
    (emb(ids) * _f64(upstream)).sum().backward()
    expected = np.zeros((5, 3))
    np.add.at(expected, ids.numpy(), upstream)
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected)
    np.testing.assert_allclose(emb.weight.grad.numpy()[2], upstream[0] + upstream[2] + upstream[3])
    assert not np.any(emb.weight.grad.numpy()[[1, 3]])


def test_embedding_gradient_passes_gradcheck():
    emb = nn.Embedding(4, 2).double()
    ids = tg.tensor([[3, 3], [0, 3]])
    assert tg.gradcheck(lambda w: emb(ids), [emb.weight])


@pytest.mark.parametrize("bad", [[0, 10], [-1, 2]])
def test_embedding_out_of_range_id_raises_index_error(bad):
    emb = nn.Embedding(10, 4)
    with pytest.raises(IndexError):
        emb(tg.tensor(bad))


def test_embedding_float_ids_raise_type_error():
    emb = nn.Embedding(10, 4)
    with pytest.raises(TypeError):
        emb(tg.tensor([1.0, 2.0]))


def test_embedding_init_is_standard_normal():
    tg.manual_seed(0)
    w = nn.Embedding(1000, 100).weight.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01


# ---- Dropout ---------------------------------------------------------------------------------
def test_dropout_is_identity_in_eval_mode():
    drop = nn.Dropout(0.5).eval()
    x = tg.randn(100, 10)
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_train_zeroes_about_p_and_scales_rest(p):
    tg.manual_seed(1234)
    drop = nn.Dropout(p)
    assert drop.training
    x = tg.ones(200_000)
    out = drop(x).numpy()
    zero_fraction = np.mean(out == 0.0)
    assert abs(zero_fraction - p) < 0.01
    kept = out[out != 0.0]
    np.testing.assert_allclose(kept, 1.0 / (1.0 - p), rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.02  # unbiased in expectation


def test_dropout_same_seed_same_mask():
    x = tg.ones(1000)
    tg.manual_seed(7)
    a = nn.Dropout(0.5)(x).numpy()
    tg.manual_seed(7)
    b = nn.Dropout(0.5)(x).numpy()
    np.testing.assert_array_equal(a, b)


def test_dropout_gradient_uses_the_same_mask():
    tg.manual_seed(3)
    x = tg.ones(1000, requires_grad=True)
    out = nn.Dropout(0.3)(x)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), out.detach().numpy(), rtol=1e-6)


def test_dropout_p_zero_is_identity_in_train_mode():
    x = tg.randn(50, 4)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())


def test_dropout_p_one_zeroes_everything():
    assert not np.any(nn.Dropout(1.0)(tg.randn(50)).numpy())


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_invalid_p_raises(p):
    with pytest.raises(ValueError):
        nn.Dropout(p)
    with pytest.raises(ValueError):
        F.dropout(tg.ones(3), p)


# ---- cross_entropy -------------------------------------------------------------------------------
def test_cross_entropy_nc_matches_numpy():
    rng = np.random.default_rng(0)
    logits, target = rng.normal(size=(6, 5)), np.array([0, 4, 2, 2, 1, 3])
    loss = F.cross_entropy(_f64(logits), tg.tensor(target))
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), _np_cross_entropy(logits, target).mean(), rtol=1e-12)


def test_cross_entropy_ncd_matches_numpy():
    rng = np.random.default_rng(1)
    logits, target = rng.normal(size=(3, 4, 5)), rng.integers(0, 4, size=(3, 5))
    per = F.cross_entropy(_f64(logits), tg.tensor(target), reduction="none")
    expected = _np_cross_entropy(logits, target, axis=1)
    assert per.shape == (3, 5)
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-12)
    mean = F.cross_entropy(_f64(logits), tg.tensor(target))
    np.testing.assert_allclose(mean.item(), expected.mean(), rtol=1e-12)


def test_cross_entropy_unbatched_with_scalar_target():
    logits = np.array([0.5, -1.0, 2.0, 0.0])
    loss = F.cross_entropy(_f64(logits), tg.tensor(2))
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), -_np_log_softmax(logits, 0)[2], rtol=1e-12)
    per = F.cross_entropy(_f64(logits), tg.tensor(2), reduction="none")
    assert per.shape == ()


def test_cross_entropy_reductions():
    rng = np.random.default_rng(2)
    logits, target = rng.normal(size=(5, 3)), np.array([0, 1, 2, 1, 0])
    expected = _np_cross_entropy(logits, target)
    x, t = _f64(logits), tg.tensor(target)
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="none").numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="sum").item(), expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="mean").item(), expected.mean(),
                               rtol=1e-12)


def test_cross_entropy_ignore_index_excluded_from_sum_and_mean_count():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 4))
    target = np.array([1, -100, 3, 0, -100, 2])
    kept = target != -100
    expected = _np_cross_entropy(logits[kept], target[kept])
    x, t = _f64(logits), tg.tensor(target)
    per = F.cross_entropy(x, t, reduction="none").numpy()
    np.testing.assert_allclose(per[kept], expected, rtol=1e-12)
    assert np.all(per[~kept] == 0.0)
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="sum").item(), expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(x, t).item(), expected.sum() / 4, rtol=1e-12)


def test_cross_entropy_custom_ignore_index():
    logits = np.random.default_rng(4).normal(size=(4, 3))
    target = np.array([2, 0, 2, 1])
    loss = F.cross_entropy(_f64(logits), tg.tensor(target), ignore_index=2)
    kept = target != 2
    np.testing.assert_allclose(loss.item(), _np_cross_entropy(logits[kept], target[kept]).mean(),
                               rtol=1e-12)


def test_cross_entropy_ignored_rows_get_zero_gradient():
    x = _f64(np.random.default_rng(5).normal(size=(3, 4)), requires_grad=True)
    F.cross_entropy(x, tg.tensor([1, -100, 2])).backward()
    assert not np.any(x.grad.numpy()[1])
    assert np.any(x.grad.numpy()[0]) and np.any(x.grad.numpy()[2])


def test_cross_entropy_gradient_equals_softmax_minus_onehot_over_n():
    logits = np.random.default_rng(6).normal(size=(4, 3))
    target = np.array([2, 0, 1, 1])
    x = _f64(logits, requires_grad=True)
    F.cross_entropy(x, tg.tensor(target)).backward()
    expected = (np.exp(_np_log_softmax(logits, 1)) - np.eye(3)[target]) / 4
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(reduction):
    x = _f64(np.random.default_rng(7).normal(size=(4, 5)), requires_grad=True)
    t = tg.tensor([4, 0, 1, 1])
    assert tg.gradcheck(lambda z: F.cross_entropy(z, t, reduction=reduction), [x])


def test_cross_entropy_gradcheck_with_ignore_index():
    x = _f64(np.random.default_rng(8).normal(size=(5, 3)), requires_grad=True)
    t = tg.tensor([2, -100, 0, -100, 1])
    assert tg.gradcheck(lambda z: F.cross_entropy(z, t), [x])


def test_cross_entropy_gradcheck_ncd():
    x = _f64(np.random.default_rng(9).normal(size=(2, 3, 4)), requires_grad=True)
    t = tg.tensor([[0, 1, 2, -100], [2, 2, 1, 0]])
    assert tg.gradcheck(lambda z: F.cross_entropy(z, t), [x])


def test_cross_entropy_huge_logits_finite_loss_and_grad_float32():
    x = tg.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32),
                  requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([1, 0]))
    assert loss.dtype == np.float32
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), (2e4 + 2e4) / 2, rtol=1e-4)
    loss.backward()
    assert np.all(np.isfinite(x.grad.numpy()))


# ---- nll_loss ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_of_log_softmax_equals_cross_entropy(reduction):
    x = _f64(np.random.default_rng(10).normal(size=(5, 4)))
    t = tg.tensor([3, -100, 0, 1, 1])
    a = F.nll_loss(F.log_softmax(x, axis=1), t, reduction=reduction)
    b = F.cross_entropy(x, t, reduction=reduction)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_nll_loss_picks_negative_target_entries():
    logp = np.array([[-0.1, -2.0, -3.0], [-1.5, -0.5, -4.0]])
    loss = F.nll_loss(_f64(logp), tg.tensor([2, 1]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [3.0, 0.5])


def test_nll_loss_out_of_range_target_raises_index_error():
    with pytest.raises(IndexError):
        F.nll_loss(_f64(np.zeros((2, 3))), tg.tensor([0, 3]))


# ---- mse_loss ---------------------------------------------------------------------------------
def test_mse_loss_values():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    x, y = _f64(a), _f64(b)
    np.testing.assert_allclose(F.mse_loss(x, y).item(), ((a - b) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.mse_loss(x, y, reduction="sum").item(), ((a - b) ** 2).sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(F.mse_loss(x, y, reduction="none").numpy(), (a - b) ** 2, rtol=1e-12)


def test_mse_loss_gradcheck_wrt_input_and_target():
    rng = np.random.default_rng(12)
    x = _f64(rng.normal(size=(2, 3)), requires_grad=True)
    y = _f64(rng.normal(size=(2, 3)), requires_grad=True)
    assert tg.gradcheck(F.mse_loss, [x, y])
    assert tg.gradcheck(lambda a, b: F.mse_loss(a, b, reduction="none"), [x, y])


def test_mse_loss_shape_mismatch_raises_naming_shapes():
    with pytest.raises(ValueError) as info:
        F.mse_loss(tg.zeros(3, 2), tg.zeros(2, 3))
    assert "(3, 2)" in str(info.value) and "(2, 3)" in str(info.value)


# ---- binary_cross_entropy_with_logits ---------------------------------------------------------
def test_bce_with_logits_equals_numpy_formula():
    rng = np.random.default_rng(13)
    x, t = rng.normal(size=(4, 3)) * 3, rng.uniform(size=(4, 3))
    sig = 1.0 / (1.0 + np.exp(-x))
    expected = -(t * np.log(sig) + (1 - t) * np.log(1 - sig))
    per = F.binary_cross_entropy_with_logits(_f64(x), _f64(t), reduction="none")
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(_f64(x), _f64(t)).item(),
                               expected.mean(), rtol=1e-10)
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(_f64(x), _f64(t), reduction="sum").item(),
        expected.sum(), rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_finite_for_extreme_logits(dtype):
    x = tg.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=dtype), requires_grad=True)
    t = tg.tensor(np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype))
    per = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(per.numpy(), [0.0, 0.0, 1000.0, 1000.0], rtol=1e-6, atol=1e-6)
    per.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0, -1.0], atol=1e-6)


def test_bce_with_logits_gradcheck():
    rng = np.random.default_rng(14)
    x = _f64(rng.normal(size=(3, 2)) * 2, requires_grad=True)
    t = _f64(rng.uniform(size=(3, 2)), requires_grad=True)
    assert tg.gradcheck(F.binary_cross_entropy_with_logits, [x, t])


def test_bce_with_logits_shape_mismatch_raises_naming_shapes():
    with pytest.raises(ValueError) as info:
        F.binary_cross_entropy_with_logits(tg.zeros(4), tg.zeros(4, 1))
    assert "(4,)" in str(info.value) and "(4, 1)" in str(info.value)


# ---- argument errors ---------------------------------------------------------------------------
def test_cross_entropy_target_shape_mismatch_raises_naming_shapes():
    with pytest.raises(ValueError) as info:
        F.cross_entropy(tg.zeros(4, 3), tg.tensor([0, 1, 2]))
    message = str(info.value)
    assert "(4, 3)" in message and "(3,)" in message


def test_cross_entropy_unbatched_needs_scalar_target():
    with pytest.raises(ValueError):
        F.cross_entropy(tg.zeros(3), tg.tensor([1]))


@pytest.mark.parametrize("loss", [
    lambda r: F.cross_entropy(tg.zeros(2, 3), tg.tensor([0, 1]), reduction=r),
    lambda r: F.nll_loss(tg.zeros(2, 3), tg.tensor([0, 1]), reduction=r),
    lambda r: F.mse_loss(tg.zeros(2), tg.zeros(2), reduction=r),
    lambda r: F.binary_cross_entropy_with_logits(tg.zeros(2), tg.zeros(2), reduction=r),
], ids=["cross_entropy", "nll_loss", "mse_loss", "bce_with_logits"])
def test_bad_reduction_raises_value_error(loss):
    with pytest.raises(ValueError) as info:
        loss("average")
    assert "average" in str(info.value)


def test_cross_entropy_float_target_raises_type_error():
    with pytest.raises(TypeError):
        F.cross_entropy(tg.zeros(2, 3), tg.tensor([0.0, 1.0]))


# ---- nn.init -----------------------------------------------------------------------------------
def test_uniform_fills_within_bounds_in_place():
    t = tg.zeros(200, 50)
    data = t.data
    assert init.uniform_(t, -0.3, 0.7) is t
    assert t.data is data
    values = t.numpy()
    assert values.min() >= -0.3 and values.max() < 0.7
    assert values.min() < -0.29 and values.max() > 0.69
    assert abs(values.mean() - 0.2) < 0.01


def test_normal_mean_and_std_on_many_samples():
    tg.manual_seed(0)
    t = init.normal_(tg.zeros(100_000), mean=2.0, std=0.5)
    values = t.numpy()
    assert abs(values.mean() - 2.0) < 0.01
    assert abs(values.std() - 0.5) < 0.01


def test_xavier_uniform_bound():
    tg.manual_seed(0)
    t = init.xavier_uniform_(tg.zeros(30, 70))
    bound = math.sqrt(6.0 / (30 + 70))
    values = t.numpy()
    assert np.all(np.abs(values) <= bound)
    assert np.abs(values).max() > 0.95 * bound


def test_xavier_uniform_gain_scales_bound():
    t = init.xavier_uniform_(tg.zeros(30, 70), gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / 100)
    assert np.abs(t.numpy()).max() <= bound
    assert np.abs(t.numpy()).max() > 0.95 * bound


def test_orthogonal_wide_matrix_has_orthonormal_rows():
    w = init.orthogonal_(tg.zeros(4, 7, dtype="float64")).numpy()
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-5)


def test_orthogonal_tall_matrix_has_orthonormal_columns():
    w = init.orthogonal_(tg.zeros(7, 4, dtype="float64")).numpy()
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-5)


def test_orthogonal_square_float32():
    w = init.orthogonal_(tg.zeros(6, 6)).numpy()
    assert w.dtype == np.float32
    np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-5)
    np.testing.assert_allclose(w.T @ w, np.eye(6), atol=1e-5)


def test_orthogonal_rejects_vectors():
    with pytest.raises(ValueError):
        init.orthogonal_(tg.zeros(5))


def test_manual_seed_makes_init_reproducible():
    def draw():
        return [init.uniform_(tg.zeros(5, 5), -1, 1).numpy().copy(),
                init.normal_(tg.zeros(5)).numpy().copy(),
                init.xavier_uniform_(tg.zeros(3, 4)).numpy().copy(),
                init.orthogonal_(tg.zeros(3, 3)).numpy().copy(),
                nn.LSTM(2, 3).weight_hh_l0.numpy().copy()]

    tg.manual_seed(42)
    first = draw()
    tg.manual_seed(42)
    second = draw()
    third = draw()
    for a, b, c in zip(first, second, third):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_init_records_nothing_on_the_tape():
    p = nn.Parameter(tg.zeros(3, 3))
    init.uniform_(p, -1, 1)
    init.xavier_uniform_(p)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
