"""Regenerate ``tests/fixtures/optim_reference.npz``: PyTorch reference values for the optimizers
and gradient clipping.

Usage (torch is NOT a dependency of the project or its tests; it lives in its own venv)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/make_optim_fixtures.py

What it stores
--------------
Three sets of reference values, all float64, in ONE compressed npz (loads without pickle).

1. Stored gradients. For every configuration (a *case*) two parameters, shaped (3, 4) and (4,),
start from values drawn from a NumPy generator seeded per case; ``steps`` gradients per
parameter (six, twelve for the schedules that need longer) are drawn from the same generator.
At each step ``p.grad`` is set to the stored gradient, ``opt.step()`` runs, then
``scheduler.step()`` for the scheduler cases (``scheduler.step(metric)`` for
ReduceLROnPlateau, with the case's stored metric of that step), and the parameters (and the lr
of every group) are recorded. Keys are prefixed by the case name::

    <case>/config          0-d unicode array holding json.dumps(cfg)
    <case>/init/<i>        initial value of parameter i
    <case>/grads/<i>       (steps, *shape): the gradient parameter i had at each step
    <case>/params/<i>      (steps, *shape): parameter i after each step
    <case>/lr              (steps, n_groups): every group's lr after each scheduler step
    <case>/start_lr        (n_groups,): every group's lr once the scheduler is built (LambdaLR and
                           OneCycleLR change it already)
    <case>/momentum        (steps, n_groups): every group's momentum (beta1 for Adam) after each
                           scheduler step, where every group has one (OneCycleLR cycles it)
    <case>/start_momentum  (n_groups,): the same once the scheduler is built

The last four exist for scheduler cases only.

2. Mixed ranks, trained by a loss. The same cases again, on three parameters shaped (3, 4),
(4,) and () (a 0-d scalar), whose gradients come from ``backward()`` of
``optim_cases.mixed_rank_loss`` at every step rather than from stored arrays. Keys are the
same under ``mixed_rank/<case>/``, plus the loss's fixed data::

    mixed_rank/<case>/inputs     (4,)
    mixed_rank/<case>/targets    (3,)

With parameter groups (``sgd_two_groups``) the 0-d parameter (index 2) joins the last group.

3. Gradient clipping. Three gradients shaped like the mixed-rank parameters (the 0-d one
large enough that every clip changes it) are clipped by torch::

    clip/grads/<i>               the gradients before clipping
    clip/<name>/config           json.dumps({"function": ..., "kwargs": {...}, "params": ...})
    clip/<name>/grads/<i>        gradient i after clipping
    clip/<name>/total            what clip_grad_norm_ returned (norm cases only)

``"params"`` is a list of gradient indices (a list of tensors is passed) or one index (the
tensor itself is passed).

``cfg`` is ``{"optimizer": "SGD", "kwargs": {...}, "groups": null | [{"params": [indices],
...overrides}], "scheduler": null | {"name": "StepLR", "kwargs": {...}, "metrics": [one per
step] (ReduceLROnPlateau only)}, "hyper": [per group hyper-parameters torch used, before any
scheduler step], "steps": 6, "torch_version": str}``. LambdaLR's ``lr_lambda`` is stored as a
name (or a list of names) of ``optim_cases.LR_LAMBDAS``.
The test rebuilds the optimizer as ``getattr(tinygrad_rnn.optim, cfg["optimizer"])`` with the
same kwargs (so defaults are compared too: "hyper" records torch's resolved values), and the
scheduler as ``getattr(tinygrad_rnn.optim.lr_scheduler, cfg["scheduler"]["name"])``.
"""
from __future__ import annotations

import json
import os
import zlib
from typing import Callable

import numpy as np
import torch

from optim_cases import mixed_rank_loss, optimizer_arguments, scheduler_arguments, scheduler_step_arguments

