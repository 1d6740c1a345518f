"""Optimizers and LR schedules: PyTorch parity on stored trajectories (parameters, lrs, and the
momentum OneCycleLR cycles), plus state, devices, dtypes and compiled steps; and PyTorch parity
of every optimizer and of gradient clipping on 0-d, 1-d and 2-d parameters.

The reference values come from ``tests/fixtures/optim_reference.npz`` (written by
``tests/make_optim_fixtures.py`` with PyTorch; torch is not needed to run these tests).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import checkpoint, nn, optim
from tinygrad_rnn.nn import utils as clipping

from optim_cases import mixed_rank_loss, optimizer_arguments, scheduler_arguments, scheduler_step_arguments

FIXTURE = Path(__file__).parent / "fixtures" / "optim_reference.npz"
RTOL, ATOL = 1e-10, 1e-12
N_PARAMS = 2
MIXED_RANK_SHAPES = [(3, 4), (4,), ()]  # the parameters of mixed_rank_loss, in its order
SCALAR = 2  # the index of the 0-d one

EXPECTED_CASES = {
    "sgd_plain", "sgd_momentum", "sgd_momentum_dampening", "sgd_nesterov", "sgd_weight_decay_momentum",
    "adam_default", "adam_betas_eps_wd", "adamw_default", "adamw_wd_lr", "rmsprop_default",
    "rmsprop_momentum", "rmsprop_centered", "rmsprop_centered_momentum_wd", "sgd_two_groups",
    "steplr_sgd", "cosine_adam", "adagrad_default", "adagrad_lr_decay_wd_initial_accumulator",
    "adagrad_two_groups", "exponentiallr_rmsprop", "lambdalr_adagrad", "lambdalr_sgd_two_groups_one_lambda_each",
    "plateau_min_rel_sgd", "plateau_max_abs_cooldown_min_lrs_adam_two_groups", "onecycle_sgd_cos",
    "onecycle_adam_linear_three_phase", "onecycle_sgd_two_groups_lists", "onecycle_adagrad_no_momentum",
}
MOMENTUM_CYCLING_CASES = {"onecycle_sgd_cos", "onecycle_adam_linear_three_phase", "onecycle_sgd_two_groups_lists"}


def _load_fixture() -> dict[str, np.ndarray]:
    with np.load(FIXTURE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


REFERENCE = _load_fixture()


def case_names(prefix: str) -> list[str]:
    """Every NAME with a key ``prefix + NAME + "/config"`` in the fixture (NAME has no slash)."""
    names = (key[len(prefix):-len("/config")] for key in REFERENCE
             if key.startswith(prefix) and key.endswith("/config"))
    return sorted(name for name in names if "/" not in name)


CASES = case_names("")  # stored gradients on a (3, 4) and a (4,) parameter
MIXED_RANK_CASES = case_names("mixed_rank/")  # the same cases on (3, 4), (4,) and 0-d, trained by a loss
CLIP_CASES = case_names("clip/")


def config(case: str) -> dict:
    return json.loads(str(REFERENCE[f"{case}/config"]))


Scheduler = optim.LRScheduler | optim.ReduceLROnPlateau


def build_optimizer(case: str, params: list) -> optim.Optimizer:
    """The case's optimizer over ``params``, as the generator built it in torch."""
    target, kwargs = optimizer_arguments(config(case), params)
    return getattr(optim, config(case)["optimizer"])(target, **kwargs)


def build(case: str, params: list) -> tuple[optim.Optimizer, Scheduler | None]:
    """The case's optimizer and scheduler (None for the cases without) over ``params``."""
    cfg = config(case)
    opt = build_optimizer(case, params)
    scheduler = None
    if cfg["scheduler"] is not None:
        schedule = cfg["scheduler"]
        scheduler = getattr(optim.lr_scheduler, schedule["name"])(opt, **scheduler_arguments(schedule))
    return opt, scheduler


def step_scheduler(case: str, scheduler: Scheduler | None, step: int) -> None:
    """``scheduler.step(...)`` after optimizer step ``step``, with what the generator gave torch's."""
    if scheduler is not None:
        scheduler.step(*scheduler_step_arguments(config(case)["scheduler"], step))


def momenta(opt: optim.Optimizer) -> list[float]:
    """Every group's momentum: beta1 for Adam, ``momentum`` for SGD (as the generator records it)."""
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def fresh_params(case: str) -> list[tg.Tensor]:
    """The case's parameters at their stored initial values (as many as the fixture holds)."""
    count = sum(1 for key in REFERENCE if key.startswith(f"{case}/init/"))
    return [tg.tensor(REFERENCE[f"{case}/init/{i}"].copy(), requires_grad=True) for i in range(count)]


