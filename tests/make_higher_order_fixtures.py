"""Regenerate ``tests/fixtures/higher_order.npz``: PyTorch's second derivatives of small
recurrent models, for ``tests/test_higher_order.py`` (which never needs torch).

    python tests/make_higher_order_fixtures.py       # in an environment with torch

Two cases, in float64, with parameters drawn from a seeded NumPy generator (so nothing
depends on torch's own initialisation):

- ``penalty``: an LSTM (input 3, hidden 4) over x (5, 2, 3), with a Linear head on every
  step; loss = mean((head(out) - y)^2). The gradient penalty is
  gp = sum over parameters of ||d loss / d p||^2, and the fixture stores loss, gp and
  d gp / d p for every parameter (``penalty/grad/<name>``): a second derivative.
- ``hvp``: a GRU (input 3, hidden 4) over x (6, 2, 3), loss = sum(out * w) + sum(h_n^2);
  for a vector v (one array per parameter), the Hessian-vector product
  H v = d/dp (sum_q <d loss / d q, v_q>) is stored per parameter (``hvp/hv/<name>``).
"""
from __future__ import annotations

import os

import numpy as np
import torch

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "higher_order.npz")


def seeded_parameters(module: torch.nn.Module, rng: np.random.Generator) -> dict[str, np.ndarray]:
    values = {}
    with torch.no_grad():
        for name, p in module.named_parameters():
            values[name] = rng.uniform(-0.6, 0.6, size=tuple(p.shape))
            p.copy_(torch.from_numpy(values[name]))
    return values


def penalty_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    lstm, head = torch.nn.LSTM(3, 4).double(), torch.nn.Linear(4, 2).double()
    model = torch.nn.ModuleDict({"lstm": lstm, "head": head})
    params = seeded_parameters(model, rng)
    x, y = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 2))
    out, _ = lstm(torch.from_numpy(x))
    loss = ((head(out) - torch.from_numpy(y)) ** 2).mean()
    named = list(model.named_parameters())
    grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=True)
    penalty = sum((g * g).sum() for g in grads)
    penalty_grads = torch.autograd.grad(penalty, [p for _, p in named])
    arrays = {"penalty/x": x, "penalty/y": y, "penalty/loss": np.array(loss.item()),
              "penalty/gp": np.array(penalty.item())}
    for (name, _), g in zip(named, penalty_grads):
        arrays[f"penalty/param/{name}"] = params[name]
        arrays[f"penalty/grad/{name}"] = g.numpy()
    return arrays


def hvp_case(rng: np.random.Generator) -> dict[str, np.ndarray]:
    gru = torch.nn.GRU(3, 4).double()
    params = seeded_parameters(gru, rng)
    x, w = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, 4))
    out, h_n = gru(torch.from_numpy(x))
    loss = (out * torch.from_numpy(w)).sum() + (h_n ** 2).sum()
    named = list(gru.named_parameters())
    vectors = {name: rng.standard_normal(tuple(p.shape)) for name, p in named}
    grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=True)
    dot = sum((g * torch.from_numpy(vectors[name])).sum() for (name, _), g in zip(named, grads))
    hv = torch.autograd.grad(dot, [p for _, p in named])
    arrays = {"hvp/x": x, "hvp/w": w, "hvp/loss": np.array(loss.item())}
    for (name, _), h in zip(named, hv):
        arrays[f"hvp/param/{name}"] = params[name]
        arrays[f"hvp/v/{name}"] = vectors[name]
        arrays[f"hvp/hv/{name}"] = h.numpy()
    return arrays


def main() -> None:
    rng = np.random.default_rng(2026)
    arrays = {**penalty_case(rng), **hvp_case(rng),
              "torch_version": np.array(torch.__version__)}
    np.savez_compressed(OUT_PATH, **arrays)
    print(f"wrote {len(arrays)} arrays to {OUT_PATH} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