STEPS = 6
LONG_STEPS = 12  # the schedules that need more steps to show their phases (OneCycleLR, ReduceLROnPlateau)
SHAPES = [(3, 4), (4,)]
MIXED_RANK = "mixed_rank"  # key prefix of the loss-trained matrix, vector and 0-d scalar
MIXED_RANK_SHAPES = [(3, 4), (4,), ()]  # the order of mixed_rank_loss's parameters
SCALAR_INDEX = 2  # the 0-d one
CLIP = "clip"  # key prefix of the gradient-clipping references
SCALAR_GRADIENT = -1.75  # the 0-d gradient to clip: beyond every clip below, so each changes it
CLIP_CASES = {
    "norm_2": dict(function="clip_grad_norm_", kwargs=dict(max_norm=0.5, norm_type=2.0), params=[0, 1, 2]),
    "norm_1": dict(function="clip_grad_norm_", kwargs=dict(max_norm=0.5, norm_type=1.0), params=[0, 1, 2]),
    "norm_inf": dict(function="clip_grad_norm_", kwargs=dict(max_norm=0.5, norm_type=float("inf")),
                     params=[0, 1, 2]),
    "norm_2_scalar_alone": dict(function="clip_grad_norm_", kwargs=dict(max_norm=0.5), params=SCALAR_INDEX),
    "value": dict(function="clip_grad_value_", kwargs=dict(clip_value=0.3), params=[0, 1, 2]),
    "value_scalar_alone": dict(function="clip_grad_value_", kwargs=dict(clip_value=0.3), params=SCALAR_INDEX),
}
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim_reference.npz")
HYPER_KEYS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "betas", "eps", "alpha",
              "centered", "lr_decay", "initial_accumulator_value")

# sets every parameter's .grad for one step: (step, parameters) -> None
GradientSource = Callable[[int, list], None]