def feed(case: str, params: list, step: int) -> None:
    for i, p in enumerate(params):
        p.grad = tg.tensor(REFERENCE[f"{case}/grads/{i}"][step].copy())


# ---- the fixture itself ---------------------------------------------------------------------
def test_fixture_has_every_case_and_loads_without_pickle():
    assert set(CASES) == EXPECTED_CASES
    for case in CASES:
        cfg = config(case)
        steps = cfg["steps"]
        assert steps == (12 if cfg["scheduler"] and cfg["scheduler"]["name"] in ("OneCycleLR", "ReduceLROnPlateau")
                         else 6)
        for i in range(N_PARAMS):
            init = REFERENCE[f"{case}/init/{i}"]
            assert init.dtype == np.float64
            assert REFERENCE[f"{case}/grads/{i}"].shape == (steps, *init.shape)
            assert REFERENCE[f"{case}/params/{i}"].shape == (steps, *init.shape)
        has_scheduler = cfg["scheduler"] is not None
        assert (f"{case}/lr" in REFERENCE) == (f"{case}/start_lr" in REFERENCE) == has_scheduler
        if case in MOMENTUM_CYCLING_CASES:
            assert REFERENCE[f"{case}/momentum"].shape == (steps, len(cfg["hyper"]))
            assert REFERENCE[f"{case}/start_momentum"].shape == (len(cfg["hyper"]),)
        if has_scheduler and cfg["scheduler"]["name"] == "ReduceLROnPlateau":
            assert len(cfg["scheduler"]["metrics"]) == steps


def test_fixture_has_every_case_again_on_a_0d_a_1d_and_a_2d_parameter():
    assert set(MIXED_RANK_CASES) == EXPECTED_CASES
    for case in MIXED_RANK_CASES:
        key = f"mixed_rank/{case}"
        steps = config(key)["steps"]
        assert steps == config(case)["steps"]
        for i, shape in enumerate(MIXED_RANK_SHAPES):
            assert REFERENCE[f"{key}/init/{i}"].shape == shape
            assert REFERENCE[f"{key}/grads/{i}"].shape == (steps, *shape)
            assert REFERENCE[f"{key}/params/{i}"].shape == (steps, *shape)


# ---- PyTorch parity ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_hyper_parameters_and_defaults_match_torch(case):
    opt = build_optimizer(case, fresh_params(case))  # "hyper" is from before any scheduler was built
    torch_groups = config(case)["hyper"]
    assert len(opt.param_groups) == len(torch_groups)
    for group, expected in zip(opt.param_groups, torch_groups):
        for key, value in expected.items():
            assert key in group, f"{case}: group has no {key!r}"
            got = list(group[key]) if isinstance(group[key], tuple) else group[key]
            assert got == value, f"{case}: {key} is {got}, torch uses {value}"


