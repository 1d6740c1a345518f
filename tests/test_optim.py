"""Optimizers and LR schedules: PyTorch parity on stored trajectories, plus state, devices, dtypes;
and PyTorch parity of every optimizer and of gradient clipping on 0-d, 1-d and 2-d parameters.

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

from optim_cases import mixed_rank_loss, optimizer_arguments

FIXTURE = Path(__file__).parent / "fixtures" / "optim_reference.npz"
RTOL, ATOL = 1e-10, 1e-12
N_PARAMS = 2
MIXED_RANK_SHAPES = [(3, 4), (4,), ()]  # the parameters of mixed_rank_loss, in its order
SCALAR = 2  # the index of the 0-d one

EXPECTED_CASES = {
    "sgd_plain", "sgd_momentum", "sgd_momentum_dampening", "sgd_nesterov", "sgd_weight_decay_momentum",
    "adam_default", "adam_betas_eps_wd", "adamw_default", "adamw_wd_lr", "rmsprop_default",
    "rmsprop_momentum", "rmsprop_centered", "rmsprop_centered_momentum_wd", "sgd_two_groups",
    "steplr_sgd", "cosine_adam",
}


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


def build(case: str, params: list) -> tuple[optim.Optimizer, optim.LRScheduler | None]:
    """The case's optimizer (and scheduler) over ``params``, as the generator built it in torch."""
    cfg = config(case)
    target, kwargs = optimizer_arguments(cfg, params)
    opt = getattr(optim, cfg["optimizer"])(target, **kwargs)
    scheduler = None
    if cfg["scheduler"] is not None:
        scheduler = getattr(optim, cfg["scheduler"]["name"])(opt, **cfg["scheduler"]["kwargs"])
    return opt, scheduler


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
        assert cfg["steps"] == 6
        for i in range(N_PARAMS):
            init = REFERENCE[f"{case}/init/{i}"]
            assert init.dtype == np.float64
            assert REFERENCE[f"{case}/grads/{i}"].shape == (6, *init.shape)
            assert REFERENCE[f"{case}/params/{i}"].shape == (6, *init.shape)
        assert (f"{case}/lr" in REFERENCE) == (cfg["scheduler"] is not None)


def test_fixture_has_every_case_again_on_a_0d_a_1d_and_a_2d_parameter():
    assert set(MIXED_RANK_CASES) == EXPECTED_CASES
    for case in MIXED_RANK_CASES:
        key = f"mixed_rank/{case}"
        assert config(key)["steps"] == 6
        for i, shape in enumerate(MIXED_RANK_SHAPES):
            assert REFERENCE[f"{key}/init/{i}"].shape == shape
            assert REFERENCE[f"{key}/grads/{i}"].shape == (6, *shape)
            assert REFERENCE[f"{key}/params/{i}"].shape == (6, *shape)


# ---- PyTorch parity ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_hyper_parameters_and_defaults_match_torch(case):
    opt, _ = build(case, fresh_params(case))
    torch_groups = config(case)["hyper"]
    assert len(opt.param_groups) == len(torch_groups)
    for group, expected in zip(opt.param_groups, torch_groups):
        for key, value in expected.items():
            assert key in group, f"{case}: group has no {key!r}"
            got = list(group[key]) if isinstance(group[key], tuple) else group[key]
            assert got == value, f"{case}: {key} is {got}, torch uses {value}"


@pytest.mark.parametrize("case", CASES)
def test_trajectory_matches_torch(case):
    params = fresh_params(case)
    opt, scheduler = build(case, params)
    steps = config(case)["steps"]
    for step in range(steps):
        feed(case, params, step)
        opt.step()
        if scheduler is not None:
            scheduler.step()
            np.testing.assert_allclose(scheduler.get_last_lr(), REFERENCE[f"{case}/lr"][step],
                                       rtol=RTOL, atol=ATOL, err_msg=f"{case}: lr after step {step + 1}")
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
        if scheduler is not None:
            scheduler.step()
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
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_FACTORIES))
def test_parameters_without_grad_are_skipped(name):
    rng = np.random.default_rng(0)
    with_grad = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    without = tg.tensor(rng.standard_normal(4), requires_grad=True)
    before = without.numpy().copy()
    opt = OPTIMIZER_FACTORIES[name]([with_grad, without])
    for _ in range(3):
        with_grad.grad = tg.tensor(rng.standard_normal((3, 2)))
        opt.step()
    np.testing.assert_array_equal(without.numpy(), before)  # weight decay did not touch it either
    assert without.grad is None
    assert without not in opt.state or not opt.state[without]
    assert with_grad in opt.state


# ---- state_dict / load_state_dict ---------------------------------------------------------
ROUND_TRIP_CASES = ["sgd_momentum", "sgd_nesterov", "sgd_two_groups", "adam_betas_eps_wd", "adamw_wd_lr",
                    "rmsprop_centered_momentum_wd", "steplr_sgd", "cosine_adam"]


def _run(case: str, params: list, opt, scheduler, steps: range) -> None:
    for step in steps:
        feed(case, params, step)
        opt.step()
        if scheduler is not None:
            scheduler.step()


def _copies(params: list) -> list[tg.Tensor]:
    return [tg.tensor(p.numpy().copy(), requires_grad=True) for p in params]


@pytest.mark.parametrize("via", ["deepcopy", "checkpoint_file"])
@pytest.mark.parametrize("case", ROUND_TRIP_CASES)
def test_state_dict_round_trip_continues_identically(case, via, tmp_path):
    params = fresh_params(case)
    opt, scheduler = build(case, params)
    _run(case, params, opt, scheduler, range(3))

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

    _run(case, params, opt, scheduler, range(3, 6))
    _run(case, restored_params, restored, restored_scheduler, range(3, 6))
    for p, q in zip(params, restored_params):
        np.testing.assert_array_equal(q.numpy(), p.numpy())
    for g, h in zip(opt.param_groups, restored.param_groups):
        assert g["lr"] == h["lr"]
    # and both still follow torch
    for i, p in enumerate(restored_params):
        np.testing.assert_allclose(p.numpy(), REFERENCE[f"{case}/params/{i}"][5], rtol=RTOL, atol=ATOL)


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
    lambda: optim.SGD([], lr=0.1),
], ids=["sgd_lr", "sgd_momentum", "sgd_wd", "sgd_nesterov_no_momentum", "sgd_nesterov_dampening",
        "adam_lr", "adam_beta1", "adam_beta2", "adam_eps", "adamw_lr", "adamw_wd", "rmsprop_lr",
        "rmsprop_alpha", "rmsprop_momentum", "rmsprop_eps", "empty"])
def test_invalid_hyper_parameters_raise_value_error(make):
    with pytest.raises(ValueError):
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
