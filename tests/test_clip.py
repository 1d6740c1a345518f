"""Gradient clipping: clip_grad_norm_ (joint norm of every gradient) and clip_grad_value_."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_

INF = float("inf")
SHAPES = [(3, 4), (5,), (2, 2, 2)]


def make_params(scale: float = 1.0, seed: int = 0, dtype=np.float64, device: str | None = None,
                shapes=SHAPES) -> tuple[list[tg.Tensor], list[np.ndarray]]:
    """Parameters with gradients ``scale * N(0, 1)``; also returns copies of the gradients."""
    rng = np.random.default_rng(seed)
    params, grads = [], []
    for shape in shapes:
        p = tg.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True, device=device)
        g = (scale * rng.standard_normal(shape)).astype(dtype)
        p.grad = tg.tensor(g.copy(), device=device)
        params.append(p)
        grads.append(g)
    return params, grads


def numpy_norm(grads: list[np.ndarray], norm_type: float) -> float:
    flat = np.concatenate([g.astype(np.float64).ravel() for g in grads])
    if norm_type == INF:
        return float(np.max(np.abs(flat)))
    return float(np.sum(np.abs(flat) ** norm_type) ** (1.0 / norm_type))


def grads_of(params: list[tg.Tensor]) -> list[np.ndarray]:
    return [p.grad.to("cpu").numpy() for p in params]


# ---- clip_grad_norm_ ------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, INF, 3.0])
def test_returns_total_norm_before_clipping(norm_type):
    params, grads = make_params(scale=10.0)
    total = clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    assert isinstance(total, tg.Tensor) and total.shape == ()
    assert float(total) == pytest.approx(numpy_norm(grads, norm_type), rel=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, INF])
def test_scales_to_max_norm_when_above(norm_type):
    params, grads = make_params(scale=10.0)
    total = numpy_norm(grads, norm_type)
    max_norm = 0.5
    assert total > max_norm
    clip_grad_norm_(params, max_norm, norm_type=norm_type)
    clipped = grads_of(params)
    assert numpy_norm(clipped, norm_type) == pytest.approx(max_norm, rel=1e-6)
    for new, old in zip(clipped, grads):  # one common factor for all gradients: direction kept
        np.testing.assert_allclose(new, old * (max_norm / total), rtol=1e-6, atol=0)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, INF])
def test_leaves_gradients_unchanged_when_below(norm_type):
    params, grads = make_params(scale=0.01)
    max_norm = 10.0
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert float(total) < max_norm
    for new, old in zip(grads_of(params), grads):
        np.testing.assert_array_equal(new, old)


def test_default_norm_is_two_norm():
    params, grads = make_params(scale=3.0)
    total = clip_grad_norm_(params, 1.0)
    expected = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    assert float(total) == pytest.approx(expected, rel=1e-12)
    assert numpy_norm(grads_of(params), 2.0) == pytest.approx(1.0, rel=1e-6)


def test_parameters_without_grad_are_ignored():
    params, grads = make_params(scale=10.0)
    no_grad = tg.tensor(np.full((4,), 1e6), requires_grad=True)  # huge values, but no gradient
    total = clip_grad_norm_([params[0], no_grad, *params[1:]], max_norm=1.0)
    assert float(total) == pytest.approx(numpy_norm(grads, 2.0), rel=1e-12)
    assert no_grad.grad is None
    assert numpy_norm(grads_of(params), 2.0) == pytest.approx(1.0, rel=1e-6)


def test_no_gradients_at_all_gives_zero():
    p = tg.tensor(np.ones(3), requires_grad=True)
    assert float(clip_grad_norm_([p], 1.0)) == 0.0
    assert p.grad is None


def test_single_tensor_is_accepted():
    p = tg.tensor(np.zeros(4), requires_grad=True)
    p.grad = tg.tensor(np.array([3.0, 0.0, -4.0, 0.0]))
    total = clip_grad_norm_(p, max_norm=1.0)
    assert float(total) == pytest.approx(5.0, rel=1e-12)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.0, -0.8, 0.0], rtol=1e-6)


def test_generator_of_parameters_is_accepted():
    params, grads = make_params(scale=10.0)
    total = clip_grad_norm_((p for p in params), max_norm=1.0)
    assert float(total) == pytest.approx(numpy_norm(grads, 2.0), rel=1e-12)
    assert numpy_norm(grads_of(params), 2.0) == pytest.approx(1.0, rel=1e-6)


BAD_VALUES = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


@pytest.mark.parametrize("where", [0, 1, 2], ids=["first_param", "middle_param", "last_param"])
@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
@pytest.mark.parametrize("norm_type", [2.0, 1.0, INF], ids=["l2", "l1", "linf"])
def test_error_if_nonfinite_raises(norm_type, bad, where):
    params, _ = make_params()
    g = params[where].grad.numpy().copy()
    g.flat[1] = BAD_VALUES[bad]
    params[where].grad = tg.tensor(g)
    with pytest.raises(RuntimeError):
        clip_grad_norm_(params, 1.0, norm_type=norm_type, error_if_nonfinite=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf * 0 -> nan
@pytest.mark.parametrize("where", [0, 1, 2], ids=["first_param", "middle_param", "last_param"])
@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
@pytest.mark.parametrize("norm_type", [2.0, 1.0, INF], ids=["l2", "l1", "linf"])
def test_nonfinite_without_error_flag_does_not_raise_and_reports_it(norm_type, bad, where):
    params, _ = make_params()
    g = params[where].grad.numpy().copy()
    g.flat[1] = BAD_VALUES[bad]
    params[where].grad = tg.tensor(g)
    total = clip_grad_norm_(params, 1.0, norm_type=norm_type, error_if_nonfinite=False)
    assert not math.isfinite(float(total))  # torch returns nan/inf here too


def test_float32_gradients_stay_float32():
    params, grads = make_params(scale=10.0, dtype=np.float32)
    total = clip_grad_norm_(params, 1.0)
    assert float(total) == pytest.approx(numpy_norm(grads, 2.0), rel=1e-6)
    for p in params:
        assert p.grad.dtype == np.float32
    assert numpy_norm(grads_of(params), 2.0) == pytest.approx(1.0, rel=1e-5)


def test_clip_on_device(device):
    params, grads = make_params(scale=10.0, device=device)
    total = clip_grad_norm_(params, 1.0)
    expected_device = tg.get_backend(device).device
    assert total.device == expected_device
    assert float(total) == pytest.approx(numpy_norm(grads, 2.0), rel=1e-12)
    for p in params:
        assert p.grad.device == expected_device and type(p.grad.data) is type(p.data)
    clip_grad_value_(params, 0.01)
    for p in params:
        assert p.grad.device == expected_device and type(p.grad.data) is type(p.data)
    assert max(float(np.max(np.abs(g))) for g in grads_of(params)) <= 0.01


# ---- clip_grad_value_ -----------------------------------------------------------------------
def test_clip_grad_value_clamps_elementwise():
    params, grads = make_params(scale=2.0)
    no_grad = tg.tensor(np.ones(3), requires_grad=True)
    result = clip_grad_value_([*params, no_grad], 0.5)
    assert result is None
    for new, old in zip(grads_of(params), grads):
        np.testing.assert_array_equal(new, np.clip(old, -0.5, 0.5))
    assert no_grad.grad is None
    assert any(np.any(np.abs(g) > 0.5) for g in grads)  # the test did clip something


def test_clip_grad_value_single_tensor_and_dtype():
    p = tg.tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    p.grad = tg.tensor(np.array([-3.0, -0.25, 0.25, 3.0], dtype=np.float32))
    clip_grad_value_(p, 1.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_array_equal(p.grad.numpy(), np.array([-1.0, -0.25, 0.25, 1.0], dtype=np.float32))