@pytest.mark.parametrize("case", [c for c in CASES if config(c)["scheduler"] is not None])
def test_building_a_scheduler_sets_the_lr_and_momentum_of_step_0_as_torch(case):
    opt, scheduler = build(case, fresh_params(case))
    np.testing.assert_allclose(scheduler.get_last_lr(), REFERENCE[f"{case}/start_lr"], rtol=RTOL, atol=ATOL)
    if f"{case}/start_momentum" in REFERENCE:
        np.testing.assert_allclose(momenta(opt), REFERENCE[f"{case}/start_momentum"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", CASES)
def test_trajectory_matches_torch(case):
    params = fresh_params(case)
    opt, scheduler = build(case, params)
    steps = config(case)["steps"]
    for step in range(steps):
        feed(case, params, step)
        opt.step()
        if scheduler is not None:
            step_scheduler(case, scheduler, step)
            np.testing.assert_allclose(scheduler.get_last_lr(), REFERENCE[f"{case}/lr"][step],
                                       rtol=RTOL, atol=ATOL, err_msg=f"{case}: lr after step {step + 1}")
        if f"{case}/momentum" in REFERENCE:
            np.testing.assert_allclose(momenta(opt), REFERENCE[f"{case}/momentum"][step], rtol=RTOL,
                                       atol=ATOL, err_msg=f"{case}: momentum after step {step + 1}")
        for i, p in enumerate(params):
            assert p.dtype == np.float64
            np.testing.assert_allclose(p.numpy(), REFERENCE[f"{case}/params/{i}"][step], rtol=RTOL,
                                       atol=ATOL, err_msg=f"{case}: parameter {i} after step {step + 1}")


# ---- 0-d, 1-d and 2-d parameters trained by a loss ------------------------------------------------
def train_mixed_rank(case: str) -> Iterator[tuple[int, list[tg.Tensor], optim.Optimizer]]:
    """Train the case's (3, 4), (4,) and 0-d parameters as the generator did in torch: each step
    zeroes the gradients, runs ``mixed_rank_loss(...).backward()``, then ``opt.step()`` (and the
    scheduler's). Yields (step, parameters, optimizer) after each step, gradients still in ``.grad``."""
    key = f"mixed_rank/{case}"
    params = fresh_params(key)
    inputs, targets = tg.tensor(REFERENCE[f"{key}/inputs"]), tg.tensor(REFERENCE[f"{key}/targets"])
    opt, scheduler = build(key, params)
    for step in range(config(key)["steps"]):
        opt.zero_grad()
        mixed_rank_loss(*params, inputs, targets).backward()
        opt.step()
        step_scheduler(key, scheduler, step)
        yield step, params, opt


def assert_0d_array(value: object, what: str) -> None:
    """A 0-d ``np.ndarray``: not a NumPy scalar such as ``np.float64``, which also has shape ()
    but cannot be updated in place."""
    assert type(value) is np.ndarray and value.shape == (), f"{what} is {type(value).__name__} {value!r}"


@pytest.mark.parametrize("case", MIXED_RANK_CASES)
def test_a_0d_1d_and_2d_parameter_trained_by_a_loss_follow_torch_at_every_step(case):
    key = f"mixed_rank/{case}"
    for step, params, _ in train_mixed_rank(case):
        for i, p in enumerate(params):
            where = f"{case}: parameter {i} of shape {MIXED_RANK_SHAPES[i]} at step {step + 1}"
            np.testing.assert_allclose(p.grad.numpy(), REFERENCE[f"{key}/grads/{i}"][step], rtol=RTOL,
                                       atol=ATOL, err_msg=f"{where}: gradient")
            np.testing.assert_allclose(p.numpy(), REFERENCE[f"{key}/params/{i}"][step], rtol=RTOL,
                                       atol=ATOL, err_msg=f"{where}: value after the update")


@pytest.mark.parametrize("case", MIXED_RANK_CASES)
def test_a_0d_parameter_keeps_0d_arrays_as_its_value_gradient_and_optimizer_state(case):
    for step, params, opt in train_mixed_rank(case):
        scalar = params[SCALAR]
        assert scalar.shape == () and scalar.grad.shape == ()
        assert_0d_array(scalar.data, f"{case}: the value after step {step + 1}")
        assert_0d_array(scalar.grad.data, f"{case}: the gradient at step {step + 1}")
        for name, value in opt.state[scalar].items():
            if hasattr(value, "shape"):  # Adam's "step" counter is a 0-d array too
                assert_0d_array(value, f"{case}: state {name!r} after step {step + 1}")


def test_sgd_momentum_on_a_0d_parameter_reaches_0_062_in_three_steps_as_torch_does():
    """p = 1, loss p * p, SGD(lr=0.1, momentum=0.9): p = 0.8, 0.46, 0.062 (a momentum buffer
    that lost its updates gave 0.188)."""
    p = tg.tensor(np.array(1.0), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    values = []
    for _ in range(3):
        opt.zero_grad()
        (p * p).backward()
        opt.step()
        values.append(p.item())
    np.testing.assert_allclose(values, [0.8, 0.46, 0.062], rtol=1e-12)


# ---- gradient clipping with a 0-d gradient --------------------------------------------------------
def clip_as_torch_did(name: str) -> tuple[list[tg.Tensor], list[tg.Tensor], tg.Tensor | None]:
    """Clip the stored (3, 4), (4,) and 0-d gradients with the case's function and arguments.
    Returns (parameters, their ``.grad`` tensors from before clipping, what the function returned)."""
    cfg = json.loads(str(REFERENCE[f"clip/{name}/config"]))
    params = []
    for i, shape in enumerate(MIXED_RANK_SHAPES):
        p = tg.tensor(np.zeros(shape), requires_grad=True)
        p.grad = tg.tensor(REFERENCE[f"clip/grads/{i}"].copy())
        params.append(p)
    grads = [p.grad for p in params]
    chosen = params[cfg["params"]] if isinstance(cfg["params"], int) else [params[i] for i in cfg["params"]]
    returned = getattr(clipping, cfg["function"])(chosen, **cfg["kwargs"])
    return params, grads, returned


@pytest.mark.parametrize("name", CLIP_CASES)
def test_clipping_gradients_that_include_a_0d_one_matches_torch(name):
    params, _, returned = clip_as_torch_did(name)
    for i, p in enumerate(params):
        np.testing.assert_allclose(p.grad.numpy(), REFERENCE[f"clip/{name}/grads/{i}"], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}: gradient {i} of shape {MIXED_RANK_SHAPES[i]}")
    if f"clip/{name}/total" in REFERENCE:  # clip_grad_norm_ returns the norm before clipping
        assert returned.shape == ()
        np.testing.assert_allclose(returned.numpy(), REFERENCE[f"clip/{name}/total"], rtol=RTOL, atol=ATOL)
    else:
        assert returned is None


@pytest.mark.parametrize("name", CLIP_CASES)
def test_clipping_changes_gradients_in_place_and_a_0d_gradient_stays_a_0d_array(name):
    params, grads, _ = clip_as_torch_did(name)
    assert REFERENCE[f"clip/{name}/grads/{SCALAR}"] != REFERENCE[f"clip/grads/{SCALAR}"]  # it was clipped
    for p, grad in zip(params, grads):
        assert p.grad is grad  # the same tensor, changed, as torch changes .grad in place
    assert_0d_array(params[SCALAR].grad.data, f"{name}: the clipped 0-d gradient")


# ---- zero_grad and skipping ---------------------------------------------------------------
def test_zero_grad_sets_grads_to_none_by_default():
    params = [tg.tensor(np.ones((2, 3)), requires_grad=True), tg.tensor(np.ones(3), requires_grad=True)]
    opt = optim.SGD(params, lr=0.1)
    for p in params:
        p.grad = tg.tensor(np.full(p.shape, 2.0))
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_set_to_none_false_gives_zeros():
    params = [tg.tensor(np.ones((2, 3)), requires_grad=True),
              tg.tensor(np.ones(3, dtype=np.float32), requires_grad=True),
              tg.tensor(np.ones(2), requires_grad=True)]
    opt = optim.Adam(params)
    params[0].grad = tg.tensor(np.full((2, 3), 2.0))
    params[1].grad = tg.tensor(np.full(3, 2.0, dtype=np.float32))
    opt.zero_grad(set_to_none=False)
    for p in params[:2]:
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == p.dtype
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))
    assert params[2].grad is None  # a parameter that never had a gradient keeps none, as in torch


OPTIMIZER_FACTORIES = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd_momentum_wd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam_wd": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, weight_decay=0.1),
    "rmsprop_centered_momentum": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9, centered=True,
                                                         weight_decay=0.1),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=0.1),
    "adagrad_lr_decay": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.1, initial_accumulator_value=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_FACTORIES))
