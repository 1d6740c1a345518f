"""Regenerate ``tests/fixtures/tensor_api.npz``: PyTorch's results for the tensor API cases of
``tests/tensor_api_cases.py``, for ``tests/test_tensor_api.py`` (which never needs torch).

    python tests/make_tensor_api_fixtures.py       # in an environment with torch

For each case, in float64: ``<case>/in<i>`` the inputs (drawn from a generator seeded per
case), ``<case>/out<k>`` every output, and ``<case>/grad<i>`` for every float input the
gradient of sum_k <w_k, out_k> over the float outputs (weights ``output_weights``); an input
the outputs do not depend on (or an output PyTorch does not differentiate) gets zeros.
"""
from __future__ import annotations

import os
import zlib

import numpy as np
import torch

from tensor_api_cases import CASES, output_weights

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "tensor_api.npz")


def run_case(name: str) -> dict[str, np.ndarray]:
    case = CASES[name]
    inputs = case.inputs(np.random.default_rng(zlib.crc32(name.encode())))
    tensors = [torch.from_numpy(np.array(a)).requires_grad_(a.dtype == np.float64) for a in inputs]
    result = case.call(torch, *tensors)
    outputs = list(result) if isinstance(result, tuple) else [result]
    arrays = {f"{name}/in{i}": a for i, a in enumerate(inputs)}
    arrays.update({f"{name}/out{k}": out.detach().numpy() for k, out in enumerate(outputs)})
    terms = [(out * torch.from_numpy(output_weights(tuple(out.shape), k))).sum()
             for k, out in enumerate(outputs) if out.dtype == torch.float64 and out.requires_grad]
    differentiable = [t for t in tensors if t.requires_grad]
    grads = [None] * len(differentiable)
    if terms:
        grads = torch.autograd.grad(sum(terms), differentiable, allow_unused=True)
    for t, g in zip(differentiable, grads):
        i = next(i for i, u in enumerate(tensors) if u is t)
        arrays[f"{name}/grad{i}"] = np.zeros(tuple(t.shape)) if g is None else g.numpy()
    return arrays


def main() -> None:
    arrays = {"torch_version": np.array(torch.__version__)}
    for name in CASES:
        arrays.update(run_case(name))
    np.savez_compressed(OUT_PATH, **arrays)
    print(f"wrote {len(CASES)} cases ({len(arrays)} arrays) to {OUT_PATH} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
