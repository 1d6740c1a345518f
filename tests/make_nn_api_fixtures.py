"""Regenerate ``tests/fixtures/nn_api.npz``: PyTorch's results for the ``nn`` API cases of
``tests/nn_api_cases.py``, for ``tests/test_nn_api.py`` (which never needs torch).

    python tests/make_nn_api_fixtures.py       # in an environment with torch

For each case of ``CASES``, in float64: ``<case>/in<i>`` the inputs (drawn from a generator
seeded per case), ``<case>/param/<name>`` a module's parameters (drawn from the same
generator), ``<case>/out`` the output, and the gradients of <w, out> (``output_weights``):
``<case>/grad<i>`` for every float input not in ``constants`` and ``<case>/grad/param/<name>``
for every parameter. ``reprs``, ``state_dict_keys`` and ``module_trees`` are JSON strings
(0-d unicode arrays, read without pickle): the repr of every ``REPRS`` module, the
state_dict keys of every ``STATE_DICT_KEYS`` module, and for every ``MODULE_TREES`` module
the names of ``named_modules()`` (with and without ``remove_duplicate``) and the class
names in the order ``apply`` visits them.
"""
from __future__ import annotations

import json
import os
import zlib

import numpy as np
import torch

from nn_api_cases import CASES, MODULE_TREES, REPRS, STATE_DICT_KEYS, output_weights

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "nn_api.npz")


def run_case(name: str) -> dict[str, np.ndarray]:
    case = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = case.inputs(rng)
    tensors = [torch.from_numpy(np.array(a)) for a in inputs]
    for i, t in enumerate(tensors):
        t.requires_grad_(t.dtype == torch.float64 and i not in case.constants)
    arrays = {f"{name}/in{i}": a for i, a in enumerate(inputs)}
    params = []
    if case.module is None:
        out = case.call(torch, *tensors)
    else:
        module = case.module(torch).double()
        with torch.no_grad():
            for pname, p in module.named_parameters():
                arrays[f"{name}/param/{pname}"] = rng.uniform(-1.0, 1.0, tuple(p.shape))
                p.copy_(torch.from_numpy(arrays[f"{name}/param/{pname}"]))
                params.append((pname, p))
        out = case.call(module, *tensors)
    arrays[f"{name}/out"] = out.detach().numpy()
    differentiable = [(f"grad{i}", t) for i, t in enumerate(tensors) if t.requires_grad]
    differentiable += [(f"grad/param/{pname}", p) for pname, p in params]
    if out.dtype == torch.float64 and differentiable:
        scalar = (out * torch.from_numpy(output_weights(tuple(out.shape)))).sum()
        grads = torch.autograd.grad(scalar, [t for _, t in differentiable])
        arrays.update({f"{name}/{key}": g.numpy() for (key, _), g in zip(differentiable, grads)})
    return arrays


def module_trees() -> dict[str, dict]:
    trees = {}
    for name, make in MODULE_TREES.items():
        model, visited = make(torch), []
        model.apply(lambda m: visited.append(type(m).__name__))
        trees[name] = {"named_modules": [n for n, _ in model.named_modules()],
                       "named_modules_with_duplicates": [n for n, _ in model.named_modules(remove_duplicate=False)],
                       "apply_order": visited}
    return trees


def main() -> None:
    arrays = {"torch_version": np.array(torch.__version__)}
    for name in CASES:
        arrays.update(run_case(name))
    arrays["reprs"] = np.array(json.dumps({name: repr(make(torch)) for name, make in REPRS.items()}))
    arrays["state_dict_keys"] = np.array(json.dumps(
        {name: list(make(torch).state_dict()) for name, make in STATE_DICT_KEYS.items()}))
    arrays["module_trees"] = np.array(json.dumps(module_trees()))
    np.savez_compressed(OUT_PATH, **arrays)
    print(f"wrote {len(CASES)} cases ({len(arrays)} arrays) to {OUT_PATH} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