def test_parameters_without_grad_are_skipped(name):
    rng = np.random.default_rng(0)
    with_grad = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    without = tg.tensor(rng.standard_normal(4), requires_grad=True)
    before = without.numpy().copy()
    opt = OPTIMIZER_FACTORIES[name]([with_grad, without])
    state_before = copy.deepcopy(opt.state.get(without, {}))  # Adagrad's starts when it is built
    for _ in range(3):
        with_grad.grad = tg.tensor(rng.standard_normal((3, 2)))
        opt.step()
    np.testing.assert_array_equal(without.numpy(), before)  # weight decay did not touch it either
    assert without.grad is None
    state_after = opt.state.get(without, {})
    assert state_after.keys() == state_before.keys()
    for key, value in state_before.items():
        np.testing.assert_array_equal(state_after[key], value)
    assert with_grad in opt.state


# ---- state_dict / load_state_dict ---------------------------------------------------------
ROUND_TRIP_CASES = ["sgd_momentum", "sgd_nesterov", "sgd_two_groups", "adam_betas_eps_wd", "adamw_wd_lr",
                    "rmsprop_centered_momentum_wd", "steplr_sgd", "cosine_adam",
                    "adagrad_lr_decay_wd_initial_accumulator", "adagrad_two_groups", "exponentiallr_rmsprop",
                    "lambdalr_sgd_two_groups_one_lambda_each", "plateau_min_rel_sgd",
                    "plateau_max_abs_cooldown_min_lrs_adam_two_groups", "onecycle_adam_linear_three_phase",
                    "onecycle_sgd_two_groups_lists"]


def _run(case: str, params: list, opt, scheduler, steps: range) -> None:
    for step in steps:
        feed(case, params, step)
        opt.step()
        step_scheduler(case, scheduler, step)


def _copies(params: list) -> list[tg.Tensor]:
    return [tg.tensor(p.numpy().copy(), requires_grad=True) for p in params]


