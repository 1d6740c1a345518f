"""How a stored optimizer case becomes constructor arguments, shared by the fixture
generator (torch) and the tests (tinygrad_rnn) so both build exactly the same optimizer."""
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