def cases() -> dict[str, dict]:
    """name -> cfg (without the recorded "hyper"/"torch_version")."""
    def case(optimizer, kwargs=None, groups=None, scheduler=None, steps=STEPS):
        return dict(optimizer=optimizer, kwargs=kwargs or {}, groups=groups, scheduler=scheduler, steps=steps)

    def schedule(name, metrics=None, **kwargs):
        return {"name": name, "kwargs": kwargs, **({} if metrics is None else {"metrics": metrics})}

    return {
        "sgd_plain": case("SGD", dict(lr=0.1)),
        "sgd_momentum": case("SGD", dict(lr=0.1, momentum=0.9)),
        "sgd_momentum_dampening": case("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1)),
        "sgd_nesterov": case("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        "sgd_weight_decay_momentum": case("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
        "adam_default": case("Adam"),
        "adam_betas_eps_wd": case("Adam", dict(betas=[0.8, 0.99], eps=1e-6, weight_decay=0.05)),
        "adamw_default": case("AdamW"),
        "adamw_wd_lr": case("AdamW", dict(lr=0.01, weight_decay=0.1)),
        "rmsprop_default": case("RMSprop"),
        "rmsprop_momentum": case("RMSprop", dict(momentum=0.9)),
        "rmsprop_centered": case("RMSprop", dict(centered=True)),
        "rmsprop_centered_momentum_wd": case("RMSprop", dict(centered=True, momentum=0.9,
                                                             weight_decay=0.01)),
        "sgd_two_groups": case("SGD", dict(lr=0.1, momentum=0.9),
                               groups=[{"params": [0]}, {"params": [1], "lr": 0.01, "momentum": 0.5}]),
        "steplr_sgd": case("SGD", dict(lr=0.1, momentum=0.9),
                           scheduler={"name": "StepLR", "kwargs": dict(step_size=2, gamma=0.5)}),
        "cosine_adam": case("Adam", dict(lr=0.05),
                            scheduler={"name": "CosineAnnealingLR",
                                       "kwargs": dict(T_max=5, eta_min=0.001)}),
        "adagrad_default": case("Adagrad"),
        "adagrad_lr_decay_wd_initial_accumulator": case("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01,
                                                                        initial_accumulator_value=0.1, eps=1e-6)),
        "adagrad_two_groups": case("Adagrad", dict(lr=0.1),
                                   groups=[{"params": [0]}, {"params": [1], "lr": 0.05, "lr_decay": 0.1}]),
        "exponentiallr_rmsprop": case("RMSprop", dict(lr=0.01), scheduler=schedule("ExponentialLR", gamma=0.7)),
        "lambdalr_adagrad": case("Adagrad", dict(lr=0.1),
                                 scheduler=schedule("LambdaLR", lr_lambda="warmup_then_decay")),
        "lambdalr_sgd_two_groups_one_lambda_each": case(
            "SGD", dict(lr=0.1, momentum=0.9), groups=[{"params": [0]}, {"params": [1], "lr": 0.01}],
            scheduler=schedule("LambdaLR", lr_lambda=["warmup_then_decay", "halve_every_two"])),
        # improvements, a near miss (0.79995 is within the relative threshold of 0.8) and three reductions
        "plateau_min_rel_sgd": case(
            "SGD", dict(lr=0.1, momentum=0.9), steps=LONG_STEPS,
            scheduler=schedule("ReduceLROnPlateau", factor=0.5, patience=1,
                               metrics=[1.0, 0.9, 0.9, 0.95, 0.899, 0.8, 0.79995, 0.85, 0.7, 0.71, 0.72, 0.73])),
        # patience 0 with a cooldown; both groups reach their min_lr, after which reductions change nothing
        "plateau_max_abs_cooldown_min_lrs_adam_two_groups": case(
            "Adam", dict(lr=0.01), groups=[{"params": [0]}, {"params": [1], "lr": 0.003}], steps=LONG_STEPS,
            scheduler=schedule("ReduceLROnPlateau", mode="max", factor=0.3, patience=0, threshold=0.05,
                               threshold_mode="abs", cooldown=2, min_lr=[0.002, 0.0005],
                               metrics=[0.5, 0.52, 0.6, 0.61, 0.5, 0.7, 0.72, 0.73, 0.74, 0.75, 0.9, 0.91])),
        # total_steps steps: the last one is allowed, and goes past the end of the cosine
        "onecycle_sgd_cos": case("SGD", dict(lr=0.1, momentum=0.9), steps=LONG_STEPS,
                                 scheduler=schedule("OneCycleLR", max_lr=0.5, total_steps=LONG_STEPS)),
        "onecycle_adam_linear_three_phase": case(
            "Adam", dict(lr=0.01), steps=LONG_STEPS,
            scheduler=schedule("OneCycleLR", max_lr=0.05, epochs=3, steps_per_epoch=LONG_STEPS // 3,
                               pct_start=0.25, anneal_strategy="linear", three_phase=True, base_momentum=0.8,
                               max_momentum=0.9, div_factor=10.0, final_div_factor=100.0)),
        "onecycle_sgd_two_groups_lists": case(
            "SGD", dict(lr=0.1, momentum=0.9), groups=[{"params": [0]}, {"params": [1], "lr": 0.01}],
            steps=LONG_STEPS,
            scheduler=schedule("OneCycleLR", max_lr=[0.5, 0.05], total_steps=LONG_STEPS, pct_start=0.4,
                               max_momentum=[0.95, 0.9], base_momentum=[0.85, 0.7])),
        "onecycle_adagrad_no_momentum": case(
            "Adagrad", dict(lr=0.1), steps=LONG_STEPS,
            scheduler=schedule("OneCycleLR", max_lr=0.3, total_steps=LONG_STEPS, cycle_momentum=False)),
    }


def _hyper(group: dict) -> dict:
    out = {}
    for key in HYPER_KEYS:
        if key in group:
            value = group[key]
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _momentum(group: dict) -> float | None:
    """The group's momentum: beta1 for Adam's family, None for optimizers without one."""
    return group["betas"][0] if "betas" in group else group.get("momentum")


def _trajectory(key: str, cfg: dict, inits: list[np.ndarray], set_gradients: GradientSource
                ) -> dict[str, np.ndarray]:
    """Run ``cfg``'s optimizer (and scheduler) from ``inits`` for ``cfg["steps"]`` steps, the
    gradients set by ``set_gradients`` before each step; the arrays to store under ``key``."""
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inits]
    target, kwargs = optimizer_arguments(cfg, params)
    opt = getattr(torch.optim, cfg["optimizer"])(target, **kwargs)
    hyper = [_hyper(g) for g in opt.param_groups]
    steps, schedule = cfg["steps"], cfg["scheduler"]
    out = {}
    scheduler = None
    if schedule is not None:
        scheduler = getattr(torch.optim.lr_scheduler, schedule["name"])(opt, **scheduler_arguments(schedule))
        out[f"{key}/start_lr"] = np.array([g["lr"] for g in opt.param_groups])
    with_momentum = scheduler is not None and all(_momentum(g) is not None for g in opt.param_groups)
    if with_momentum:
        out[f"{key}/start_momentum"] = np.array([_momentum(g) for g in opt.param_groups])

    grads = [np.empty((steps, *v.shape)) for v in inits]
    trajectory = [np.empty((steps, *v.shape)) for v in inits]
    lrs = np.empty((steps, len(opt.param_groups)))
    momenta = np.empty((steps, len(opt.param_groups)))
    for step in range(steps):
        set_gradients(step, params)
        for i, p in enumerate(params):
            grads[i][step] = p.grad.numpy()
        opt.step()
        if scheduler is not None:
            scheduler.step(*scheduler_step_arguments(schedule, step))
            lrs[step] = scheduler.get_last_lr()
        if with_momentum:
            momenta[step] = [_momentum(g) for g in opt.param_groups]
        for i, p in enumerate(params):
            trajectory[i][step] = p.detach().numpy()

    full_cfg = {**cfg, "hyper": hyper, "torch_version": torch.__version__}
    out[f"{key}/config"] = np.array(json.dumps(full_cfg))
    for i, init in enumerate(inits):
        out[f"{key}/init/{i}"] = init
        out[f"{key}/grads/{i}"] = grads[i]
        out[f"{key}/params/{i}"] = trajectory[i]
    if scheduler is not None:
        out[f"{key}/lr"] = lrs
    if with_momentum:
        out[f"{key}/momentum"] = momenta
    return out