@pytest.mark.parametrize("via", ["deepcopy", "checkpoint_file"])
@pytest.mark.parametrize("case", ROUND_TRIP_CASES)
def test_state_dict_round_trip_continues_identically(case, via, tmp_path):
    """Save halfway, restore into a new optimizer and scheduler, and both runs finish alike."""
    steps = config(case)["steps"]
    params = fresh_params(case)
    opt, scheduler = build(case, params)
    _run(case, params, opt, scheduler, range(steps // 2))

    saved = {"optimizer": opt.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None}
    if via == "deepcopy":
        # state_dict() holds references to the live state (as in torch), so snapshot it
        saved = copy.deepcopy(saved)
    else:
        checkpoint.save(saved, tmp_path / "opt.npz")
        saved = checkpoint.load(tmp_path / "opt.npz")

    restored_params = _copies(params)
    restored, restored_scheduler = build(case, restored_params)
    restored.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        restored_scheduler.load_state_dict(saved["scheduler"])

    _run(case, params, opt, scheduler, range(steps // 2, steps))
    _run(case, restored_params, restored, restored_scheduler, range(steps // 2, steps))
    for p, q in zip(params, restored_params):
        np.testing.assert_array_equal(q.numpy(), p.numpy())
    for g, h in zip(opt.param_groups, restored.param_groups):
        assert g["lr"] == h["lr"]
    # and both still follow torch
    for i, p in enumerate(restored_params):
        np.testing.assert_allclose(p.numpy(), REFERENCE[f"{case}/params/{i}"][-1], rtol=RTOL, atol=ATOL)


def test_state_dict_layout():
    params = fresh_params("sgd_two_groups")
    opt, _ = build("sgd_two_groups", params)
    _run("sgd_two_groups", params, opt, None, range(2))
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.01]
    assert sorted(sd["state"]) == [0, 1]
    np.testing.assert_array_equal(sd["state"][1]["momentum_buffer"], opt.state[params[1]]["momentum_buffer"])


def test_load_state_dict_with_other_group_count_raises():
    params = fresh_params("sgd_two_groups")
    two_groups, _ = build("sgd_two_groups", params)
    one_group = optim.SGD(_copies(params), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError):
        one_group.load_state_dict(two_groups.state_dict())
    with pytest.raises(ValueError):
        two_groups.load_state_dict(one_group.state_dict())


def test_load_state_dict_with_other_param_count_raises():
    params = fresh_params("adam_default")
    opt = optim.Adam(params)
    feed("adam_default", params, 0)
    opt.step()
    fewer = optim.Adam(_copies(params)[:1])
    with pytest.raises(ValueError):
        fewer.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError):
        opt.load_state_dict(fewer.state_dict())


def test_load_state_dict_with_wrong_state_shape_raises():
    params = fresh_params("adam_default")
    opt = optim.Adam(params)
    feed("adam_default", params, 0)
    opt.step()
    swapped = optim.Adam(_copies(params)[::-1])  # same counts, shapes (4,) and (3, 4) swapped
    with pytest.raises(ValueError):
        swapped.load_state_dict(opt.state_dict())


# ---- validation ---------------------------------------------------------------------------------
def _param():
    return tg.tensor(np.ones(3), requires_grad=True)


@pytest.mark.parametrize("make", [
    lambda: optim.SGD([_param()], lr=-0.1),
    lambda: optim.SGD([_param()], lr=0.1, momentum=-0.5),
    lambda: optim.SGD([_param()], lr=0.1, weight_decay=-1e-3),
    lambda: optim.SGD([_param()], lr=0.1, nesterov=True),
    lambda: optim.SGD([_param()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    lambda: optim.Adam([_param()], lr=-1e-3),
    lambda: optim.Adam([_param()], betas=(1.0, 0.999)),
    lambda: optim.Adam([_param()], betas=(0.9, -0.1)),
    lambda: optim.Adam([_param()], eps=-1e-8),
    lambda: optim.AdamW([_param()], lr=-1e-3),
    lambda: optim.AdamW([_param()], weight_decay=-0.01),
    lambda: optim.RMSprop([_param()], lr=-0.01),
    lambda: optim.RMSprop([_param()], alpha=1.5),
    lambda: optim.RMSprop([_param()], momentum=-0.9),
    lambda: optim.RMSprop([_param()], eps=-1.0),
    lambda: optim.Adagrad([_param()], lr=-0.01),
    lambda: optim.Adagrad([_param()], lr_decay=-0.1),
    lambda: optim.Adagrad([_param()], weight_decay=-0.1),
    lambda: optim.Adagrad([_param()], initial_accumulator_value=-0.1),
    lambda: optim.Adagrad([_param()], eps=-1e-10),
    lambda: optim.SGD([], lr=0.1),
], ids=["sgd_lr", "sgd_momentum", "sgd_wd", "sgd_nesterov_no_momentum", "sgd_nesterov_dampening",
        "adam_lr", "adam_beta1", "adam_beta2", "adam_eps", "adamw_lr", "adamw_wd", "rmsprop_lr",
        "rmsprop_alpha", "rmsprop_momentum", "rmsprop_eps", "adagrad_lr", "adagrad_lr_decay", "adagrad_wd",
        "adagrad_initial_accumulator_value", "adagrad_eps", "empty"])
def test_invalid_hyper_parameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def _sgd(groups: int = 1) -> optim.SGD:
    return optim.SGD([{"params": [_param()]} for _ in range(groups)], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("make, message", [
    (lambda: optim.lr_scheduler.LambdaLR(_sgd(2), [lambda e: 1.0] * 3), "expected 2 lr_lambdas"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1), "total_steps"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, epochs=2), "total_steps"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, total_steps=0), "positive integer total_steps"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, epochs=2, steps_per_epoch=2.5), "steps_per_epoch"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, total_steps=10, pct_start=1), "pct_start"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, total_steps=10, pct_start=1.5), "pct_start"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, total_steps=10, anneal_strategy="exp"),
     "anneal_strategy"),
    (lambda: optim.lr_scheduler.OneCycleLR(_sgd(2), max_lr=[0.1, 0.2, 0.3], total_steps=10), "max_lr"),
    (lambda: optim.lr_scheduler.OneCycleLR(optim.Adagrad([_param()]), max_lr=0.1, total_steps=10),
     "cycle_momentum"),
    (lambda: optim.lr_scheduler.ReduceLROnPlateau(_sgd(), factor=1.0), "factor"),
    (lambda: optim.lr_scheduler.ReduceLROnPlateau(_sgd(), mode="avg"), "mode"),
    (lambda: optim.lr_scheduler.ReduceLROnPlateau(_sgd(), threshold_mode="ratio"), "threshold_mode"),
    (lambda: optim.lr_scheduler.ReduceLROnPlateau(_sgd(2), min_lr=[0.0]), "min_lr"),
], ids=["lambda_count", "onecycle_no_length", "onecycle_epochs_alone", "onecycle_zero_steps",
        "onecycle_fractional_steps", "onecycle_pct_start_int", "onecycle_pct_start_above_1",
        "onecycle_anneal_strategy", "onecycle_max_lr_count", "onecycle_momentum_without_momentum",
        "plateau_factor", "plateau_mode", "plateau_threshold_mode", "plateau_min_lr_count"])
