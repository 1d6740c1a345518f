"""Regenerate ``tests/fixtures/optim_reference.npz``: PyTorch reference trajectories for the optimizers.

Usage (torch is NOT a dependency of the project or its tests; it lives in its own venv)::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tests/make_optim_fixtures.py

What it stores
--------------
For every configuration (a *case*) two float64 parameters, shaped (3, 4) and (4,), start from
values drawn from a NumPy generator seeded per case; six gradients per parameter are drawn from
the same generator. At each step ``p.grad`` is set to the stored gradient, ``opt.step()`` runs,
then ``scheduler.step()`` for the scheduler cases, and the parameters (and the lr of every
group) are recorded. All arrays go into ONE compressed npz, keys prefixed by the case name::

    <case>/config        0-d unicode array holding json.dumps(cfg) (loads without pickle)
    <case>/init/<i>      initial value of parameter i
    <case>/grads/<i>     (STEPS, *shape): the gradient fed to parameter i at each step
    <case>/params/<i>    (STEPS, *shape): parameter i after each step
    <case>/lr            (STEPS, n_groups): every group's lr after each scheduler step
                         (scheduler cases only)

``cfg`` is ``{"optimizer": "SGD", "kwargs": {...}, "groups": null | [{"params": [indices],
...overrides}], "scheduler": null | {"name": "StepLR", "kwargs": {...}}, "hyper": [per group
hyper-parameters torch used, before any scheduler step], "steps": 6, "torch_version": str}``.
The test rebuilds the optimizer as ``getattr(tinygrad_rnn.optim, cfg["optimizer"])`` with the
same kwargs (so defaults are compared too: "hyper" records torch's resolved values).
"""
from __future__ import annotations

import json
import os
import zlib

import numpy as np
import torch

from optim_cases import optimizer_arguments

STEPS = 6
SHAPES = [(3, 4), (4,)]
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim_reference.npz")
HYPER_KEYS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "betas", "eps", "alpha",
              "centered")


def cases() -> dict[str, dict]:
    """name -> cfg (without the recorded "hyper"/"torch_version")."""
    def case(optimizer, kwargs=None, groups=None, scheduler=None):
        return dict(optimizer=optimizer, kwargs=kwargs or {}, groups=groups, scheduler=scheduler)

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
    }


def _hyper(group: dict) -> dict:
    out = {}
    for key in HYPER_KEYS:
        if key in group:
            value = group[key]
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def run_case(name: str, cfg: dict) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inits = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [rng.standard_normal((STEPS, *shape)) for shape in SHAPES]
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inits]

    target, kwargs = optimizer_arguments(cfg, params)
    opt = getattr(torch.optim, cfg["optimizer"])(target, **kwargs)
    hyper = [_hyper(g) for g in opt.param_groups]
    scheduler = None
    if cfg["scheduler"] is not None:
        scheduler = getattr(torch.optim.lr_scheduler, cfg["scheduler"]["name"])(
            opt, **cfg["scheduler"]["kwargs"])

    trajectory = [np.empty((STEPS, *shape)) for shape in SHAPES]
    lrs = np.empty((STEPS, len(opt.param_groups)))
    for step in range(STEPS):
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g[step], dtype=torch.float64)
        opt.step()
        if scheduler is not None:
            scheduler.step()
            lrs[step] = scheduler.get_last_lr()
        for i, p in enumerate(params):
            trajectory[i][step] = p.detach().numpy()

    full_cfg = {**cfg, "hyper": hyper, "steps": STEPS, "torch_version": torch.__version__}
    out = {f"{name}/config": np.array(json.dumps(full_cfg))}
    for i in range(len(SHAPES)):
        out[f"{name}/init/{i}"] = inits[i]
        out[f"{name}/grads/{i}"] = grads[i]
        out[f"{name}/params/{i}"] = trajectory[i]
    if scheduler is not None:
        out[f"{name}/lr"] = lrs
    return out


def main() -> None:
    torch.set_default_dtype(torch.float64)
    arrays: dict[str, np.ndarray] = {}
    for name, cfg in cases().items():
        arrays.update(run_case(name, cfg))
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    np.savez_compressed(OUT_PATH, **arrays)
    print(f"wrote {len(cases())} cases to {OUT_PATH} ({os.path.getsize(OUT_PATH)} bytes)")


if __name__ == "__main__":
    main()
