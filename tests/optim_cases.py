"""What the fixture generator (torch) and the tests (tinygrad_rnn) must do identically: turn a
stored optimizer case into constructor arguments, and compute the loss that trains the
mixed-rank parameters. Sharing the code means both sides build the same optimizer and
differentiate the same function."""
from __future__ import annotations

from typing import Any


def optimizer_arguments(cfg: dict, params: list) -> tuple[Any, dict]:
    """(params or parameter groups, keyword arguments) for ``cfg["optimizer"]``."""
    kwargs = dict(cfg["kwargs"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])  # JSON stores the tuple as a list
    if cfg["groups"] is None:
        return params, kwargs
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [params[i] for i in g["params"]]}
              for g in cfg["groups"]]
    return groups, kwargs


def mixed_rank_loss(matrix: Any, vector: Any, scalar: Any, inputs: Any, targets: Any) -> Any:
    """sum((tanh(matrix @ (scalar * inputs + vector)) - targets) ** 2) for a (3, 4) matrix, a (4,)
    vector, a 0-d scalar, (4,) inputs and (3,) targets: a scalar loss.

    Every parameter sits inside the tanh, so each one's gradient depends on all three and
    changes at every step. Only operators that torch and tinygrad_rnn tensors share are used,
    so the same code runs on either.
    """
    prediction = (matrix @ (scalar * inputs + vector)).tanh()
    return ((prediction - targets) ** 2).sum()