def test_invalid_scheduler_arguments_raise_value_error_naming_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_parameter_in_two_groups_raises():
    p = _param()
    with pytest.raises(ValueError):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_non_grad_tensor_is_rejected():
    with pytest.raises(TypeError):
        optim.SGD([tg.tensor(np.ones(3))], lr=0.1)


# ---- devices ------------------------------------------------------------------------------------
DEVICE_OPTIMIZERS = {
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop_centered_momentum": lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
    "adagrad_lr_decay": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
}


def _train_steps(model: nn.Module, opt: optim.Optimizer, device: str, steps: int = 3) -> None:
    """A real forward/backward on ``device``; any tensor left on another device makes it raise."""
    for _ in range(steps):
        opt.zero_grad()
        x = tg.randn(5, 4, dtype=model.weight.dtype, device=device)
        out = model(x)
        (out * out).mean().backward()
        opt.step()


@pytest.mark.parametrize("name", sorted(DEVICE_OPTIMIZERS))
def test_optimizer_state_lives_on_the_parameters_device(device, name):
    tg.manual_seed(0)
    model = nn.Linear(4, 3).to(device)
    opt = DEVICE_OPTIMIZERS[name](list(model.parameters()))
    before = [p.numpy().copy() for p in model.parameters()]
    _train_steps(model, opt, device)
    for p, old in zip(model.parameters(), before):
        assert p.device == model.weight.device == tg.get_backend(device).device
        assert not np.array_equal(p.numpy(), old)  # it did train
        state = opt.state[p]
        arrays = [v for k, v in state.items() if hasattr(v, "shape") and k != "step"]
        assert arrays, f"{name}: no state arrays for a parameter"
        if "step" in state:  # the step counter: a 0-d array on the device, as PyTorch's tensor
            assert type(state["step"]) is type(p.data) and state["step"].shape == ()
        for value in arrays:
            assert type(value) is type(p.data)
            assert value.shape == p.shape and value.dtype == p.dtype
            if isinstance(value, tg.Tensor):
                assert value.device == p.device

    # zero_grad(set_to_none=False) makes its zeros on the parameters' device too
    opt.zero_grad(set_to_none=False)
    for p in model.parameters():
        assert p.grad.device == p.device and type(p.grad.data) is type(p.data)