def run_case(name: str, cfg: dict) -> dict[str, np.ndarray]:
    """The case on a (3, 4) and a (4,) parameter fed gradients drawn in advance."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inits = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [rng.standard_normal((cfg["steps"], *shape)) for shape in SHAPES]

    def feed_stored(step: int, params: list) -> None:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g[step], dtype=torch.float64)

    return _trajectory(name, cfg, inits, feed_stored)


def _with_scalar_in_last_group(cfg: dict) -> dict:
    """``cfg`` for the mixed-rank parameters: the 0-d one must belong to a group too."""
    if cfg["groups"] is None:
        return cfg
    groups = [dict(g) for g in cfg["groups"]]
    groups[-1]["params"] = [*groups[-1]["params"], SCALAR_INDEX]
    return {**cfg, "groups": groups}


def run_mixed_rank_case(name: str, cfg: dict) -> dict[str, np.ndarray]:
    """The case on a (3, 4), a (4,) and a 0-d parameter, with gradients from ``mixed_rank_loss``."""
    key = f"{MIXED_RANK}/{name}"
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    inits = [0.5 * rng.standard_normal(shape) for shape in MIXED_RANK_SHAPES]  # tanh far from flat
    inputs, targets = rng.standard_normal(4), rng.standard_normal(3)

    def differentiate_loss(step: int, params: list) -> None:
        for p in params:
            p.grad = None
        mixed_rank_loss(*params, torch.tensor(inputs), torch.tensor(targets)).backward()

    out = _trajectory(key, _with_scalar_in_last_group(cfg), inits, differentiate_loss)
    out[f"{key}/inputs"] = inputs
    out[f"{key}/targets"] = targets
    return out


def clip_references() -> dict[str, np.ndarray]:
    """Each CLIP_CASES entry applied by torch to fresh copies of the same three gradients."""
    rng = np.random.default_rng(zlib.crc32(CLIP.encode()))
    grads = [2.0 * rng.standard_normal(shape) for shape in MIXED_RANK_SHAPES[:SCALAR_INDEX]]
    grads.append(np.array(SCALAR_GRADIENT))
    out = {f"{CLIP}/grads/{i}": g for i, g in enumerate(grads)}
    for name, case in CLIP_CASES.items():
        params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g, dtype=torch.float64)
        chosen = params[case["params"]] if isinstance(case["params"], int) else \
            [params[i] for i in case["params"]]
        total = getattr(torch.nn.utils, case["function"])(chosen, **case["kwargs"])
        out[f"{CLIP}/{name}/config"] = np.array(json.dumps(case))
        for i, p in enumerate(params):
            out[f"{CLIP}/{name}/grads/{i}"] = p.grad.numpy()
        if total is not None:
            out[f"{CLIP}/{name}/total"] = total.numpy()
    return out


def main() -> None:
    torch.set_default_dtype(torch.float64)
    arrays: dict[str, np.ndarray] = {}
    for name, cfg in cases().items():
        arrays.update(run_case(name, cfg))
    for name, cfg in cases().items():
        arrays.update(run_mixed_rank_case(name, cfg))
    arrays.update(clip_references())
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    np.savez_compressed(OUT_PATH, **arrays)
    print(f"wrote {len(cases())} cases, each also on mixed-rank parameters, and {len(CLIP_CASES)} "
          f"clipping cases to {OUT_PATH} ({os.path.getsize(OUT_PATH)} bytes)")


if __name__ == "__main__":
    main()