@pytest.mark.parametrize("name", sorted(DEVICE_OPTIMIZERS))
def test_state_loaded_from_a_checkpoint_goes_to_the_parameters_device(device, name, tmp_path):
    tg.manual_seed(0)
    model = nn.Linear(4, 3).to(device)
    opt = DEVICE_OPTIMIZERS[name](list(model.parameters()))
    _train_steps(model, opt, device, steps=2)
    checkpoint.save(opt.state_dict(), tmp_path / "opt.npz")

    other = nn.Linear(4, 3).to(device)
    restored = DEVICE_OPTIMIZERS[name](list(other.parameters()))
    restored.load_state_dict(checkpoint.load(tmp_path / "opt.npz"))  # arrays come back as NumPy
    for p in other.parameters():
        for value in restored.state[p].values():
            if hasattr(value, "shape") and value.shape != ():
                assert type(value) is type(p.data) and value.dtype == p.dtype
    _train_steps(other, restored, device, steps=2)
    assert all(p.device == tg.get_backend(device).device for p in other.parameters())


# ---- dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(OPTIMIZER_FACTORIES))
def test_float32_parameters_stay_float32(name):
    tg.manual_seed(1)
    model = nn.Linear(4, 3)
    assert model.weight.dtype == np.float32
    opt = OPTIMIZER_FACTORIES[name](list(model.parameters()))
    scheduler = optim.CosineAnnealingLR(opt, T_max=4, eta_min=1e-4)
    for _ in range(3):
        opt.zero_grad()
        loss = (model(tg.randn(5, 4)) ** 2).mean()
        loss.backward()
        opt.step()
        scheduler.step()
    for p in model.parameters():
        assert p.dtype == np.float32
        for value in opt.state[p].values():
            if hasattr(value, "dtype") and getattr(value, "shape", ()) != ():
                assert value.dtype == np.float32, f"{name}: state promoted to {value.dtype}"


@pytest.mark.parametrize("name", sorted(OPTIMIZER_FACTORIES))
def test_float32_parameters_stay_float32_after_loading_a_checkpoint(name, tmp_path):
    tg.manual_seed(2)
    model = nn.Linear(4, 3)
    opt = OPTIMIZER_FACTORIES[name](list(model.parameters()))
    for _ in range(2):
        opt.zero_grad()
        (model(tg.randn(5, 4)) ** 2).mean().backward()
        opt.step()
    checkpoint.save(opt.state_dict(), tmp_path / "opt.npz")
    restored = OPTIMIZER_FACTORIES[name](list(model.parameters()))
    restored.load_state_dict(checkpoint.load(tmp_path / "opt.npz"))
    for _ in range(2):
        restored.zero_grad()
        (model(tg.randn(5, 4)) ** 2).mean().backward()
        restored.step()
    for p in model.parameters():
        assert p.dtype == np.float32


# ---- schedulers on their own ------------------------------------------------------------------
def test_step_lr_closed_form_and_state_dict():
    opt = optim.SGD([_param()], lr=1.0)
    scheduler = optim.StepLR(opt, step_size=3, gamma=0.1)
    lrs = []
    for _ in range(7):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01], rtol=1e-12)
    other = optim.StepLR(optim.SGD([_param()], lr=1.0), step_size=3, gamma=0.1)
    other.load_state_dict(scheduler.state_dict())
    other.step()
    scheduler.step()
    assert other.get_last_lr() == scheduler.get_last_lr()


def test_cosine_annealing_reaches_eta_min_at_t_max():
    opt = optim.Adam([_param()], lr=0.1)
    scheduler = optim.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    for _ in range(10):
        scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.01, rel=1e-12)


def test_schedulers_live_in_lr_scheduler_and_are_reachable_from_optim_too():
    names = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "OneCycleLR",
             "ReduceLROnPlateau"]
    for name in names:
        assert getattr(optim, name) is getattr(optim.lr_scheduler, name)


def test_one_cycle_lr_raises_when_stepped_past_total_steps():
    """PyTorch allows total_steps steps after the constructor and refuses the next one."""
    scheduler = optim.lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, total_steps=4)
    for _ in range(4):
        scheduler.step()
    with pytest.raises(ValueError, match="tried to step 5 times. The specified number of total steps is 4"):
        scheduler.step()


class Warmup:
    """A callable object as lr_lambda: its attributes are saved with the scheduler, as in PyTorch."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, epoch: int) -> float:
        return min(1.0, (epoch + 1) / self.steps)


def test_lambda_lr_state_dict_saves_callable_objects_attributes_but_no_functions(tmp_path):
    scheduler = optim.lr_scheduler.LambdaLR(_sgd(2), [Warmup(4), lambda epoch: 0.5 ** epoch])
    scheduler.step()
    checkpoint.save(scheduler.state_dict(), tmp_path / "scheduler.npz")
    saved = checkpoint.load(tmp_path / "scheduler.npz")
    assert saved["lr_lambdas"] == [{"steps": 4}, None]

    warmup = Warmup(10)
    restored = optim.lr_scheduler.LambdaLR(_sgd(2), [warmup, lambda epoch: 0.5 ** epoch])
    restored.load_state_dict(saved)
    assert warmup.steps == 4 and restored.last_epoch == 1
    scheduler.step()
    restored.step()
    assert restored.get_last_lr() == scheduler.get_last_lr()


def test_reduce_lr_on_plateau_takes_a_0d_tensor_as_the_metric():
    opt = _sgd()
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    scheduler.step(tg.tensor(1.0))
    scheduler.step(tg.tensor(np.array(2.0)))  # worse: more than patience=0 bad steps
    assert scheduler.best == 1.0
    assert scheduler.get_last_lr() == [0.05]


def test_adagrad_state_starts_when_it_is_built_with_torchs_names():
    """PyTorch fills each parameter's "sum" with initial_accumulator_value and sets "step" to 0 in
    the constructor; a group added later gets its own initial value."""
    p, q = _param(), tg.tensor(np.ones((2, 2)), requires_grad=True)
    opt = optim.Adagrad([p], initial_accumulator_value=0.25)
    opt.add_param_group({"params": [q], "initial_accumulator_value": 0.5})
    for param, value in [(p, 0.25), (q, 0.5)]:
        assert set(opt.state[param]) == {"step", "sum"}
        assert_0d_array(opt.state[param]["step"], "the step count")
        assert opt.state[param]["step"] == 0
        np.testing.assert_array_equal(opt.state[param]["sum"], np.full(param.shape, value))


# ---- compiled steps ------------------------------------------------------------------------------
def _compile_case(device: str, make_optimizer) -> tuple:
    """A Linear model, its optimizer and a training step over it, seeded alike at every call."""
    tg.manual_seed(0)
    model = nn.Linear(4, 3, dtype="float64").to(device)
    opt = make_optimizer(list(model.parameters()))

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


@pytest.mark.parametrize("name", ["adagrad", "adagrad_lr_decay"])
def test_adagrad_in_a_compiled_step_is_bit_for_bit_the_eager_step(device, name):
    """The step count, the sum and the decayed lr all come from arrays the replay updates."""
    inputs = [tg.tensor(np.random.default_rng(k).standard_normal((5, 4)), device=device) for k in range(6)]
    eager_model, eager_opt, eager_step = _compile_case(device, OPTIMIZER_FACTORIES[name])
    model, opt, step = _compile_case(device, OPTIMIZER_FACTORIES[name])
    compiled = tg.compile(step, passes=())
    for x in inputs:
        assert compiled(x).item() == eager_step(x).item()
    # the first call (no .grad yet) and the second (.grad left by the first) are captured; the
    # state exists from the start, so no later call is: they replay the program
    assert compiled.captures == 2
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        assert opt.state[p].keys() == eager_opt.state[q].keys() == {"step", "sum"}
        for key in ("step", "sum"):
            np.testing.assert_array_equal(p.backend.to_numpy(opt.state[p][key]),
                                          q.backend.to_numpy(eager_opt.state[q][key]))


def test_a_compiled_step_follows_the_lr_a_scheduler_sets():
    """The lr is part of a compiled step's signature: a new lr is captured anew, an lr seen
    before is replayed; either way the parameters are the eager step's, bit for bit."""
    inputs = [tg.tensor(np.random.default_rng(k).standard_normal((5, 4))) for k in range(6)]
    runs = {}
    for how in ("eager", "compiled"):
        model, opt, step = _compile_case("cpu", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
        scheduler = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        run = tg.compile(step, passes=()) if how == "compiled" else step
        for x in inputs:
            run(x)
            scheduler.step()
        runs[how] = [p.numpy().copy() for p in model.parameters()]
    assert 1 < run.captures < len(inputs)  # new lrs were captured, and repeated ones replayed
    for compiled, eager in zip(runs["compiled"], runs["eager"]):
        np.testing.assert_array_equal(compiled, eager)
